#!/bin/bash
# A 3-member etcd cluster on loopback for the etcd store's e2e tests (test/e2e/etcd-store.test.ts).
#   up               install etcd (Debian's etcd-server/etcd-client) when missing, start m1..m3,
#                    wait until every member answers `etcdctl endpoint health`
#   down             stop exactly the members this script started (by pidfile), remove the state
#   start-member N   (re)start member N with its data dir as it was (the failure tests)
#   stop-member N    SIGKILL member N (by its pidfile), as a crash would
# Member N: client 127.0.0.1:2379N, peer 127.0.0.1:2380N, data $W/etcd/mN, pid $W/etcd/mN.pid,
# log $W/etcd/mN.log. $W/etcd/endpoints holds the client endpoints, comma-separated. Idempotent.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
E=$W/etcd
MEMBERS=(1 2 3)
CLUSTER=$(for n in "${MEMBERS[@]}"; do printf 'm%s=http://127.0.0.1:2380%s,' "$n" "$n"; done | sed 's/,$//')
ENDPOINTS=$(for n in "${MEMBERS[@]}"; do printf '127.0.0.1:2379%s,' "$n"; done | sed 's/,$//')

install() {
  command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
  ts "installing etcd-server etcd-client"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
}

member_alive() { alive "$E/m$1.pid" etcd; }

# start_member N: the one command every start of member N uses. A data dir that already holds
# the member (a restart) ignores the --initial-* flags, so the same command serves both.
start_member() {
  local n=$1
  member_alive "$n" && return 0
  mkdir -p "$E/m$n"; chmod 700 "$E/m$n"
  setsid etcd --name "m$n" --data-dir "$E/m$n" \
    --listen-client-urls "http://127.0.0.1:2379$n" --advertise-client-urls "http://127.0.0.1:2379$n" \
    --listen-peer-urls "http://127.0.0.1:2380$n" --initial-advertise-peer-urls "http://127.0.0.1:2380$n" \
    --initial-cluster "$CLUSTER" --initial-cluster-token vendetta-e2e --initial-cluster-state new \
    --heartbeat-interval 100 --election-timeout 1000 \
    --auto-compaction-mode revision --auto-compaction-retention 10000 \
    >>"$E/m$n.log" 2>&1 </dev/null &
  echo $! >"$E/m$n.pid"
}

stop_member() {
  local n=$1 p
  member_alive "$n" || { rm -f "$E/m$n.pid"; return 0; }
  p=$(cat "$E/m$n.pid")
  kill -9 "$p" 2>/dev/null || true
  wait_gone "$p"
  rm -f "$E/m$n.pid"
}

# wait_healthy ENDPOINTS: up to 60 s for every endpoint to pass a health check (a quorum read).
wait_healthy() {
  local i
  for i in $(seq 120); do
    ETCDCTL_API=3 etcdctl --endpoints "$1" --command-timeout 2s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  ETCDCTL_API=3 etcdctl --endpoints "$1" --command-timeout 2s endpoint health >&2 || true
  echo "etcd did not become healthy at $1; logs: $E/m*.log" >&2
  return 1
}

case "${1:-}" in
  up)
    install
    mkdir -p "$E"
    for n in "${MEMBERS[@]}"; do start_member "$n"; done
    wait_healthy "$ENDPOINTS"
    echo "$ENDPOINTS" >"$E/endpoints.tmp"; mv "$E/endpoints.tmp" "$E/endpoints"
    ts "etcd up: $ENDPOINTS (pids $(cat "$E"/m*.pid | tr '\n' ' '))"
    ;;
  down)
    for n in "${MEMBERS[@]}"; do
      if member_alive "$n"; then p=$(cat "$E/m$n.pid"); kill "$p" 2>/dev/null || true; wait_gone "$p"; fi
    done
    rm -rf "$E"
    ts "etcd down"
    ;;
  start-member)
    n=${2:?usage: etcd.sh start-member N}
    start_member "$n"
    wait_healthy "127.0.0.1:2379$n"
    ;;
  stop-member)
    stop_member "${2:?usage: etcd.sh stop-member N}"
    ;;
  *)
    echo "usage: $0 up|down|start-member N|stop-member N" >&2
    exit 2
    ;;
esac
