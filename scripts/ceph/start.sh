#!/usr/bin/env bash
# Starts a throw-away one-node Ceph cluster (1 monitor, 1 OSD, no manager) with a RADOS Gateway
# serving S3 on 127.0.0.1, for ferry's S3 tests. Ready in about 2 s once the packages are
# installed (scripts/ceph/install.sh). Stop it with scripts/ceph/stop.sh and the same CEPH_DIR.
#
# Environment (all optional):
#   CEPH_DIR      state dir, wiped first; must be private to this cluster  (/tmp/ferry-ceph)
#   RGW_PORT      S3 port of the first gateway                             (7480)
#   RGW_COUNT     gateways on RGW_PORT, RGW_PORT+1, ... over one store     (1)
#   MON_PORT      monitor port (messenger v2)                              (3300)
#   OBJECTSTORE   memstore (data in RAM) | bluestore (a sparse file)       (memstore)
#                 memstore suits tests; for GiB-sized data use bluestore: memstore keeps every
#                 byte in the OSD's RAM, deleted ones too until garbage collection runs
#   S3_ACCESS_KEY, S3_SECRET_KEY   keys of the S3 user to create           (test keys)
# Two clusters side by side need distinct CEPH_DIR, MON_PORT and RGW_PORT.
#
# Prints, and writes to $CEPH_DIR/env for `set -a; . "$CEPH_DIR/env"; set +a`:
#   FERRY_TEST_S3_ENDPOINT, FERRY_TEST_S3_ENDPOINTS, FERRY_TEST_S3_ACCESS_KEY,
#   FERRY_TEST_S3_SECRET_KEY, FERRY_TEST_S3_REGION
# Progress goes to stderr.
set -euo pipefail

DIR=${CEPH_DIR:-/tmp/ferry-ceph}
RGW_PORT=${RGW_PORT:-7480}
RGW_COUNT=${RGW_COUNT:-1}
MON_PORT=${MON_PORT:-3300}
OBJECTSTORE=${OBJECTSTORE:-memstore}
ACCESS=${S3_ACCESS_KEY:-ferrytestaccesskey}
SECRET=${S3_SECRET_KEY:-ferrytestsecretkey0123456789}
HERE=$(cd "$(dirname "$0")" && pwd)
START_US=${EPOCHREALTIME/./}

