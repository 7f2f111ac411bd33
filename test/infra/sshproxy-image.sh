#!/bin/bash
# The image the ssh-proxy e2e tests use: the busybox test image plus OpenSSH's sftp-server and
# rsync with the shared libraries they load (ldd), imported into every node's dockerd. As with any
# sshd, sftp / scp (OpenSSH 9 scp uses SFTP) and rsync need these programs inside the image.
# Idempotent; run after up.sh (needs its busybox rootfs). Writes nothing outside $W.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
SSH_IMAGE=vendetta-test/busybox-ssh:1
TAR=$W/busybox-ssh-rootfs.tar
BINS=(/usr/lib/openssh/sftp-server /usr/bin/rsync)

[ -f "$W/busybox-rootfs.tar" ] || { echo "missing $W/busybox-rootfs.tar: run test/infra/up.sh first" >&2; exit 1; }
for b in "${BINS[@]}"; do
  [ -x "$b" ] || { echo "missing $b on this host: apt-get install openssh-sftp-server rsync" >&2; exit 1; }
done

if [ ! -f "$TAR" ]; then
  R=$(mktemp -d "$W/bbssh.XXXXXX"); trap 'rm -rf "$R"' EXIT
  tar -C "$R" -xf "$W/busybox-rootfs.tar"
  # each binary and every library ldd names (plus the loader), at the same paths
  for f in "${BINS[@]}" $(ldd "${BINS[@]}" | grep -o '/[^ ]*' | grep -v ':$' | sort -u); do
    mkdir -p "$R$(dirname "$f")"; cp -L "$f" "$R$f"
  done
  tar -C "$R" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
  rm -rf "$R"
fi

for n in "${NODES[@]}"; do
  s="unix://$(node_dir "$n")/docker.sock"
  [ -S "$(node_dir "$n")/docker.sock" ] || continue
  docker -H "$s" image inspect "$SSH_IMAGE" >/dev/null 2>&1 || docker -H "$s" import "$TAR" "$SSH_IMAGE" >/dev/null
done
echo "$SSH_IMAGE"
