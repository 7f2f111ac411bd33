#!/bin/bash
# Bench nodes b1..bN (N ≤ 10), separate from the e2e nodes n1..n3: each is an sshd on
# 127.0.0.(40+i):2222 with ITS OWN dockerd (bridge vdbb-i, 10.218.i.1/24: 10.217 is the LXD netns, 10.219 the Incus one) and the busybox image
# imported, built with the same functions as the e2e infra (test/infra/lib.sh). They reuse the
# e2e user and client key, so test/infra/up.sh must have run first. Run as root.
#   bench/infra.sh up [N]   start b1..bN (idempotent); writes $B/env.json (same shape as the e2e one)
#   bench/infra.sh down     stop what `up` started, by the pids in its pidfiles; removes $B
#   bench/infra.sh mem      memory of the bench daemons and of the containers' shims, in MiB
# State in $VENDETTA_BENCH_DIR (default /tmp/vendetta-bench).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../test/infra/lib.sh"
E2E=$W                              # the e2e infra: user, client key, busybox rootfs
B=${VENDETTA_BENCH_DIR:-/tmp/vendetta-bench}
MAX=10
# lib.sh's helpers name everything through these four: point them at the bench nodes.
W=$B
node_index() { echo "${1#b}"; }
node_addr() { echo "127.0.0.$((40 + $(node_index "$1")))"; }
node_dir() { echo "$B/nodes/$1"; }
node_bridge() { echo "vdbb-$(node_index "$1")"; }

