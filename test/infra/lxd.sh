#!/bin/bash
# LXD for the e2e suite: `lxd.sh up` | `lxd.sh down`. Run as root (called by up.sh / down.sh).
#
# The daemon runs inside its own network namespace (vdlxd) so it cannot reach image servers or
# touch the host's network: a veth 10.217.0.1 (host) <-> 10.217.0.2 (netns), and inside the netns an
# LXD bridge vdlxdbr0 10.217.1.1/24 (DHCP by dnsmasq, no NAT, no firewall rules) that every
# container joins. The host routes only 10.217.1.0/24 into the netns, so a node (sshd on the host)
# reaches containers and proxy-device ports by IP. All state under $W/lxd; stopped by pid.
# Writes $W/lxd.json: {socket, image, flavor, listenAddress, nodes} for the tests.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
L=$W/lxd
DATA=$L/data
NS=vdlxd
HOST_VETH=vdlxh
NS_VETH=vdlxn
LXD_IMAGE=vendetta-busybox
CGROUP_BIND=/run/vdlxd-cgroup
export LXD_DIR=$DATA

# Run a command in the netns with /sys matching it but the host cgroup mounts kept visible
# (`ip netns exec` remounts /sys and hides cgroups, which breaks LXD). Same pid as the command.
nsrun() {
  exec unshare -m --propagation slave -- sh -c '
    mkdir -p '"$CGROUP_BIND"' && mount --rbind /sys/fs/cgroup '"$CGROUP_BIND"' &&
    exec nsenter --net=/run/netns/'"$NS"' -- sh -c "mount -t sysfs sysfs /sys && mount --rbind '"$CGROUP_BIND"' /sys/fs/cgroup && exec \"\$@\"" sh "$@"' sh "$@"
}

make_netns() {
  ip netns list | grep -qw "$NS" && return 0
  ip netns add "$NS"
  ip link add "$HOST_VETH" type veth peer name "$NS_VETH"
  ip link set "$NS_VETH" netns "$NS"
  ip addr add 10.217.0.1/30 dev "$HOST_VETH"; ip link set "$HOST_VETH" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add 10.217.0.2/30 dev "$NS_VETH"; ip -n "$NS" link set "$NS_VETH" up
  # No default route: the netns reaches only the host's end of the veth, so LXD's attempts to reach
  # image servers fail at once instead of sending packets anywhere.
  ip route add 10.217.1.0/24 via 10.217.0.2 dev "$HOST_VETH"
}

# A split image (metadata + rootfs) from the suite's busybox rootfs. init runs a DHCP client once
# so the container gets its bridge address (udhcpc needs a script to apply the lease).
build_image() {
  local d=$L/img
  rm -rf "$d"; mkdir -p "$d/meta" "$d/rootfs"
  tar -C "$d/rootfs" -xf "$W/busybox-rootfs.tar"
  ln -sf /bin/busybox "$d/rootfs/sbin/init"
  mkdir -p "$d/rootfs/etc/udhcpc"
  cat > "$d/rootfs/etc/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
SCRIPT
  chmod 755 "$d/rootfs/etc/udhcpc/default.script"
  # busybox init: SIGUSR2 powers off; LXD sends SIGPWR for a clean stop (see raw.lxc in the profile)
  printf '%s\n' '::sysinit:/bin/sh -c "ip link set lo up; ip link set eth0 up; udhcpc -i eth0 -s /etc/udhcpc/default.script -b -q -t 20 -T 1 >/dev/null 2>&1"' \
    '::respawn:/bin/sleep 3600' > "$d/rootfs/etc/inittab"
  printf 'architecture: x86_64\ncreation_date: %s\nproperties:\n  description: vendetta e2e busybox\n  os: busybox\n  release: "1"\n' "$(date +%s)" > "$d/meta/metadata.yaml"
  tar -C "$d/meta" -cJf "$d/meta.tar.xz" metadata.yaml
  tar -C "$d/rootfs" -czf "$d/rootfs.tar.gz" .
}

