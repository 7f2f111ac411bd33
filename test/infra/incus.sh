#!/bin/bash
# Incus for the e2e suite, beside LXD: `incus.sh backports` | `install` | `up` | `down`. Run as root (up.sh / down.sh).
#
# The same shape as lxd.sh, on its own addresses so both daemons run at once: netns vdincus, a veth
# 10.219.0.1 (host) <-> 10.219.0.2 (netns), and inside the netns an Incus bridge vdincbr0
# 10.219.1.1/24 (DHCP, no NAT, no firewall) that every container joins; the host routes only
# 10.219.1.0/24 into the netns (10.217 is LXD's, 10.218.N the bench nodes' bridges). Incus 6.0 comes from bookworm-backports, container-only
# (incus-base + incus-client: the full `incus` package would upgrade qemu to 10.0 for VMs, which the
# QEMU suite does not want). Started without systemd, stopped by pid, all state under $W/incus.
# Writes $W/incus.json, the shape of lxd.json with flavor "incus".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
L=$W/incus
DATA=$L/data
NS=vdincus
HOST_VETH=vdinh
NS_VETH=vdinn
BRIDGE=vdincbr0
IMG=vendetta-busybox
CGROUP_BIND=/run/vdincus-cgroup
INCUSD=/usr/libexec/incus/incusd
BACKPORTS=/etc/apt/sources.list.d/vendetta-bookworm-backports.sources
export INCUS_DIR=$DATA

# Run a command in the netns with /sys matching it but the host cgroup mounts kept visible
# (`ip netns exec` remounts /sys and hides cgroups, which breaks the daemon). Same pid as the command.
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
  ip addr add 10.219.0.1/30 dev "$HOST_VETH"; ip link set "$HOST_VETH" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add 10.219.0.2/30 dev "$NS_VETH"; ip -n "$NS" link set "$NS_VETH" up
  # no default route: image-server lookups fail at once instead of leaving the machine
  ip route add 10.219.1.0/24 via 10.219.0.2 dev "$HOST_VETH"
}

# Incus is only in bookworm-backports: add that suite (same mirror and key as the main sources).
# apt gives backports priority 100, so nothing else is upgraded from it.
add_backports() {
  grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local mirror
  mirror=$(grep -hoE '^URIs: *http[^ ]*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +http[^ ]*/debian ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${mirror:-http://deb.debian.org/debian}" > "$BACKPORTS"
  ts "incus: added bookworm-backports ($BACKPORTS)"
}

# Container-only Incus: incus-base + incus-client (up.sh installs them in its one apt run).
install_incus() {
  dpkg -s incus-base incus-client >/dev/null 2>&1 && return 0
  add_backports
  ts "incus: installing incus-base incus-client from bookworm-backports"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    incus-base incus-client dnsmasq-base >/dev/null
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
  [ "$(id -u)" = 0 ] || { echo "test/infra/incus.sh must run as root" >&2; exit 1; }
  [ -f "$W/busybox-rootfs.tar" ] || { echo "$W/busybox-rootfs.tar is missing: run test/infra/up.sh" >&2; exit 1; }
  install_incus
  getent group incus-admin >/dev/null || groupadd --system incus-admin
  id -nG "$TEST_USER" | grep -qw incus-admin || usermod -aG incus-admin "$TEST_USER"   # new SSH sessions get the group
  mkdir -p "$DATA"; chmod 755 "$L"
  make_netns
  if ! alive "$L/incusd.pid" incusd; then
    ts "incus: starting daemon in netns $NS"
    nohup bash -c "$(declare -f nsrun); CGROUP_BIND=$CGROUP_BIND NS=$NS; nsrun env INCUS_DIR=$DATA PATH=/usr/libexec/incus:\$PATH $INCUSD --group incus-admin --logfile $L/incusd.log" \
      > "$L/incusd.out" 2>&1 &
    echo $! > "$L/incusd.pid"   # nsrun execs all the way down: this pid becomes incusd's
  fi
  timeout 30 "$INCUSD" waitready || { echo "incusd did not start; see $L/incusd.log and $L/incusd.out" >&2; exit 1; }
  chmod 711 "$DATA"   # vdtest must traverse to unix.socket (group incus-admin, 0660)
  if ! incus network show "$BRIDGE" >/dev/null 2>&1; then
    ts "incus: preseed (dir pool, bridge $BRIDGE)"
    incus admin init --preseed <<YAML
config:
  images.auto_update_interval: "0"
networks:
- name: $BRIDGE
  type: bridge
  config:
    ipv4.address: 10.219.1.1/24
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
    eth0: {name: eth0, network: $BRIDGE, type: nic}
YAML
  fi
  if ! incus image info "$IMG" >/dev/null 2>&1; then
    ts "incus: importing image $IMG"
    build_image
    incus image import "$L/img/meta.tar.xz" "$L/img/rootfs.tar.gz" --alias "$IMG" >/dev/null
    rm -rf "$L/img"
  fi
  # a second alias of the same image: changing spec.image must recreate the workspace
  incus image info "$IMG-v2" >/dev/null 2>&1 ||
    incus image alias create "$IMG-v2" "$(incus image info "$IMG" | awk '/^Fingerprint:/{print $2}')"
  cat > "$W/incus.json.tmp" <<JSON
{
  "flavor": "incus",
  "version": "$("$INCUSD" --version)",
  "socket": "$DATA/unix.socket",
  "image": "$IMG",
  "image2": "$IMG-v2",
  "listenAddress": "10.219.0.2",
  "containerSubnet": "10.219.1.0/24",
  "nodes": ["n1"]
}
JSON
  mv "$W/incus.json.tmp" "$W/incus.json"
  # the bridge's dnsmasq outlives a crashed daemon: keep its pid so `down` can stop it anyway
  pgrep -P "$(cat "$L/incusd.pid")" dnsmasq > "$L/dnsmasq.pid" || true
  ts "incus: up (pid $(cat "$L/incusd.pid"), socket $DATA/unix.socket)"
}

down() {
  if alive "$L/incusd.pid" incusd; then
    local pid children; pid=$(cat "$L/incusd.pid")
    ts "incus: deleting instances"
    incus list -c n --format csv 2>/dev/null </dev/null | xargs -r -n1 incus delete -f
    children=$(pgrep -P "$pid" || true)   # dnsmasq, forkproxy: remember them before incusd goes
    incus network delete "$BRIDGE" >/dev/null 2>&1 </dev/null || true
    ts "incus: shutdown"
    timeout 30 "$INCUSD" shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
    for p in $children; do running "$p" && kill "$p" 2>/dev/null; done
    wait_gone $children
  fi
  for p in $(cat "$L/dnsmasq.pid" 2>/dev/null); do alive_pid_named "$p" dnsmasq && kill "$p" && wait_gone "$p"; done
  rm -f "$L/incusd.pid" "$L/dnsmasq.pid" "$W/incus.json"
  if ip netns list | grep -qw "$NS"; then ts "incus: deleting netns $NS"; ip netns del "$NS"; fi   # the veth pair goes with it
  ip route del 10.219.1.0/24 2>/dev/null || true
  ip link del "$HOST_VETH" 2>/dev/null || true
  { grep -o " $L/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r -n1 umount -l   # leftovers, normally none
  rm -rf "$L"
}

T0=$(date +%s%N)
case "${1:-}" in
  backports) add_backports ;;
  install) install_incus ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 backports|install|up|down" >&2; exit 2 ;;
esac
ts "incus.sh $1 took $(( ($(date +%s%N) - T0) / 1000000 )) ms"
