#!/bin/bash
# Control one node's sshd or dockerd for e2e tests:
#   nodes.sh stop NAME           stop the sshd listener and all its sessions (the node is "down")
#   nodes.sh start NAME          start sshd with the node's original host key (undoes stop/rekey)
#   nodes.sh rekey NAME          restart sshd with a brand-new host key (a "changed host key")
#   nodes.sh kill-sessions NAME  kill established SSH sessions, keep the listener (a dropped link)
#   nodes.sh dockerd-kill NAME   SIGKILL the node's dockerd (a crash: its containers die with it)
#   nodes.sh dockerd-start NAME  start the node's dockerd as up.sh does (no-op when running)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
CMD=${1:?usage: nodes.sh start|stop|rekey|kill-sessions|dockerd-kill|dockerd-start NAME}; N=${2:?node name}
D=$(node_dir "$N")
[ -f "$D/sshd_config" ] || { echo "no node $N under $W (run test/infra/up.sh)" >&2; exit 1; }
case $CMD in
  stop) stop_sshd "$N" ;;
  start) stop_sshd "$N"; start_sshd "$N" "$D/sshd_config" ;;
  rekey)
    stop_sshd "$N"
    rm -f "$D/rekey_host_key" "$D/rekey_host_key.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$D/rekey_host_key" -C "$N-rekeyed"
    write_sshd_config "$N" "$D/rekey_host_key" "$D/sshd_config.rekey"
    start_sshd "$N" "$D/sshd_config.rekey" ;;
  kill-sessions)
    pf="$D/sshd.pid"; alive "$pf" sshd || exit 0
    kids=$(pgrep -P "$(cat "$pf")" || true)
    [ -n "$kids" ] && { kill $kids 2>/dev/null || true; wait_gone $kids; } ;;
  dockerd-kill) kill_dockerd "$N" ;;
  dockerd-start) start_dockerd "$N" ;;
  *) echo "unknown command $CMD" >&2; exit 2 ;;
esac
