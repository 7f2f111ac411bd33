#!/bin/bash
# Extra sshd "nodes" for the 10-node benchmark: b1..b7 on 127.0.0.21-27:2222. They reuse node
# n1's sshd settings (user, authorized key, DOCKER_HOST) and so share n1's dockerd: the benchmark
# measures SSH fan-out and Docker API round trips, not dockerd capacity. Needs test/infra/up.sh
# first and root (it starts sshd).
#   bench/infra.sh start   start b1..b7 (idempotent); prints one "name address socket" line each
#   bench/infra.sh stop    stop them by the pids in their pidfiles
set -euo pipefail
W=${VENDETTA_E2E_DIR:-/tmp/vendetta-e2e}
BASE="$W/nodes/n1"
DIR="$W/bench-nodes"
COUNT=7
[ -f "$BASE/sshd_config" ] || { echo "no e2e infra under $W: run sudo bash test/infra/up.sh first" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && grep -q sshd "/proc/$(cat "$1")/cmdline" 2>/dev/null; }

start() {
  mkdir -p "$DIR" /run/sshd
  for i in $(seq 1 $COUNT); do
    local d="$DIR/b$i" addr="127.0.0.2$i"
    mkdir -p "$d"
    [ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" -C "b$i-host"
    # n1's config with this node's listen address, host key and pidfile.
    sed -e "s#^ListenAddress .*#ListenAddress $addr:2222#" -e "s#^HostKey .*#HostKey $d/host_key#" \
      -e "s#^PidFile .*#PidFile $d/sshd.pid#" "$BASE/sshd_config" > "$d/sshd_config"
    pid_alive "$d/sshd.pid" || /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
    for _ in $(seq 50); do pid_alive "$d/sshd.pid" && break; sleep 0.05; done
    pid_alive "$d/sshd.pid" || { echo "sshd b$i did not start; see $d/sshd.log" >&2; exit 1; }
    echo "b$i $addr $BASE/docker.sock"
  done
}

stop() {
  for i in $(seq 1 $COUNT); do
    local pf="$DIR/b$i/sshd.pid"
    if pid_alive "$pf"; then
      local p; p=$(cat "$pf")
      kill "$p" $(pgrep -P "$p" || true) 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$pf"
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: bench/infra.sh start|stop" >&2; exit 2 ;;
esac
