#!/bin/bash
# A small Debian "cloud image" for the QEMU provider's disk-image boot path (spec.image + a
# cloud-init NoCloud seed), built here from Debian's packages only: debootstrap (minbase) from the
# mirror apt already uses, with cloud-init, openssh-server, sudo and the cloud kernel. The disk is
# partitioned like a real cloud image and boots with its own bootloader (syslinux on a FAT /boot,
# ext4 root), so the driver boots it exactly as it would boot a downloaded image.
# The disk is assembled without loop devices (sfdisk, mkfs.ext4 -d, mtools), then converted to qcow2;
# only the chroot's /proc and /sys are mounted, while apt runs in it.
# The guest never reaches out: NoCloud is its only datasource, no apt at boot, apt timers masked.
# Cached at $W/qemu/debian-cloud.qcow2 (rebuilt only when missing). Run as root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
Q=$W/qemu
OUT=$Q/debian-cloud.qcow2
SUITE=bookworm
BOOT_MB=160
ROOT_MB=2048

[ "$(id -u)" = 0 ] || { echo "test/infra/cloudimg.sh must run as root (debootstrap, chroot)" >&2; exit 1; }
if [ -f "$OUT" ]; then ts "cloud image: cached $OUT"; exit 0; fi
T0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

PKGS=(debootstrap syslinux syslinux-common mtools dosfstools fdisk e2fsprogs qemu-utils) MISSING=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  ts "cloud image: installing ${MISSING[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
fi

# The mirror apt already uses (deb822 or one-line sources), never any other host.
MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
[ -n "$MIRROR" ] || MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
  awk '$1=="deb" && $0 ~ /[[:space:]]'"$SUITE"'[[:space:]]/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}')
[ -n "$MIRROR" ] || { echo "cloud image: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }

B=$Q/cloudimg-build
R=$B/root
umount_all() { umount "$R/proc" "$R/sys" 2>/dev/null || true; }
umount_all; rm -rf "$B"; mkdir -p "$B"   # (an interrupted build may have left its mounts)
trap umount_all EXIT   # the build dir stays on failure, for its logs

ts "cloud image: debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" > "$B/debootstrap.log" 2>&1 || { tail -n 30 "$B/debootstrap.log" >&2; exit 1; }
# The rest through apt in the chroot (it resolves dependencies that debootstrap --include does not).
ts "cloud image: installing the kernel, cloud-init, openssh-server"
mount -t proc proc "$R/proc"; mount -t sysfs sys "$R/sys"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"   # start no daemons in the chroot
chroot "$R" apt-get update -qq > "$B/apt.log" 2>&1 || { tail -n 30 "$B/apt.log" >&2; exit 1; }
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  systemd-sysv udev linux-image-cloud-amd64 initramfs-tools cloud-init openssh-server sudo netbase iproute2 \
  ifupdown isc-dhcp-client >> "$B/apt.log" 2>&1 || { tail -n 30 "$B/apt.log" >&2; exit 1; }
rm -f "$R/usr/sbin/policy-rc.d"
umount_all
ts "cloud image: rootfs done ($(du -sm "$R" | cut -f1) MB)"

# --- guest configuration: boots offline, configured only by the NoCloud seed ---
echo localhost > "$R/etc/hostname"
: > "$R/etc/machine-id"   # a fresh one per instance
: > "$R/etc/resolv.conf"   # not the build host's; DHCP writes it at boot
printf '/dev/vda2 / ext4 defaults,errors=remount-ro 0 1\n' > "$R/etc/fstab"
# eth0 by DHCP from QEMU's user-net (its built-in server; restrict=on still answers DHCP).
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$R/etc/network/interfaces"
mkdir -p "$R/etc/cloud/cloud.cfg.d"
cat > "$R/etc/cloud/cloud.cfg.d/90-vendetta-e2e.cfg" <<'CFG'
# vendetta e2e image: the NoCloud seed is the only source; nothing is fetched, updated or grown.
datasource_list: [NoCloud, None]
network: {config: disabled}
package_update: false
package_upgrade: false
apt_update: false
apt_upgrade: false
growpart: {mode: "off"}
resize_rootfs: false
manage_etc_hosts: true
locale: false                 # no locales package in minbase: nothing to generate
CFG
# no apt or timers that would try the network at boot
chroot "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
# host keys are made per instance by cloud-init; do not ship the build's
rm -f "$R"/etc/ssh/ssh_host_*
chroot "$R" apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/*.log

KERNEL=$(ls "$R"/boot/vmlinuz-* | head -1); INITRD=$(ls "$R"/boot/initrd.img-* | head -1)
[ -f "$KERNEL" ] && [ -f "$INITRD" ] || { echo "cloud image: no kernel/initrd in $R/boot" >&2; exit 1; }

# --- disk: MBR (syslinux) | p1 FAT /boot with syslinux | p2 ext4 root ---
ts "cloud image: building the disk"
DISK=$B/disk.raw
truncate -s $((1 + BOOT_MB + ROOT_MB))M "$DISK"
sfdisk -q "$DISK" <<PART
label: dos
start=2048, size=$((BOOT_MB * 2048)), type=c, bootable
start=$(((1 + BOOT_MB) * 2048)), type=83
PART
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$DISK" bs=440 count=1 conv=notrunc status=none
mkfs.vfat -F 16 --offset 2048 -n VDBOOT "$DISK" $((BOOT_MB * 1024)) >/dev/null
cat > "$B/syslinux.cfg" <<CFG
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND root=/dev/vda2 rw console=ttyS0 net.ifnames=0 quiet
CFG
cp "$KERNEL" "$B/vmlinuz"; cp "$INITRD" "$B/initrd.img"
mcopy -i "$DISK@@1M" "$B/syslinux.cfg" "$B/vmlinuz" "$B/initrd.img" ::/
syslinux --offset $((1024 * 1024)) --install "$DISK"
mkfs.ext4 -q -L vdroot -d "$R" "$B/root.img" "${ROOT_MB}M" >/dev/null
dd if="$B/root.img" of="$DISK" bs=1M seek=$((1 + BOOT_MB)) conv=notrunc,sparse status=none
qemu-img convert -O qcow2 "$DISK" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
rm -rf "$B"
chmod a+rx "$Q"; chmod a+r "$OUT"   # the test user boots overlays on it
ts "cloud image: $OUT ($(du -m "$OUT" | cut -f1) MB) built in $(($(date +%s) - T0))s"
