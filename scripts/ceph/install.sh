#!/usr/bin/env bash
# Installs the Debian packages that scripts/ceph/start.sh needs (Ceph 16 on Debian 12):
# ceph-mon, ceph-osd, radosgw, ceph-common. Does nothing when they are already there.
# Needs root (or sudo) and apt-get; about 15 s and 67 MB of downloads on a bare machine.
#
#   scripts/ceph/install.sh
set -euo pipefail

PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
NEEDED=(ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl)

missing=()
for b in "${NEEDED[@]}"; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ceph: already installed ($(ceph --version 2>/dev/null | awk '{print $3}'))" >&2
  exit 0
fi
command -v curl >/dev/null || PACKAGES+=(curl)

SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "ceph: need root or sudo to install ${PACKAGES[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
command -v apt-get >/dev/null || {
  echo "ceph: apt-get not found; install ${PACKAGES[*]} with your package manager" >&2
  exit 1
}

echo "ceph: missing ${missing[*]}; running apt-get update" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
echo "ceph: installing ${PACKAGES[*]} (--no-install-recommends)" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${PACKAGES[@]}" >/dev/null
echo "ceph: installed $(ceph --version | awk '{print $3}')" >&2
