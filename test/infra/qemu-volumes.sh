#!/bin/bash
# QEMU volumes part of the e2e infra: the test initramfs of qemu.sh plus the ext4 module (and what
# it depends on), so a direct-boot guest can mount the volume disks vendetta formats on first use
# (docs/qemu.md, "Volumes"). Reuses qemu.sh's kernel and initramfs; writes
# $W/qemu/initramfs-volumes.cpio.gz and $W/qemu-volumes.json {initrd}. Nothing to stop: `down` is a no-op.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
Q=$W/qemu

up() {
  [ -f "$Q/initramfs.cpio.gz" ] || { echo "run test/infra/qemu.sh up first ($Q/initramfs.cpio.gz is missing)" >&2; exit 1; }
  local KV R m
  KV=$(ls "$Q/kernel/lib/modules" | head -1)
  R=$(mktemp -d "$Q/ir-volumes.XXXXXX")
  ts "qemu-volumes: adding the ext4 module to the test initramfs"
  (cd "$R" && gzip -dc "$Q/initramfs.cpio.gz" | cpio -i -d --quiet --no-absolute-filenames)
  for m in $(modprobe -d "$Q/kernel" -S "$KV" --show-depends ext4 | awk '$1=="insmod"{print $2}'); do
    grep -qx "$(basename "$m")" "$R/lib/modules/order" && continue
    cp "$m" "$R/lib/modules/"; basename "$m" >> "$R/lib/modules/order"
  done
  (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$Q/initramfs-volumes.cpio.gz.tmp"
  mv "$Q/initramfs-volumes.cpio.gz.tmp" "$Q/initramfs-volumes.cpio.gz"
  chmod a+r "$Q/initramfs-volumes.cpio.gz"
  rm -rf "$R"
  printf '{"initrd": "%s"}\n' "$Q/initramfs-volumes.cpio.gz" > "$W/qemu-volumes.json.tmp"
  mv "$W/qemu-volumes.json.tmp" "$W/qemu-volumes.json"
  ts "qemu-volumes: ready -> $W/qemu-volumes.json"
}

case "${1:-}" in
  up) up ;;
  down) ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
