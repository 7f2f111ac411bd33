#!/bin/bash
# Bring up the e2e infra: sshd "nodes" n1 n2 n3 on 127.0.0.11-13:2222, each with its own dockerd
# and the busybox image. Idempotent; run as root. State in $VENDETTA_E2E_DIR (/tmp/vendetta-e2e).
# Writes $W/env.json for the tests. Tear down with test/infra/down.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s.%N)
[ "$(id -u)" = 0 ] || { echo "test/infra/up.sh must run as root (it starts sshd and dockerd)" >&2; exit 1; }

ts packages
# Every host package of every infra script, in one apt run: separate runs cost a dpkg pass each,
# and one install up front lets the cloud image build below run beside the LXD start-up (two apt
# runs at once would fight over the dpkg lock).
PKGS=(docker.io openssh-server busybox-static iproute2 sudo procps
      qemu-system-x86 qemu-utils dropbear-bin cpio kmod dosfstools mtools      # qemu.sh
      debootstrap syslinux syslinux-common fdisk e2fsprogs                    # cloudimg.sh
      zsh fish time tmux                                                      # completion tests; GNU time for the chaos suite; a real terminal for shell/apply tests
      rsync                                                                   # sshproxy-image.sh, ssh-proxy tests
      lxd dnsmasq-base                                                        # lxd.sh
      incus-base incus-client                                                 # incus.sh (bookworm-backports, added below)
      git                                                                     # git-repo.sh
      etcd-server etcd-client                                                 # etcd.sh
      chromium)                                                               # the serve dashboard's e2e test (headless, puppeteer-core)
bash "$HERE/incus.sh" backports   # Incus is only there; apt prefers the main suite for everything else
MISSING=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  ts "installing ${MISSING[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
fi

ts "user $TEST_USER + client key"
mkdir -p "$W"
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$TEST_USER"
  usermod -p '*' "$TEST_USER"   # no password, but not "locked" (sshd refuses locked accounts)
fi
if ! id "$PASSWORD_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$PASSWORD_USER"
  echo "$PASSWORD_USER:$PASSWORD" | chpasswd
fi
echo "$TEST_USER ALL=(root) NOPASSWD: ALL" > /etc/sudoers.d/vendetta-e2e; chmod 440 /etc/sudoers.d/vendetta-e2e
[ -f "$W/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/client_key" -C vendetta-e2e-client

ts "busybox rootfs"
if [ ! -f "$W/busybox-rootfs.tar" ]; then
  R=$W/bbroot; rm -rf "$R"; mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var/www,run}
  cp "$(command -v busybox)" "$R/bin/busybox"
  chroot "$R" /bin/busybox --install -s /bin
  echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"; echo 'root:x:0:' > "$R/etc/group"
  echo '<h1>hello from busybox httpd</h1>' > "$R/var/www/index.html"
  chmod 1777 "$R/tmp"
  tar -C "$R" -cf "$W/busybox-rootfs.tar" .
  rm -rf "$R"
fi

