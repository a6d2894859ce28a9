#!/usr/bin/env bash
# Stops the cluster that scripts/ceph/start.sh started in CEPH_DIR (default /tmp/ferry-ceph),
# by the PIDs in $CEPH_DIR/run, in order: gateways, then the OSD, then the monitor (a gateway
# whose OSD is gone hangs on exit; an OSD whose monitor is gone waits 5 s). Each gets SIGTERM,
# then SIGKILL after 10 s. About 1 s in all. Then removes CEPH_DIR.
#   FAST=1  SIGKILL at once (the data is thrown away anyway)
#   KEEP=1  keep CEPH_DIR (its log/ folder) for a post-mortem
set -uo pipefail
DIR=${CEPH_DIR:-/tmp/ferry-ceph}
SIGNAL=TERM
[ "${FAST:-0}" = 1 ] && SIGNAL=KILL

# A daemon that has exited may stay a zombie for a while (until PID 1 reaps it): count it as gone.
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

# stop_daemons NAME...: signal each daemon of this cluster, wait for all of them, SIGKILL stragglers.
stop_daemons() {
  local name pid pids=() i left
  for name in "$@"; do
    pid=$(cat "$DIR/run/$name.pid" 2>/dev/null) || continue
    # only a process started with this cluster's config (a stale pid file may name another)
    grep -qF "$DIR/ceph.conf" "/proc/$pid/cmdline" 2>/dev/null || continue
    kill "-$SIGNAL" "$pid" 2>/dev/null && pids+=("$pid")
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  for ((i = 0; i < 100; i++)); do
    left=0
    for pid in "${pids[@]}"; do running "$pid" && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if running "$pid"; then
      echo "ceph: pid $pid still running 10 s after SIGTERM: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
}

if [ -d "$DIR/run" ]; then
  gateways=()
  for f in "$DIR"/run/client.rgw.*.pid; do
    [ -e "$f" ] && gateways+=("$(basename "$f" .pid)")
  done
  [ ${#gateways[@]} -gt 0 ] && stop_daemons "${gateways[@]}"
  stop_daemons osd.0
  stop_daemons mon.a
fi
if [ "${KEEP:-0}" = 1 ]; then
  echo "ceph: stopped; logs kept in $DIR/log" >&2
else
  rm -rf "$DIR"
fi