up() {
  [ "$(id -u)" = 0 ] || { echo "test/infra/lxd.sh must run as root" >&2; exit 1; }
  [ -f "$W/busybox-rootfs.tar" ] || { echo "$W/busybox-rootfs.tar is missing: run test/infra/up.sh" >&2; exit 1; }
  local missing=() p
  for p in lxd dnsmasq-base; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    ts "lxd: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
  getent group lxd >/dev/null || groupadd --system lxd
  id -nG "$TEST_USER" | grep -qw lxd || usermod -aG lxd "$TEST_USER"   # new SSH sessions get the group
  mkdir -p "$DATA"; chmod 755 "$L"
  make_netns
  if ! alive "$L/lxd.pid" lxd; then
    ts "lxd: starting daemon in netns $NS"
    nohup bash -c "$(declare -f nsrun); CGROUP_BIND=$CGROUP_BIND NS=$NS; nsrun env LXD_DIR=$DATA lxd --group lxd --logfile $L/lxd.log" \
      > "$L/lxd.out" 2>&1 &
    # nsrun execs all the way down: the pid of the bash above becomes lxd's
    echo $! > "$L/lxd.pid"
  fi
  timeout 30 lxd waitready || { echo "lxd did not start; see $L/lxd.log and $L/lxd.out" >&2; exit 1; }
  chmod 711 "$DATA"   # vdtest must traverse to unix.socket (group lxd, 0660)
  if ! lxc network show vdlxdbr0 >/dev/null 2>&1; then
    ts "lxd: preseed (dir pool, bridge vdlxdbr0)"
    lxd init --preseed <<'YAML'
config:
  images.auto_update_interval: "0"
networks:
- name: vdlxdbr0
  type: bridge
  config:
    ipv4.address: 10.217.1.1/24
    ipv4.nat: "false"
    ipv4.firewall: "false"
    ipv6.address: none
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  config:
    raw.lxc: lxc.signal.halt=SIGUSR2
  devices:
    root: {path: /, pool: default, type: disk}
    eth0: {name: eth0, network: vdlxdbr0, type: nic}
YAML
  fi
  if ! lxc image info "$LXD_IMAGE" >/dev/null 2>&1; then
    ts "lxd: importing image $LXD_IMAGE"
    build_image
    lxc image import "$L/img/meta.tar.xz" "$L/img/rootfs.tar.gz" --alias "$LXD_IMAGE" >/dev/null
    rm -rf "$L/img"
  fi
  # a second alias of the same image: changing spec.image must recreate the workspace
  lxc image info "$LXD_IMAGE-v2" >/dev/null 2>&1 ||
    lxc image alias create "$LXD_IMAGE-v2" "$(lxc image info "$LXD_IMAGE" | awk '/^Fingerprint:/{print $2}')"
  cat > "$W/lxd.json.tmp" <<JSON
{
  "flavor": "lxd",
  "version": "$(lxd --version)",
  "socket": "$DATA/unix.socket",
  "image": "$LXD_IMAGE",
  "image2": "$LXD_IMAGE-v2",
  "listenAddress": "10.217.0.2",
  "containerSubnet": "10.217.1.0/24",
  "nodes": ["n1"]
}
JSON
  mv "$W/lxd.json.tmp" "$W/lxd.json"
  # LXD's dnsmasq outlives an LXD that crashed: keep its pid so `down` can stop it anyway.
  pgrep -P "$(cat "$L/lxd.pid")" dnsmasq > "$L/dnsmasq.pid" || true
  ts "lxd: up (pid $(cat "$L/lxd.pid"), socket $DATA/unix.socket)"
}

down() {
  if alive "$L/lxd.pid" lxd; then
    local pid children; pid=$(cat "$L/lxd.pid")
    ts "lxd: deleting instances"
    lxc list -c n --format csv 2>/dev/null </dev/null | xargs -r -n1 lxc delete -f
    # dnsmasq (and any forkproxy left) are lxd's children: remember them before it goes
    children=$(pgrep -P "$pid" || true)
    lxc network delete vdlxdbr0 >/dev/null 2>&1 </dev/null || true   # stops its dnsmasq
    ts "lxd: shutdown"
    timeout 30 lxd shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
    for p in $children; do running "$p" && kill "$p" 2>/dev/null; done
    wait_gone $children
  fi
  for p in $(cat "$L/dnsmasq.pid" 2>/dev/null); do alive_pid_named "$p" dnsmasq && kill "$p" && wait_gone "$p"; done
  rm -f "$L/lxd.pid" "$L/dnsmasq.pid" "$W/lxd.json"
  if ip netns list | grep -qw "$NS"; then ts "lxd: deleting netns $NS"; ip netns del "$NS"; fi   # the veth pair goes with it
  ip route del 10.217.1.0/24 2>/dev/null || true
  ip link del "$HOST_VETH" 2>/dev/null || true
  { grep -o " $L/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r -n1 umount -l   # leftovers, normally none
  rm -rf "$L"
}

T0=$(date +%s%N)
case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
ts "lxd.sh $1 took $(( ($(date +%s%N) - T0) / 1000000 )) ms"
