#!/bin/bash
# A node reachable only through a bastion, for the ProxyJump e2e tests:
#   root ns  10.251.0.1 --veth-- 10.251.0.2  netns vdbast-a  (sshd "bastion" on :22)
#                                10.252.0.1 --veth-- 10.252.0.2  netns vdbast-b  (sshd "target" on :22)
# The root namespace has no route to 10.252.0.0/30 and vdbast-a does not forward, so the target
# answers only connections that come from the bastion (an SSH direct-tcpip channel).
#   bastion.sh up     idempotent; writes $W/bastion/bastion.json for the tests
#   bastion.sh down   stops only the two sshd (by pidfile) and deletes the two netns
# Needs the user and client key of up.sh. Run as root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
B=$W/bastion
NS_A=vdbast-a NS_B=vdbast-b
HOSTS=(bastion target)
bast_addr() { [ "$1" = bastion ] && echo 10.251.0.2 || echo 10.252.0.2; }
bast_ns() { [ "$1" = bastion ] && echo $NS_A || echo $NS_B; }

# run CMD... in NETNS with a private mount namespace whose /sys matches the netns but keeps the
# host's cgroup mounts (plain `ip netns exec` hides them; process workspaces need them)
nsrun() {
  local ns=$1; shift
  unshare -m --propagation slave -- sh -c '
    mkdir -p /run/vdbastcg && mount --rbind /sys/fs/cgroup /run/vdbastcg &&
    exec nsenter --net=/run/netns/'"$ns"' -- sh -c "mount -t sysfs sysfs /sys && mount --rbind /run/vdbastcg /sys/fs/cgroup && exec \"\$@\"" sh "$@"' sh "$@"
}

net_up() {
  ip netns list | grep -qw $NS_A || ip netns add $NS_A
  ip netns list | grep -qw $NS_B || ip netns add $NS_B
  ip -n $NS_A link set lo up; ip -n $NS_B link set lo up
  if ! ip link show vdbast-h >/dev/null 2>&1; then
    ip link add vdbast-h type veth peer name vdbast-ha netns $NS_A
    ip addr add 10.251.0.1/30 dev vdbast-h; ip link set vdbast-h up
    ip -n $NS_A addr add 10.251.0.2/30 dev vdbast-ha; ip -n $NS_A link set vdbast-ha up
  fi
  if ! ip -n $NS_A link show vdbast-ab >/dev/null 2>&1; then
    ip -n $NS_A link add vdbast-ab type veth peer name vdbast-ba netns $NS_B
    ip -n $NS_A addr add 10.252.0.1/30 dev vdbast-ab; ip -n $NS_A link set vdbast-ab up
    ip -n $NS_B addr add 10.252.0.2/30 dev vdbast-ba; ip -n $NS_B link set vdbast-ba up
  fi
  ip netns exec $NS_A sysctl -qw net.ipv4.ip_forward=0   # the bastion is not a router
  # This host's default route may lead to a proxy that accepts any TCP connection: make the
  # target's /30 plainly unreachable from here instead of leaving it to that route.
  ip route show 10.252.0.0/30 | grep -q unreachable || ip route add unreachable 10.252.0.0/30
}

sshd_up() {
  local h=$1 d=$B/$1 i
  mkdir -p "$d"
  [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/ssh_host_ed25519_key" -C "$h-host"
  cp "$W/client_key.pub" "$d/authorized_keys"; chmod 644 "$d/authorized_keys"
  { sshd_common_config "$(bast_addr "$h"):22" "$d/ssh_host_ed25519_key" "$d" "$d/authorized_keys" "$TEST_USER"
    echo 'Subsystem sftp internal-sftp'; } > "$d/sshd_config"
  alive "$d/sshd.pid" sshd && return 0
  mkdir -p /run/sshd
  nsrun "$(bast_ns "$h")" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
  for i in $(seq 50); do alive "$d/sshd.pid" sshd && return 0; sleep 0.05; done
  echo "sshd $h did not start; see $d/sshd.log" >&2; return 1
}

case ${1:-up} in
  up)
    [ "$(id -u)" = 0 ] || { echo "bastion.sh must run as root" >&2; exit 1; }
    [ -f "$W/client_key.pub" ] && id "$TEST_USER" >/dev/null 2>&1 || { echo "run test/infra/up.sh first (user $TEST_USER, $W/client_key)" >&2; exit 1; }
    net_up
    for h in "${HOSTS[@]}"; do sshd_up "$h"; done
    {
      printf '{\n  "bastion": {"address": "10.251.0.2", "port": 22, "hostKeyPub": "%s"},\n' "$(cut -d' ' -f1,2 "$B/bastion/ssh_host_ed25519_key.pub")"
      printf '  "target": {"address": "10.252.0.2", "port": 22, "hostKeyPub": "%s"}\n}\n' "$(cut -d' ' -f1,2 "$B/target/ssh_host_ed25519_key.pub")"
    } > "$B/bastion.json.tmp"
    mv "$B/bastion.json.tmp" "$B/bastion.json"
    ts "bastion up (sshd $(cat "$B/bastion/sshd.pid") in $NS_A, target sshd $(cat "$B/target/sshd.pid") in $NS_B) -> $B/bastion.json" ;;
  down)
    PIDS=()
    for h in "${HOSTS[@]}"; do
      pf=$B/$h/sshd.pid
      if alive "$pf" sshd; then m=$(cat "$pf"); for p in $m $(pgrep -P "$m" || true); do kill "$p" 2>/dev/null && PIDS+=("$p"); done; fi
    done
    [ ${#PIDS[@]} -gt 0 ] && wait_gone "${PIDS[@]}"
    ip link show vdbast-h >/dev/null 2>&1 && ip link del vdbast-h
    ip route show 10.252.0.0/30 | grep -q unreachable && ip route del unreachable 10.252.0.0/30
    for ns in $NS_A $NS_B; do ip netns list | grep -qw $ns && ip netns del $ns; done
    rm -rf "$B"
    ts "bastion down" ;;
  *) echo "usage: bastion.sh up|down" >&2; exit 2 ;;
esac