node_up() {
  local n=$1 d br i; d=$(node_dir "$n"); br=$(node_bridge "$n"); i=$(node_index "$n")
  mkdir -p "$d/dd"
  [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/ssh_host_ed25519_key" -C "$n-host"
  cp "$W/client_key.pub" "$d/authorized_keys"; chmod 644 "$d/authorized_keys"
  write_sshd_config "$n" "$d/ssh_host_ed25519_key" "$d/sshd_config.new"
  if ! cmp -s "$d/sshd_config.new" "$d/sshd_config"; then   # config changed: restart to apply it
    mv "$d/sshd_config.new" "$d/sshd_config"; stop_sshd "$n"
  else rm -f "$d/sshd_config.new"; fi
  start_sshd "$n" "$d/sshd_config"

  ip link show "$br" >/dev/null 2>&1 || {
    # index recomputed here: bash's dynamic scoping lets helpers above clobber a local "i"
    ip link add "$br" type bridge; ip addr add "10.216.$(node_index "$n").1/24" dev "$br"; ip link set "$br" up; }
  start_dockerd "$n"
  docker -H "unix://$d/docker.sock" image inspect "$IMAGE" >/dev/null 2>&1 ||
    docker -H "unix://$d/docker.sock" import "$W/busybox-rootfs.tar" "$IMAGE" >/dev/null
  ts "node $n up (sshd $(cat "$d/sshd.pid"), dockerd $(cat "$d/dd/docker.pid"))"
}

ts nodes
PIDS=()
for n in "${NODES[@]}"; do node_up "$n" & PIDS+=($!); done
FAIL=0; for p in "${PIDS[@]}"; do wait "$p" || FAIL=1; done
[ $FAIL = 0 ] || { echo "some nodes failed to start" >&2; exit 1; }
ts "busybox image with sftp-server and rsync: $(bash "$HERE/sshproxy-image.sh")"

# The cloud image (cloudimg.sh, ~3-5 min when not cached) builds in the background while the kernel,
# initramfs and LXD come up. Only test/e2e/qemu-cloudimg.test.ts needs it: with
# VENDETTA_CLOUDIMG_WAIT=0 (scripts/test-all.sh) up.sh does not wait, the tests start, and that
# test waits for $W/cloudimg.rc itself. Its own process group, so down.sh can stop all of it.
rm -f "$W/cloudimg.rc"
setsid bash -c 'bash "$1/cloudimg.sh" > "$2/cloudimg.log" 2>&1; echo $? > "$2/cloudimg.rc.tmp"; mv "$2/cloudimg.rc.tmp" "$2/cloudimg.rc"' _ "$HERE" "$W" &
CLOUDIMG_PID=$!
echo "$CLOUDIMG_PID" > "$W/cloudimg.pid"
VENDETTA_SKIP_CLOUDIMG=1 bash "$HERE/qemu.sh" up   # kernel + initramfs for QEMU workspaces -> $W/qemu.json
bash "$HERE/qemu-volumes.sh" up   # that initramfs + ext4, for QEMU volumes -> $W/qemu-volumes.json
ts env.json
{
  printf '{\n  "dir": "%s",\n  "clientKey": "%s",\n  "user": "%s",\n  "image": "%s",\n  "passwordUser": {"user": "%s", "password": "%s"},\n  "nodes": [' "$W" "$W/client_key" "$TEST_USER" "$IMAGE" "$PASSWORD_USER" "$PASSWORD"
  sep=''
  for n in "${NODES[@]}"; do
    d=$(node_dir "$n")
    printf '%s\n    {"name": "%s", "address": "%s", "port": %s, "dockerSocket": "%s", "hostKeyPub": "%s"}' \
      "$sep" "$n" "$(node_addr "$n")" "$SSH_PORT" "$d/docker.sock" "$(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"
    sep=','
  done
  printf '\n  ]\n}\n'
} > "$W/env.json.tmp"
mv "$W/env.json.tmp" "$W/env.json"
bash "$HERE/bastion.sh" up   # a node reachable only through a bastion -> $W/bastion/bastion.json
# Incus starts beside LXD (own netns, bridge and addresses); both take a few seconds, mostly waiting.
bash "$HERE/incus.sh" up > "$W/incus-up.log" 2>&1 &
INCUS_PID=$!
bash "$HERE/lxd.sh" up
bash "$HERE/git-repo.sh" up   # a bare repository the nodes fetch source.git from -> $W/git.json
bash "$HERE/etcd.sh" up       # 3 etcd members on 127.0.0.1:23791-23793 -> $W/etcd/endpoints
if ! wait "$INCUS_PID"; then cat "$W/incus-up.log" >&2; echo "incus failed to start; see $W/incus-up.log" >&2; exit 1; fi
cat "$W/incus-up.log"
if [ "${VENDETTA_CLOUDIMG_WAIT:-1}" = 0 ]; then
  ts "the cloud image builds on in the background (pid $CLOUDIMG_PID, log $W/cloudimg.log, result $W/cloudimg.rc)"
else
  ts "waiting for the cloud image (log: $W/cloudimg.log)"
  wait "$CLOUDIMG_PID" || true
  if [ "$(cat "$W/cloudimg.rc" 2>/dev/null)" != 0 ]; then tail -n 30 "$W/cloudimg.log" >&2; echo "cloud image build failed; see $W/cloudimg.log" >&2; exit 1; fi
  sed 's/^/  /' "$W/cloudimg.log"
fi
ts "done in $(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo '?') s -> $W/env.json"
