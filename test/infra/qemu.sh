#!/bin/bash
# QEMU part of the e2e infra.
#   up:   install qemu + dropbear (only if missing), fetch Debian's kernel package with
#         `apt-get download` (not installed: unpacked under $W/qemu/kernel), build a small
#         initramfs (busybox + dropbear + virtio modules) that follows vendetta's guest contract
#         (docs/qemu.md) and a 16M base qcow2, write $W/qemu.json {kernel, initrd, append, image};
#         cloudimg.sh builds the cloud image once (cached). dosfstools + mtools build NoCloud seeds.
#   down: stop VMs our tests left (QMP quit, then kill by PID, from each VM's pidfile). Nothing else.
# Only Debian's package mirror is used. Run as root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
Q=$W/qemu

# The initramfs's /init. Reads the SSH key from `vendetta.ssh_key=<base64>` on the kernel command
# line and/or fw_cfg opt/vendetta/authorized_keys. `vendetta.no_ssh` skips dropbear (for tests of
# a guest that never becomes reachable).
write_init() {
  cat > "$1" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m 2>/dev/null; done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
NOSSH=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vendetta.ssh_key=*) echo "${arg#vendetta.ssh_key=}" | base64 -d >> /root/.ssh/authorized_keys ;;
    vendetta.hostname=*) hostname "${arg#vendetta.hostname=}" ;;
    vendetta.no_ssh) NOSSH=1 ;;
  esac
done
FW=/sys/firmware/qemu_fw_cfg/by_name/opt/vendetta/authorized_keys/raw
[ -r $FW ] && cat $FW >> /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
mkdir -p /workspace /var/lib/vendetta
if [ -n "$NOSSH" ]; then
  echo "vendetta-guest: vendetta.no_ssh given, not starting the SSH server" > /dev/console
else
  dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1
  dropbear -r /etc/dropbear/dropbear_ed25519_host_key -s -p 22 -E 2>/var/log/dropbear.log
  echo "vendetta-guest: ready uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
fi
while :; do sleep 3600; done
INIT
}

up() {
  [ "$(id -u)" = 0 ] || { echo "test/infra/qemu.sh up must run as root (apt)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  local PKGS=(qemu-system-x86 qemu-utils dropbear-bin cpio kmod busybox-static dosfstools mtools) MISSING=() p
  for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
  if [ ${#MISSING[@]} -gt 0 ]; then
    ts "qemu: installing ${MISSING[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
  fi
  mkdir -p "$Q"
  if ! ls "$Q"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
    ts "qemu: fetching Debian's kernel package (apt-get download)"
    rm -rf "$Q/kernel"; mkdir -p "$Q/kernel"
    local pkg; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
    (cd "$Q/kernel" && apt-get download -qq "$pkg" && dpkg-deb -x "$pkg"_*.deb . && rm -f ./*.deb)
    depmod -b "$Q/kernel" "$(ls "$Q/kernel/lib/modules")"
  fi
  local KV KERNEL; KV=$(ls "$Q/kernel/lib/modules" | head -1); KERNEL=$(ls "$Q"/kernel/boot/vmlinuz-* | head -1)

  ts "qemu: building the initramfs"
  local R=$Q/ir l m
  rm -rf "$R"; mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root/.ssh,lib/modules,etc/dropbear,var/log,run}
  cp "$(command -v busybox)" "$R/bin/"; chroot "$R" /bin/busybox --install -s /bin
  for m in $( (for mod in virtio_pci virtio_net virtio_blk qemu_fw_cfg; do
                 modprobe -d "$Q/kernel" -S "$KV" --show-depends "$mod" 2>/dev/null || true; done) |
              awk '$1=="insmod"{print $2}' | awk '!s[$0]++'); do
    cp "$m" "$R/lib/modules/"; basename "$m" >> "$R/lib/modules/order"
  done
  cp /usr/sbin/dropbear /usr/bin/dropbearkey "$R/bin/"
  for l in $(ldd /usr/sbin/dropbear /usr/bin/dropbearkey | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
    mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"; done
  mkdir -p "$R/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
  echo 'root:*:0:0:root:/root:/bin/sh' > "$R/etc/passwd"; echo 'root:x:0:' > "$R/etc/group"; echo /bin/sh > "$R/etc/shells"
  chmod 700 "$R/root/.ssh"; chmod 1777 "$R/tmp"
  write_init "$R/init"; chmod +x "$R/init"
  (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$Q/initramfs.cpio.gz.tmp"
  mv "$Q/initramfs.cpio.gz.tmp" "$Q/initramfs.cpio.gz"
  rm -rf "$R"
  # a small base disk image: tests check that VMs write only to their qcow2 overlay
  [ -f "$Q/base.qcow2" ] || qemu-img create -q -f qcow2 "$Q/base.qcow2" 16M
  chmod -R a+rX "$Q"
  # up.sh builds it in parallel itself (VENDETTA_SKIP_CLOUDIMG=1)
  [ -n "${VENDETTA_SKIP_CLOUDIMG:-}" ] || bash "$HERE/cloudimg.sh"   # Debian cloud image for the disk-image + cloud-init path -> $Q/debian-cloud.qcow2

  printf '{"kernel": "%s", "initrd": "%s", "append": "%s", "image": "%s"}\n' \
    "$KERNEL" "$Q/initramfs.cpio.gz" "console=ttyS0 quiet loglevel=3 panic=-1" "$Q/base.qcow2" > "$W/qemu.json.tmp"
  mv "$W/qemu.json.tmp" "$W/qemu.json"
  ts "qemu: ready -> $W/qemu.json"
}

# QMP quit on a VM's socket; false when it cannot be reached.
qmp_quit() {
  command -v python3 >/dev/null || return 1
  timeout 5 python3 - "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1]); f = s.makefile('rw'); f.readline()
for c in ('qmp_capabilities', 'quit'):
    f.write(json.dumps({'execute': c}) + '\n'); f.flush(); f.readline()
PY
}

down() {
  # VMs live under each test user's ~/.vendetta/qemu/<node>/<vm>/ (test homes only).
  local home pf d p PIDS=()
  home=$(getent passwd "$TEST_USER" | cut -d: -f6) || return 0
  for pf in "$home"/.vendetta/qemu/*/*/qemu.pid; do
    [ -f "$pf" ] || continue
    d=$(dirname "$pf")
    alive "$pf" qemu-system || continue
    p=$(cat "$pf")
    ts "qemu: stopping VM $(basename "$d") (pid $p)"
    qmp_quit "$d/qmp.sock" 2>/dev/null || kill "$p" 2>/dev/null || true
    PIDS+=("$p")
  done
  wait_gone "${PIDS[@]}"
  # With its VMs gone, their state goes too: a run stopped half-way (no afterAll) otherwise leaves
  # a VM's meta.json owned by its temp home, and the next run's suite finds that VM "managed by
  # another vendetta". Volumes go with it: this is the test user's home, never a user's.
  for d in "$home"/.vendetta/qemu/*/; do
    [ -d "$d" ] && ts "qemu: removing test state $d" && rm -rf "$d"
  done
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