node_up() {
  local n=$1 d br; d=$(node_dir "$n"); br=$(node_bridge "$n")
  mkdir -p "$d/dd"
  [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/ssh_host_ed25519_key" -C "$n-host"
  cp "$E2E/client_key.pub" "$d/authorized_keys"; chmod 644 "$d/authorized_keys"
  write_sshd_config "$n" "$d/ssh_host_ed25519_key" "$d/sshd_config"
  start_sshd "$n" "$d/sshd_config"
  # never shadow a route someone else owns (the LXD netns has 10.217.1.0/24)
  ip link show "$br" >/dev/null 2>&1 || [ -z "$(ip route show "10.218.$(node_index "$n").0/24")" ] ||
    { echo "10.218.$(node_index "$n").0/24 is routed already: not adding bridge $br" >&2; return 1; }
  ip link show "$br" >/dev/null 2>&1 || {
    ip link add "$br" type bridge; ip addr add "10.218.$(node_index "$n").1/24" dev "$br"; ip link set "$br" up; }
  start_dockerd "$n"
  docker -H "unix://$d/docker.sock" image inspect "$IMAGE" >/dev/null 2>&1 ||
    docker -H "unix://$d/docker.sock" import "$E2E/busybox-rootfs.tar" "$IMAGE" >/dev/null
  # process workspaces of the bench live here, apart from the e2e suites' ones
  mkdir -p "$d/proc"; chown "$TEST_USER" "$d/proc"
  ts "node $n up at $(node_addr "$n") (sshd $(cat "$d/sshd.pid"), dockerd $(cat "$d/dd/docker.pid"))"
}

up() {
  local count=${1:-$MAX} i pids=() fail=0
  [ "$count" -ge 1 ] && [ "$count" -le $MAX ] || { echo "bench/infra.sh up: 1..$MAX nodes, got $count" >&2; exit 2; }
  [ -f "$E2E/client_key" ] && [ -f "$E2E/busybox-rootfs.tar" ] && id "$TEST_USER" >/dev/null 2>&1 ||
    { echo "no e2e infra under $E2E: run sudo bash test/infra/up.sh first" >&2; exit 1; }
  mkdir -p "$B/nodes"
  # 1,000 containers hold ~25,000 threads (shims, docker-proxies, their processes): more than the
  # kernel's default pid_max (32,768) leaves once a bench leftover or two are around. Raised, never
  # lowered; the next boot resets it.
  if [ "$(cat /proc/sys/kernel/pid_max)" -lt 4194304 ]; then
    ts "raising kernel.pid_max from $(cat /proc/sys/kernel/pid_max) to 4194304 (docker at 10 x 100)"
    echo 4194304 > /proc/sys/kernel/pid_max
  fi
  # two dockerds starting at a time: 2 cores, and each one's start is mostly CPU
  for i in $(seq 1 "$count"); do
    node_up "b$i" & pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  [ $fail = 0 ] || { echo "some bench nodes failed to start" >&2; exit 1; }
  {
    printf '{\n  "dir": "%s",\n  "clientKey": "%s",\n  "user": "%s",\n  "image": "%s",\n  "nodes": [' "$B" "$E2E/client_key" "$TEST_USER" "$IMAGE"
    local sep='' d
    for d in "$B"/nodes/b*/; do
      n=$(basename "$d")
      alive "$d/sshd.pid" sshd && alive "$d/dd/docker.pid" dockerd || continue
      printf '%s\n    {"name": "%s", "address": "%s", "port": %s, "dockerSocket": "%s", "processRoot": "%s", "hostKeyPub": "%s"}' \
        "$sep" "$n" "$(node_addr "$n")" "$SSH_PORT" "${d}docker.sock" "${d}proc" "$(cut -d' ' -f1,2 "${d}ssh_host_ed25519_key.pub")"
      sep=','
    done
    printf '\n  ]\n}\n'
  } > "$B/env.json.tmp"
  mv "$B/env.json.tmp" "$B/env.json"
}

down() {
  [ -d "$B/nodes" ] || { stop_shims "$B/nodes"; rm -rf "$B"; return 0; }
  local d n p pids=()
  for d in "$B"/nodes/b*/; do
    n=$(basename "$d")
    for p in $(sshd_pids "$n"); do kill "$p" 2>/dev/null && pids+=("$p"); done
    # dockerd stops its containers (--shutdown-timeout 2) and its containerd
    if alive "$d/dd/docker.pid" dockerd; then p=$(cat "$d/dd/docker.pid"); kill "$p" && pids+=("$p"); fi
  done
  [ ${#pids[@]} -gt 0 ] && wait_gone "${pids[@]}"
  # process workspaces' services (their supervisors and httpds) run as the test user with a cwd
  # under $B: stop exactly those, by pid
  pids=()
  for p in $(pgrep -u "$TEST_USER" || true); do
    case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$B"/*) kill "$p" 2>/dev/null && pids+=("$p") ;; esac
  done
  [ ${#pids[@]} -gt 0 ] && wait_gone "${pids[@]}"
  # 1,000 containers removed at once can leave shims (with their containers' processes) that
  # dockerd no longer lists: stopped by pid, like test/infra/down.sh does
  stop_shims "$B/nodes"
  { grep -o " $B/nodes/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r -n1 umount -l
  for d in "$B"/nodes/b*/; do
    br=$(node_bridge "$(basename "$d")")
    ip link show "$br" >/dev/null 2>&1 && ip link del "$br"
  done
  rm -rf "$B"
  ts "bench nodes down"
}

# mem: memory (MiB, proportional set size) of the bench's dockerds + containerds, and of every containerd shim,
# docker-proxy and process under them; with the number of running containers
mem() {
  local d total=0 shims=0 ctrs=0 rss
  # proportional set size: shared pages (the shim binary, libraries) counted once across processes
  rss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
  for d in "$B"/nodes/b*/; do
    alive "$d/dd/docker.pid" dockerd || continue
    total=$((total + $(rss_kb "$(cat "$d/dd/docker.pid")")))
    [ -f "$d/dd/exec/containerd/containerd.pid" ] && total=$((total + $(rss_kb "$(cat "$d/dd/exec/containerd/containerd.pid")")))
    ctrs=$((ctrs + $(docker -H "unix://${d}docker.sock" ps -q | wc -l)))
  done
  for p in $(pgrep containerd-shim || true) $(pgrep docker-proxy || true); do
    # a shim names its containerd's socket (under $B); a proxy its host address (127.0.0.41-50)
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -Eq -- "$B/|-host-ip 127\.0\.0\.(4[1-9]|50) " || continue
    shims=$((shims + $(rss_kb "$p")))
  done
  echo "{\"daemonsMiB\": $((total / 1024)), \"shimsAndProxiesMiB\": $((shims / 1024)), \"containers\": $ctrs, \"memAvailableMiB\": $(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024))}"
}

case ${1:-} in
  up) up "${2:-$MAX}" ;;
  down) down ;;
  mem) mem ;;
  *) echo "usage: bench/infra.sh up [N] | down | mem" >&2; exit 2 ;;
esac