say() {
  local us=$((${EPOCHREALTIME/./} - START_US))
  printf 'ceph [%d.%02d s] %s\n' $((us / 1000000)) $((us % 1000000 / 10000)) "$*" >&2
}
# retry WHAT CMD...: runs CMD every 0.1 s until it succeeds, for at most 60 s
retry() {
  local what=$1 i
  shift
  for ((i = 0; i < 600; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "ceph: timed out waiting for $what (logs in $DIR/log)" >&2
  return 1
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case $OBJECTSTORE in
  memstore | bluestore) ;;
  *) echo "ceph: OBJECTSTORE must be memstore or bluestore" >&2; exit 2 ;;
esac
for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl; do
  command -v "$b" >/dev/null || { echo "ceph: $b not found; run scripts/ceph/install.sh" >&2; exit 1; }
done
case $DIR in /*) ;; *) echo "ceph: CEPH_DIR must be an absolute path" >&2; exit 2 ;; esac

# A cluster left running in this dir by an earlier start: stop it first.
[ -d "$DIR/run" ] && "$HERE/stop.sh" >/dev/null 2>&1 || true

# If a port is taken, the readiness probe below could be answered by someone else.
RGW_PORTS=$(seq "$RGW_PORT" $((RGW_PORT + RGW_COUNT - 1)))
for port in "$MON_PORT" $RGW_PORTS; do
  if port_in_use "$port"; then
    echo "ceph: port $port is in use; set MON_PORT / RGW_PORT (and CEPH_DIR) for a second cluster" >&2
    exit 1
  fi
done

trap 'echo "ceph: start failed at line $LINENO; logs kept in $DIR/log" >&2; KEEP=1 "$HERE/stop.sh"' ERR
rm -rf "$DIR"
mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon" "$DIR/osd"
CONF=$DIR/ceph.conf
FSID=$(cat /proc/sys/kernel/random/uuid)

cat >"$CONF" <<CONF
# written by scripts/ceph/start.sh: a throw-away test cluster, not for real data
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# With auth "none" a daemon that asks the monitor for a secure session never gets one:
# radosgw would retry forever ("get_initial_auth_request returned -13"). crc is enough here.
ms mon client mode = crc
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
crash dir = $DIR/log
# One OSD: a single replica, and few placement groups per pool (rgw makes 7+ pools).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
# The monitor batches map changes for up to 1 s by default; rgw creates its pools one by one,
# which then takes ~15 s. 0.05 s brings the start down to ~2 s.
paxos propose interval = 0.05
# The monitor stops itself when its disk is less than 5 % free; test machines can be that full.
mon data avail crit = 0
mon data avail warn = 1

[mon.a]
mon data = $DIR/mon

[osd.0]
osd data = $DIR/osd
osd objectstore = $OBJECTSTORE
memstore device bytes = 8589934592
# bluestore makes a sparse 10 GiB file osd/block by itself ("bluestore block path" pointing at
# that same file would make a symlink to itself). It opens and closes that file ~15 times at
# mkfs and start, each close waiting one poll of the aio thread (250 ms by default).
bluestore block create = true
bluestore block size = 10737418240
bdev aio poll ms = 10
bluestore fsck on mkfs = false
osd memory target = 1073741824

[client]
rgw dns name = 127.0.0.1
# Deleted data waits 2 h for garbage collection by default (with memstore: in RAM).
rgw gc obj min wait = 10
rgw gc processor period = 10
CONF
C=(-c "$CONF")

say "monitor: mkfs, start on 127.0.0.1:$MON_PORT"
monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon "${C[@]}" -i a --mkfs --monmap "$DIR/monmap"
ceph-mon "${C[@]}" -i a
ceph "${C[@]}" --connect-timeout 30 mon stat >/dev/null

say "osd: create, mkfs ($OBJECTSTORE), start"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph "${C[@]}" osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || { echo "ceph: expected osd id 0, got $OSD_ID" >&2; false; }
ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" 2>>"$DIR/log/osd-mkfs.log"
ceph-osd "${C[@]}" -i 0 2>>"$DIR/log/osd-start.log"
retry "osd.0 up" bash -c "ceph -c '$CONF' osd dump | grep -q '^osd.0 up'"

say "s3 user: create (this also creates the default zone and its pools)"
radosgw-admin "${C[@]}" user create --uid=ferry --display-name=ferry \
  --access-key="$ACCESS" --secret-key="$SECRET" >"$DIR/user.json" 2>>"$DIR/log/radosgw-admin.log"

ENDPOINTS=()
for port in $RGW_PORTS; do
  say "radosgw: start on 127.0.0.1:$port"
  # tcp_nodelay=1: otherwise every reply with a body waits ~40 ms (Nagle + delayed ACK).
  radosgw "${C[@]}" -n "client.rgw.$port" \
    --rgw-frontends="beast endpoint=127.0.0.1:$port tcp_nodelay=1"
  ENDPOINTS+=("http://127.0.0.1:$port")
done
# An anonymous GET / on a gateway that is up answers with an (empty) bucket list.
for e in "${ENDPOINTS[@]}"; do
  retry "radosgw at $e" bash -c "curl -sf '$e/' | grep -q ListAllMyBucketsResult"
done
say "ready: ${ENDPOINTS[*]}"

cat >"$DIR/env" <<ENV
FERRY_TEST_S3_ENDPOINT=${ENDPOINTS[0]}
FERRY_TEST_S3_ENDPOINTS="${ENDPOINTS[*]}"
FERRY_TEST_S3_ACCESS_KEY=$ACCESS
FERRY_TEST_S3_SECRET_KEY=$SECRET
FERRY_TEST_S3_REGION=us-east-1
ENV
cat "$DIR/env"
