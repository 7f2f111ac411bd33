# Shared settings and helpers for the e2e infra scripts (sourced, not run).
# Everything lives under $W; every process we start is tracked by a pidfile there.
W=${VENDETTA_E2E_DIR:-/tmp/vendetta-e2e}
TEST_USER=vdtest
# a second user that may log in with a password (only to test key installation over a password login)
PASSWORD_USER=vdpass
PASSWORD=vdpass-e2e-only
IMAGE=vendetta-test/busybox:1
SSH_PORT=2222
NODES=(n1 n2 n3)
# node nN listens on 127.0.0.1N and gets bridge vdbr-N with 10.216.N.1/24
node_index() { echo "${1#n}"; }
node_addr() { echo "127.0.0.1$(node_index "$1")"; }
node_dir() { echo "$W/nodes/$1"; }
node_bridge() { echo "vdbr-$(node_index "$1")"; }

ts() { echo "[$(date +%T.%3N)] $*"; }

# alive PIDFILE NAME: the pid in PIDFILE is running and is a NAME process (guards against pid reuse)
alive() {
  [ -f "$1" ] || return 1
  local p; p=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$p" ] && grep -q "$2" "/proc/$p/cmdline" 2>/dev/null
}

# alive_pid_named PID NAME: PID is running (not a zombie) and its command is NAME (guards against pid reuse)
alive_pid_named() {
  running "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# running PID: the process exists and is not a zombie (our daemons are reparented to a PID 1
# that may be slow to reap them)
running() {
  local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# wait_gone PID...: wait up to 10 s for each pid to exit, then SIGKILL it
wait_gone() {
  local p i
  for p in "$@"; do
    for i in $(seq 200); do running "$p" || break; sleep 0.05; done
    running "$p" && kill -9 "$p" 2>/dev/null
  done
  return 0
}

# stop_shims DIR: containerd shims whose containerd socket lies under DIR outlive their daemons
# (a container dockerd lost track of keeps its shim): stop each with the processes under it (the
# container's, which would otherwise be reparented to PID 1 and keep running), by pid.
stop_shims() {
  local shims all p
  shims=$(pgrep -f "^/usr/bin/containerd-shim-runc-v2 .*-address $1/" || true)
  [ -n "$shims" ] || return 0
  # the shims and their descendants, from one snapshot of parent pids
  all=($(ps -e -o pid=,ppid= | awk -v roots="$shims" '
    BEGIN { n = split(roots, r, "[[:space:]]+"); for (i = 1; i <= n; i++) if (r[i] != "") keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
      for (p in keep) print p
    }'))
  ts "stopping $(wc -w <<<"$shims") leftover containerd shims under $1 and the processes under them (${#all[@]} in all)"
  for p in "${all[@]}"; do kill "$p" 2>/dev/null || true; done
  wait_gone "${all[@]}"
}

# sshd_pids NODE: the listening sshd of NODE plus its per-connection children
sshd_pids() {
  local pf; pf="$(node_dir "$1")/sshd.pid"
  alive "$pf" sshd || return 0
  local master; master=$(cat "$pf")
  echo "$master"
  pgrep -P "$master" || true
}

# write_sshd_config NODE HOSTKEY OUTFILE
# What every test sshd shares: key-only logins for the named users, forwarding on, many sessions.
# Args: LISTEN HOSTKEY DIR AUTHORIZED_KEYS ALLOW_USERS; prints the lines (without Subsystem/Match).
sshd_common_config() {
  cat <<CFG
ListenAddress $1
HostKey $2
PidFile $3/sshd.pid
AuthorizedKeysFile $4
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $5
UsePAM no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 1000
MaxStartups 100:30:200
LogLevel VERBOSE
CFG
}

write_sshd_config() {
  local n=$1 key=$2 out=$3 d; d=$(node_dir "$1")
  {
    sshd_common_config "$(node_addr "$n"):$SSH_PORT" "$key" "$d" "$d/authorized_keys .ssh/authorized_keys" "$TEST_USER $PASSWORD_USER"
    cat <<CFG
SetEnv DOCKER_HOST=unix://$d/docker.sock
Subsystem sftp internal-sftp
Match User $PASSWORD_USER
  PasswordAuthentication yes
CFG
  } > "$out"
}

# start_sshd NODE CONFIG: start the node's sshd unless it is already running
start_sshd() {
  local d i; d=$(node_dir "$1")
  alive "$d/sshd.pid" sshd && return 0
  mkdir -p /run/sshd
  /usr/sbin/sshd -f "$2" -E "$d/sshd.log"
  for i in $(seq 50); do alive "$d/sshd.pid" sshd && return 0; sleep 0.05; done
  echo "sshd for $1 did not start; see $d/sshd.log" >&2; return 1
}

# stop_sshd NODE: stop the listener and every session it forked, by pid
stop_sshd() {
  local pids; pids=$(sshd_pids "$1")
  [ -z "$pids" ] && return 0
  kill $pids 2>/dev/null
  wait_gone $pids
  rm -f "$(node_dir "$1")/sshd.pid"
}

# start_dockerd NODE: start the node's own dockerd unless it is already running (the one command
# line up.sh and nodes.sh use), and wait until it answers
start_dockerd() {
  local n=$1 d; d=$(node_dir "$1")
  if ! alive "$d/dd/docker.pid" dockerd; then
    # setsid: the daemon must outlive whatever test or shell started it. Inherited descriptors are
    # closed first: a daemon holding e.g. the e2e suites' flock fd would hold that lock forever.
    ( for fd in $(ls "/proc/$BASHPID/fd"); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
      exec setsid nohup dockerd -H "unix://$d/docker.sock" -G "$TEST_USER" --data-root "$d/dd/data" --exec-root "$d/dd/exec" \
      --pidfile "$d/dd/docker.pid" --storage-driver overlay2 --bridge "$(node_bridge "$n")" --iptables=false --ip6tables=false \
      --ip-masq=false --ip-forward=false --shutdown-timeout 2 >> "$d/dd/dockerd.log" 2>&1 < /dev/null ) &
  fi
  for _ in $(seq 300); do docker -H "unix://$d/docker.sock" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "dockerd for $n did not start; see $d/dd/dockerd.log" >&2; return 1
}

# kill_dockerd NODE: SIGKILL the node's dockerd (a crash; its containerd goes with it) and wait
kill_dockerd() {
  local d pf cf p c=''; d=$(node_dir "$1"); pf="$d/dd/docker.pid"; cf="$d/dd/exec/containerd/containerd.pid"
  alive "$pf" dockerd || return 0
  p=$(cat "$pf")
  alive "$cf" containerd && c=$(cat "$cf")
  kill -9 "$p" 2>/dev/null
  # its containerd follows on its own; a new dockerd that finds it still dying waits for it in vain
  wait_gone "$p" $c
  # A zombie still counts as a process (our PID 1 reaps slowly): with the pidfiles left, a new
  # dockerd refuses to start ("pid file found") or waits in vain for the dead containerd.
  rm -f "$pf" "$cf"
}
