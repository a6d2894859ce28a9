#!/usr/bin/env bash
# Runs a command with a throw-away Ceph S3 store: starts it (scripts/ceph/start.sh), exports
# FERRY_TEST_S3_* for the command, and stops the store when the command ends, however it ends.
# The exit status is the command's. For CI:
#
#   scripts/ceph/install.sh && scripts/ceph/run.sh deno task test
#
# Takes the same environment as start.sh (CEPH_DIR, RGW_PORT, MON_PORT, ...).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
export CEPH_DIR=${CEPH_DIR:-/tmp/ferry-ceph}

trap '"$HERE/stop.sh"' EXIT
"$HERE/start.sh" >/dev/null
set -a
# shellcheck source=/dev/null
. "$CEPH_DIR/env"
set +a
"$@"
