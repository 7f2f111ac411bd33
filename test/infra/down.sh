#!/bin/bash
# Tear down what up.sh started: signal every tracked process (by pidfile), then wait for all.
# Idempotent. Leaves the vdtest user in place.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
# A cloud image build still running (up.sh with VENDETTA_CLOUDIMG_WAIT=0): its own process group.
if [ -f "$W/cloudimg.pid" ]; then
  if alive "$W/cloudimg.pid" cloudimg; then
    p=$(cat "$W/cloudimg.pid"); pg=$(ps -o pgid= -p "$p" | tr -d ' ')
    ts "stopping the cloud image build (pid $p, group $pg)"
    [ "$pg" = "$p" ] && kill -- "-$pg" 2>/dev/null || kill "$p" 2>/dev/null
    wait_gone "$p"
  fi
  rm -f "$W/cloudimg.pid"
fi
bash "$HERE/incus.sh" down &   # beside LXD: separate daemons, netns and state
INCUS_PID=$!
bash "$HERE/lxd.sh" down
wait "$INCUS_PID"
bash "$HERE/qemu.sh" down   # VMs left by tests, by pidfile
bash "$HERE/bastion.sh" down
bash "$HERE/git-repo.sh" down
bash "$HERE/etcd.sh" down
ts "stopping nodes"
PIDS=()
for d in "$W"/nodes/*/; do
  [ -d "$d" ] || continue
  n=$(basename "$d")
  for p in $(sshd_pids "$n"); do kill "$p" 2>/dev/null && PIDS+=("$p"); done
  if alive "$d/dd/docker.pid" dockerd; then p=$(cat "$d/dd/docker.pid"); kill "$p" && PIDS+=("$p"); fi
done
wait_gone "${PIDS[@]}"
# A containerd shim is built to outlive its daemons (one of a test's containers can leave one
# behind): stop those whose containerd socket lies under $W, with their containers' processes.
stop_shims "$W"
grep -o " $W/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l   # leftovers, normally none
ts "removing bridges and $W"
for d in "$W"/nodes/*/; do
  [ -d "$d" ] || continue
  br=$(node_bridge "$(basename "$d")")
  ip link show "$br" >/dev/null 2>&1 && ip link del "$br"
done
rm -rf "$W"
ts done
