// The service supervisor and the commands that drive it, as data. Everything here is pure: argv
// builders and a parser. The manager (./manager.ts) runs them through a WorkspaceRuntime.
//
// On disk, per service:  <stateDir>/services/<name>/
//   written by us:       command  env (0600, `export K='v'`)  workdir  restart  hash  probe
//   kept by supervisor:  supervisor.pid  pid  state  exit  restarts  started  log
//   kept by its prober:  health  prober.id   (see ./probe-script.ts)
// <stateDir>/supervisor.sh is the script below, shared by the services of one workspace.
import { createHash } from 'node:crypto';
import type { ObservedService, ObservedServiceState } from '../model/types.js';
import { INLINE_SHELL } from '../transport/batch.js';
import { quoteArg } from '../transport/quote.js';
import { parseHealthLine, PROBER_SHELL } from './probe-script.js';
import { DEFAULT_PATH, SERVICE_RUN_SCRIPT } from './run-script.js';
import { NODE_AGENT_SHELL, NODE_AGENT_SCRIPT } from './node-agent.js';

export { DEFAULT_PATH } from './run-script.js';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A shell identifier: what an env key must be to reach a command through the shell. */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function assertServiceName(name: string): void {
  if (!NAME.test(name)) {
    throw new Error(`invalid service name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
}

/**
 * Liveness and identity. A pid alone is not trusted: the kernel reuses pids, and a stale pid file
 * must never make an unrelated process look like our service, let alone get it signalled. So
 * every pid we record goes with the process's start time (field 22 of /proc/PID/stat), and every
 * check and every signal compares both first. Without /proc (macOS) `ps -o lstart=` gives the start
 * time; where neither exists (a busybox container without /proc) the identity is "-" and the
 * check falls back to `kill -0`. kill -0 also succeeds for zombies (a container's PID 1 may never
 * reap them), so a zombie counts as dead.
 *
 * Identity files ("PID START MODE", MODE g: PID leads its own process group, p: a lone process):
 *   supervisor.id   the supervisor, plus its argv token (see tok_scan)
 *   pid.id          its current child
 * supervisor.pid and pid hold the bare pids, for people and scripts; nothing signals by them.
 */
const PROC_LIB = String.raw`nap() { sleep 0.1 2>/dev/null || sleep 1; }
# rm_present FILE...: removes the files, forking rm only when one of them exists (a start runs
# this on a fresh directory: every fork costs milliseconds on a busy node).
rm_present() {
  for f in "$@"; do
    if [ -e "$f" ] || [ -L "$f" ]; then rm -f "$@"; return; fi
  done
}
# ident_v PID: sets iv to the identity of PID; read with builtins (no fork) where /proc exists,
# or taken from what ident_load read.
ident_v() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  case $idq in *" $1 "*)
    eval "iv=\$idv_$1"
    [ -n "$iv" ]
    return ;;
  esac
  if [ -d /proc/self ]; then
    s=''
    { read -r s < "/proc/$1/stat"; } 2>/dev/null
    [ -n "$s" ] || return 1
    # comm (field 2) may hold spaces and parens: count fields after the last ')'.
    set -- \${s##*) }
    [ "$1" != Z ] || return 1
    shift 19
    iv=$1
    return 0
  fi
  kill -0 "$1" 2>/dev/null || return 1
  s=$(LC_ALL=C ps -o lstart= -p "$1" 2>/dev/null | tr -s ' ' '_')
  iv=\${s:--}
}
# ident_collect STATEDIR, then ident_load: the identities of every supervisor and child recorded
# under those workspace state dirs, for ident_v, from one cat of their stat files. The read
# builtin takes a byte per system call: a node's status read of 100 services read 60 KB of /proc
# that way.
idq='' files=''
ident_collect() {
  [ -d /proc/self ] || return 0
  for n in "$1"/services/*/; do
    for f in supervisor.id pid.id; do
      p=''
      { read -r p x < "$n$f"; } 2>/dev/null
      ident_add "$p"
    done
  done
}
# ident_add PID: one more identity for ident_load to read.
ident_add() {
  case $1 in '' | *[!0-9]*) return 0 ;; esac
  [ -n "$idq" ] || idq=' '
  case $idq in *" $1 "*) return 0 ;; esac
  idq="$idq$1 "
  files="$files /proc/$1/stat"
}
ident_load() {
  [ -n "$files" ] || return 0
  set -f
  s=$(cat $files 2>/dev/null)
  oifs=$IFS
  IFS='
'
  for l in $s; do
    IFS=$oifs
    p=\${l%% *}
    case $p in '' | *[!0-9]*) continue ;; esac
    # comm (field 2) may hold spaces and parens: count fields after the last ')'.
    set -- \${l##*) }
    if [ "$1" != Z ] && [ "$#" -ge 20 ]; then shift 19; eval "idv_$p=\$1"; fi
  done
  IFS=$oifs
  set +f
}
ident() { ident_v "$1" || return 1; printf '%s\n' "$iv"; }
alive() { ident "$1" >/dev/null; }
# group_alive PGID: a live (not zombie) process is in the group. Every process's stat in one cat:
# the read builtin takes a byte per system call, and a drop of a thousand services checks groups
# whose leader is a zombie not yet reaped, a scan of the whole host each.
group_alive() {
  pg=$1
  kill -0 "-$pg" 2>/dev/null || return 1
  [ -d /proc/self ] || return 0
  gs=$(cat /proc/[0-9]*/stat 2>/dev/null)
  set -f
  oifs=$IFS
  IFS='
'
  for l in $gs; do
    IFS=$oifs
    set -- \${l##*) }
    if [ "$3" = "$pg" ] && [ "$1" != Z ]; then set +f; return 0; fi
  done
  IFS=$oifs
  set +f
  return 1
}
# These set a variable (ov, tv) rather than print one: a caller then needs no $(…) subshell,
# which a bulk stop of a hundred services paid three times per service.
# ours_v FILE: ov = the pid recorded in FILE when that very process (same start time) still runs.
ours_v() {
  { read -r op oi om ot < "$1"; } 2>/dev/null || return 1
  ident_v "$op" || return 1
  [ -n "$oi" ] && [ "$oi" = "$iv" ] || return 1
  ov=$op
}
# sup_ours_v DIR: ov = the pid of the service's supervisor, if it runs.
sup_ours_v() {
  if [ -f "$1/supervisor.id" ]; then ours_v "$1/supervisor.id"; return; fi
  om='' ot=''
  # Written by an earlier vendetta without identity files: trust the pid only if it runs this
  # very service's supervisor script.
  p=''
  { read -r p < "$1/supervisor.pid"; } 2>/dev/null
  alive "$p" || return 1
  c=$(tr '\000' ' ' < "/proc/$p/cmdline" 2>/dev/null) || return 1
  case $c in *"/supervisor.sh $1 "*) ov=$p ;; *) return 1 ;; esac
}
# child_target_v DIR: tv = what to signal to reach the recorded child ("-PGID" for its group, or
# its pid), if it is still the process (group) the supervisor started.
child_target_v() {
  { read -r op oi om < "$1/pid.id"; } 2>/dev/null || return 1
  [ -n "$oi" ] || return 1
  if ident_v "$op"; then
    [ "$oi" = "$iv" ] || return 1
  else
    # The leader is gone. While members of its group live, the kernel hands its pid to no other
    # process, so a group with that id is still the one the supervisor started.
    [ "$om" = g ] && group_alive "$op" || return 1
  fi
  if [ "$om" = g ]; then tv=-$op; else tv=$op; fi
}
# stop_child DIR: TERM the recorded child (group), KILL what is left after a grace period.
stop_child() {
  child_target_v "$1" || return 0
  kill -TERM "$tv" 2>/dev/null
  i=0
  while child_target_v "$1" && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
  if child_target_v "$1"; then kill -KILL "$tv" 2>/dev/null; fi
  return 0
}
`.replace(/\\\$\{/g, '${');

/**
 * POSIX sh: works on dash and busybox ash. Usage: `sh supervisor.sh <service dir>`.
 *
 * Why it looks like this:
 * - The child runs `/bin/sh -c "$(cat command)"`, so the command text reaches a shell exactly as
 *   the user wrote it; we never paste it into a script.
 * - The child leads its own process group (setsid), so stopping takes down its whole tree.
 *   Without setsid (macOS) only the direct child is signalled.
 * - A child left running by a supervisor that was killed (kill -9) is stopped before a new one
 *   starts: one service never runs twice.
 * - The child writes into a FIFO; a writer loop copies it to the log with dd (a block count at a
 *   time, so nothing read is ever dropped) and rotates the log by size: log, log.1, ….
 * - `wait` is interrupted by a trapped signal; we wait again until the child is really reaped,
 *   except when stopping: then we poll the group for a grace period and KILL what is left.
 * - Every state file is written to a temp file and renamed, so readers never see half a value.
 */
const SUPERVISOR_BODY = `${PROC_LIB}${PROBER_SHELL}` + String.raw`
cd "$1" || exit 1
# Builtins, not $(…): a subshell is a fork, and a start on a busy node pays for each one.
dir=$PWD
# $2: a random "vdsup-…" token, kept in our argv where the node can see it (see tok_scan).
token=''
case \${2:-} in vdsup-*) token=$2 ;; esac
# VENDETTA_NOTIFY=ready: fd 3 is the starter's FIFO; one line on it once the child runs (or we
# end: EOF). Not for the service's environment.
notify=\${VENDETTA_NOTIFY:-}
# VENDETTA_LIVENESS=pid: every reader shares our pid namespace (the process provider) and goes
# by pid + start time, so no lock is kept for readers outside it (two forks fewer per start).
liveness=\${VENDETTA_LIVENESS:-}
unset VENDETTA_NOTIFY VENDETTA_LIVENESS
child=''
prober=''
sleeper=''
writer=''
stopping=0
code=''

put() { printf '%s\n' "$2" > "$dir/.$1.tmp" && mv -f "$dir/.$1.tmp" "$dir/$1"; }
# stage NAME VALUE, then commit: several state files renamed into place by one mv (each rename
# atomic, in the order staged). A start writes seven files; one fork each was most of its cost.
staged=''
stage() { printf '%s\n' "$2" > "$dir/.new/$1" && staged="$staged $1"; }
commit() {
  [ -n "$staged" ] || return 0
  set --
  for f in $staged; do set -- "$@" "$dir/.new/$f"; done
  staged=''
  mv -f "$@" "$dir/"
}
say() { printf 'vendetta-supervisor: %s\n' "$*" >> "$dir/log"; }
child_alive() { child_target_v "$dir"; }
# Our child, not yet reaped (a zombie of ours keeps its pid; a live process must be the same one).
still_child() { kill -0 "$child" 2>/dev/null || return 1; ci=$(ident "$child") || return 0; [ "$ci" = "$cid" ]; }

# Log rotation: at logmax bytes the log becomes log.1 (log.1 becomes log.2, …), logfiles in all.
logmax='' logfiles=''
{ read -r logmax < "$dir/logmax"; } 2>/dev/null
case $logmax in '' | *[!0-9]*) logmax=10485760 ;; esac
{ read -r logfiles < "$dir/logfiles"; } 2>/dev/null
case $logfiles in '' | *[!0-9]* | 0) logfiles=2 ;; esac
# 64 KiB blocks per dd between size checks: a log overshoots logmax by a quarter at most (one
# block when logmax is small).
blocks=$((logmax / 262144))
if [ "$blocks" -lt 1 ]; then blocks=1; fi
if [ "$blocks" -gt 64 ]; then blocks=64; fi
fifo="$dir/.log.fifo"

rotate() {
  if [ "$logfiles" -le 1 ]; then : > "$dir/log"; return; fi
  k=$((logfiles - 1))
  while [ "$k" -gt 1 ]; do
    if [ -f "$dir/log.$((k - 1))" ]; then mv -f "$dir/log.$((k - 1))" "$dir/log.$k"; fi
    k=$((k - 1))
  done
  mv -f "$dir/log" "$dir/log.1"
  : >> "$dir/log"
}

# Copy stdin (the FIFO) to the log until every writer closed it. dd stops before count blocks
# only at the end of its input; each read it makes is written whole, so nothing is lost.
# The log's size is dd's own count of the bytes it copied, added up: measured (a wc) only when
# not known yet, so a quiet service's writer forks no wc at all, even when it ends.
log_writer() {
  size=''
  while :; do
    r=$(LC_ALL=C dd bs=65536 count="$blocks" 2>&1 >>"$dir/log")
    b=\${r#*records out
}
    b=\${b%% bytes*}
    # dd did not say (busybox): the size is not known.
    case $b in '' | *[!0-9]*) size='' ;; esac
    if [ "$b" != 0 ]; then
      if [ -n "$size" ]; then size=$((size + b)); else size=$(wc -c < "$dir/log" 2>/dev/null) || size=0; fi
    fi
    if [ -n "$size" ] && [ "$((size + 0))" -ge "$logmax" ]; then rotate; size=0; fi
    r=\${r%%records in*}
    n=\${r%%+*}
    m=\${r#*+}
    m=\${m%% *}
    case "$n$m" in '' | *[!0-9]*) nap; continue ;; esac
    if [ "$((n + m))" -lt "$blocks" ]; then break; fi
  done
}

run=${quoteArg(SERVICE_RUN_SCRIPT)}

start_child() {
  out="$dir/log"
  writer=''
  rm_present "$fifo"
  if mkfifo "$fifo" 2>/dev/null; then
    # A function with "9>&-" only hides fd 9 (the shell keeps a saved copy): close it for good.
    (exec 9>&- 3>&-; log_writer) < "$fifo" &
    writer=$!
    out=$fifo
  fi
  # On a notified start the child inherits fd 3 and confirms the start itself (see run); we
  # keep our copy until the child's state is recorded (the loop below closes it): the starter
  # reads to end of file, which then says both "the child runs" and "its state is there".
  if [ "$notify" = ready ]; then
    if command -v setsid >/dev/null 2>&1; then
      setsid /bin/sh -c "$run" sh "$dir" </dev/null >>"$out" 2>&1 9>&- &
      child=$!
      mode=g
    else
      /bin/sh -c "$run" sh "$dir" </dev/null >>"$out" 2>&1 9>&- &
      child=$!
      mode=p
    fi
    notify=held
  elif command -v setsid >/dev/null 2>&1; then
    setsid /bin/sh -c "$run" sh "$dir" </dev/null >>"$out" 2>&1 9>&- 3>&- &
    child=$!
    mode=g
  else
    /bin/sh -c "$run" sh "$dir" </dev/null >>"$out" 2>&1 9>&- 3>&- &
    child=$!
    mode=p
  fi
  # A child that is already gone gets an identity nothing can match.
  if ident_v "$child"; then cid=$iv; else cid=gone; fi
  stage pid.id "$child $cid $mode"
}

# After the child exited: give the writer a moment to drain its output into the log.
# (A writer that outlives this — a grandchild still holds the FIFO — keeps copying on its own.)
drain() {
  [ -n "$writer" ] || return 0
  i=0
  while alive "$writer" && [ "$i" -lt 10 ]; do nap; i=$((i + 1)); done
  if ! alive "$writer"; then wait "$writer" 2>/dev/null; fi
  writer=''
}

# The health checks (a probe file was installed): a background subshell that must not hold the
# supervisor's lock fd (9), stopped with the supervisor.
start_prober() {
  [ -f "$dir/probe" ] || return 0
  # A function with "9>&-" only hides fd 9 (the shell keeps a saved copy): close it for good.
  (exec 9>&- 3>&-; probe_loop) </dev/null >/dev/null 2>&1 &
  prober=$!
  put prober.id "$prober $(ident "$prober" || echo -) p"
}
end_prober() {
  [ -n "$prober" ] || return 0
  kill -TERM "$prober" 2>/dev/null
  wait "$prober" 2>/dev/null
  prober=''
}

on_term() {
  stopping=\${1:-1}
  if [ -n "$prober" ]; then kill -TERM "$prober" 2>/dev/null; fi
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi
  if [ -n "$child" ] && child_target_v "$dir"; then kill -TERM "$tv" 2>/dev/null; fi
}
trap on_term TERM INT
# USR2: dropped for a delete (drop_services): the directory goes next, so nothing is recorded.
trap 'on_term 2' USR2

# Liveness readable across pid namespaces (the node reads a container's state dir): we hold an
# flock on "lock" while we run. fd 9 is closed for everything we start (9>&-), so the lock dies
# with us; a function run in the background must "exec 9>&-" in its subshell (a redirection on
# a function call keeps a saved copy of the fd). Locked under a temp name, then renamed: "lock"
# never exists unlocked while we live. Without flock (busybox built without it) we hold a FIFO
# "alive" open instead (mode 622: only its owner could fake a reader): it has a reader while we
# live, which the node tests with a non-blocking open for writing. Without either, readers trust
# the state files.
if [ "$liveness" = pid ]; then
  :
elif [ -w "$dir" ] && command -v flock >/dev/null 2>&1; then
  exec 9>>"$dir/.lock.tmp"
  if flock -n 9; then mv -f "$dir/.lock.tmp" "$dir/lock"; else exec 9>&-; rm -f "$dir/.lock.tmp"; fi
elif rm -f "$dir/.alive.tmp" && mkfifo -m 622 "$dir/.alive.tmp" 2>/dev/null; then
  exec 9<>"$dir/.alive.tmp"
  mv -f "$dir/.alive.tmp" "$dir/alive"
fi
sup=$$
if ident_v "$$"; then supid=$iv; else supid=-; fi
# Installed by an older vendetta: no staging directory yet.
[ -d "$dir/.new" ] || mkdir "$dir/.new" || exit 1
# Staged now, renamed into place with the first run's files (one mv): the starter reads none of
# them before our "ready".
stage supervisor.id "$$ $supid p\${token:+ $token}"
stage supervisor.pid "$$"
stage restarts 0
# A verdict of an earlier run says nothing about this one.
rm_present "$dir/health" "$dir/prober.id" "$dir/.probe.out"
if [ -f "$dir/probe" ]; then put health "starting	0	$(date -u +%Y-%m-%dT%H:%M:%SZ)	waiting for the first check"; fi
# A child of an earlier supervisor that was killed may still run: never run the service twice.
stop_child "$dir"
restarts=0
delay=1
while [ "$stopping" = 0 ]; do
  start_child
  now=$(date -u '+%s %Y-%m-%dT%H:%M:%SZ')
  t0=\${now%% *}
  stage pid "$child"
  stage started "\${now#* }"
  stage state running
  commit
  if [ "$notify" = held ]; then exec 3>&-; notify=''; fi
  # A stop that arrived while forking found no child to signal (pid.id is in place now).
  if [ "$stopping" != 0 ]; then stop_child "$dir"; break; fi
  # Checks begin once the first child runs (an orphan of an earlier run is gone by now).
  if [ -z "$prober" ]; then start_prober; fi
  wait "$child"; code=$?
  # A trapped signal interrupts wait: unless stopping, wait again until the child is really gone.
  while [ "$stopping" = 0 ] && still_child; do wait "$child"; code=$?; done
  if [ "$stopping" != 0 ]; then break; fi
  # The main process is gone but its group may not be (e.g. the "sh -c" wrapper was killed and
  # the real server lives on, holding its port): take the whole group down before restarting.
  stop_child "$dir"
  child=''
  drain
  put exit "$code"
  ran=$(( $(date +%s) - t0 ))
  policy=''
  { read -r policy < "$dir/restart"; } 2>/dev/null
  if [ "$policy" = never ] || { [ "$policy" = on-failure ] && [ "$code" = 0 ]; }; then
    say "exited with code $code; restart policy $policy: not restarting"
    end_prober
    put state exited
    exit 0
  fi
  # A child that ran a while was healthy: start over from the shortest backoff.
  if [ "$ran" -ge 10 ]; then delay=1; fi
  say "exited with code $code; restarting in $delay s"
  put state backoff
  sleep "$delay" 9>&- 3>&- & sleeper=$!
  if [ "$stopping" != 0 ]; then kill "$sleeper" 2>/dev/null; fi
  wait "$sleeper"
  sleeper=''
  delay=$((delay * 2))
  if [ "$delay" -gt 30 ]; then delay=30; fi
  if [ "$stopping" != 0 ]; then break; fi
  restarts=$((restarts + 1))
  put restarts "$restarts"
done

# Dropped: the child's group has its TERM; the deleter gives it a grace period and KILLs what is
# left. No state files, no log drain: a thousand supervisors forking for those made a delete slow.
if [ "$stopping" = 2 ]; then
  if [ -n "$child" ]; then wait "$child" 2>/dev/null; fi
  exit 0
fi
# Stopping: give the child's group a grace period after TERM, then KILL what is left.
if [ -n "$child" ]; then
  i=0
  while child_alive && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
  if child_target_v "$dir"; then kill -KILL "$tv" 2>/dev/null; fi
  wait "$child" 2>/dev/null
  put exit "$?"
  drain
fi
end_prober
say "stopped"
put state stopped
exit 0
`.replace(/\\\$\{/g, '${');

// Its second line names its content: an install finds a supervisor.sh already in place by that
// line alone (two reads), and writes it again only when it differs.
export const SUPERVISOR_SCRIPT = `#!/bin/sh
# vendetta service supervisor ${createHash('sha256').update(SUPERVISOR_BODY).digest('hex').slice(0, 16)}: runs one service, restarts it per policy, records state in files.
${SUPERVISOR_BODY}`;

/**
 * The part of a service's status block every node-side reader prints the same way, whatever its
 * liveness check: `service_fields DIR ALIVE` (the state files read with builtins, the liveness
 * verdict, the prober's health line; sets st) and `service_log_tail DIR ALIVE` (why a service
 * that is not running stopped: its last log lines). Shared with the LXD node reader.
 */
export const SERVICE_FIELDS_LIB = String.raw`service_fields() {
  st=''
  for f in hash state pid exit restarts started; do
    v=''
    { read -r v < "$1/$f"; } 2>/dev/null
    printf '%s\t%s\n' "$f" "$v"
    if [ "$f" = state ]; then st=$v; fi
  done
  printf 'alive\t%s\n' "$2"
  # The supervisor's health verdict (written and parsed by its prober), as it is.
  if [ -f "$1/health" ]; then
    v=''
    { read -r v < "$1/health"; } 2>/dev/null
    printf 'health\t%s\n' "$v"
  fi
}
service_log_tail() {
  if [ "$st" != stopped ] && { [ "$st" != running ] || [ "$2" = 0 ]; }; then
    tail -n 20 "$1/log" 2>/dev/null | while IFS= read -r l; do printf 'log\t%s\n' "$l"; done
  fi
}
`;

/**
 * Shell functions shared by the command scripts (and by drivers that batch observation):
 * `alive PID`, `stop_service DIR`, `service_status STATEDIR [lock]`, `node_status MODE NAME DIR…`,
 * `node_status_under MODE ROOT`.
 */
export const SERVICE_SHELL_LIB = PROC_LIB + SERVICE_FIELDS_LIB + String.raw`# stop_service SERVICEDIR: stop_services for one.
stop_service() { stop_services "$1"; }
# stop_services SERVICEDIR...: stop_service for many services at once, with one wait for all of
# them: a stop_service per service in the background made each poll with its own sleep (a
# thousand at once loaded a node to 300).
stop_services() {
  for sv in "$@"; do
    if sup_ours_v "$sv"; then to_supervisor stop TERM "$sv"; fi
  done
  i=0
  while [ "$i" -lt 100 ] && any_ours sup_ours_v "$@"; do nap; i=$((i + 1)); done
  # Supervisors that did not finish in time, and children a killed supervisor left running (a
  # node agent, which supervises others too, is never killed here).
  for sv in "$@"; do
    if sup_ours_v "$sv" && [ "$om" != a ]; then kill -KILL "$ov" 2>/dev/null; fi
    if child_target_v "$sv"; then kill -TERM "$tv" 2>/dev/null; fi
  done
  i=0
  while [ "$i" -lt 50 ] && any_ours child_target_v "$@"; do nap; i=$((i + 1)); done
  for sv in "$@"; do
    if child_target_v "$sv"; then kill -KILL "$tv" 2>/dev/null; fi
    if ours_v "$sv/prober.id"; then kill -TERM "$ov" 2>/dev/null; fi
    # Only over a recorded state: a service that never ran reads as stopped already, and a file
    # made here would cost the start that follows an rm.
    if [ -f "$sv/state" ]; then printf 'stopped\n' > "$sv/state"; fi
  done
}
# drop_services SERVICEDIR...: stop for a delete (the dirs are removed next): each supervisor
# gets USR2 (it TERMs its child's group and exits without recording anything), each child group
# a TERM; one wait for all, then KILL what is left. A supervisor of an older vendetta, which
# does not trap USR2, just ends; its child got the TERM all the same.
drop_services() {
  for sv in "$@"; do
    if sup_ours_v "$sv"; then to_supervisor drop USR2 "$sv"; fi
  done
  for sv in "$@"; do
    if child_target_v "$sv"; then kill -TERM "$tv" 2>/dev/null; fi
    if ours_v "$sv/prober.id"; then kill -TERM "$ov" 2>/dev/null; fi
  done
  i=0
  while [ "$i" -lt 50 ] && { any_ours sup_ours_v "$@" || any_ours child_target_v "$@"; }; do nap; i=$((i + 1)); done
  for sv in "$@"; do
    if sup_ours_v "$sv" && [ "$om" != a ]; then kill -KILL "$ov" 2>/dev/null; fi
    if child_target_v "$sv"; then kill -KILL "$tv" 2>/dev/null; fi
  done
}
# to_supervisor REQUEST SIGNAL DIR, after sup_ours_v DIR: a node agent (supervisor.id mode "a",
# its request FIFO last) gets the request line, a shell supervisor the signal.
to_supervisor() {
  if [ "$om" = a ]; then
    if [ -p "$ot" ]; then printf '%s %s\n' "$1" "$3" 1<>"$ot"; fi
  else
    kill -"$2" "$ov" 2>/dev/null
  fi
}
# any_ours CHECK DIR...: CHECK (sup_ours_v or child_target_v) finds its process for one of the DIRs.
any_ours() {
  c=$1
  shift
  for sv in "$@"; do
    if "$c" "$sv"; then return 0; fi
  done
  return 1
}
# Liveness across pid namespaces without a fork per service: every supervisor carries a random
# token in its argv ("vdsup-" and 32 hex digits, recorded in supervisor.id), and /proc/PID/cmdline
# is readable by anyone and empty for a zombie. Its subshells share that argv, so a token counts
# only with the pid the supervisor recorded, as seen inside its own pid namespace (the last NSpid
# field). Reading every process's cmdline costs ~15 µs each (a host of 10,000 processes: 0.15 s),
# so a supervisor found once is kept in a cache file, "TOKEN HOSTPID START INNERPID" ("TOKEN - - -":
# not running; tokens are never reused): a read then checks only the cached host pids, with one
# cat of their stat files (alive, not a zombie, same start time), and scans for new tokens only.
# Per-token variables (tkw_K, tkc_K, tka_K; K = the token's hex digits) keep every lookup O(1).
# These functions share the caller's globals: no name that node_status uses (m, k, a).
# tok_want STATEDIR...: the tokens to look for (tkw). tok_scan [CACHE]: tka_K=1 for each one
# running; tkok=1 when it could tell (grep -z, NSpid), else the checks below stand.
tkw=' ' tkok='' tkcache=''
# tok_key TOKEN: tk = its hex digits, if it is a token.
tok_key() {
  tk=\${1#vdsup-}
  case $1:$tk in vdsup-*:?*) ;; *) return 1 ;; esac
  case $tk in *[!0-9a-f]*) return 1 ;; esac
}
tok_want() {
  for sd in "$@"; do
    for n in "$sd"/services/*/; do
      ot=''
      { read -r op oi om ot < "$n/supervisor.id"; } 2>/dev/null
      tok_key "$ot" || continue
      tkw="$tkw$tk "
      eval "tkw_$tk=\$op"
    done
  done
}
tok_scan() {
  tkok=0
  cf=\${1:-}
  [ "$tkw" != ' ' ] && [ -r /proc/self/stat ] || return 0
  if [ -n "$cf" ]; then
    { while read -r t hp hs hi; do
        tok_key "$t" && eval "tkc_$tk=\$hp:\$hs:\$hi"
      done < "$cf"; } 2>/dev/null
  fi
  miss='' cand='' dirty=0
  for tk in $tkw; do
    v=''
    eval "v=\$tkc_$tk"
    if [ -z "$v" ]; then miss="$miss $tk"; eval "tkm_$tk=1"; continue; fi
    hp=\${v%%:*}
    [ "$hp" != - ] || continue
    eval "tkh_$hp=\$tk:\${v#*:}"
    cand="$cand $hp"
  done
  if [ -n "$miss" ]; then
    # Our own argv holds "vdsup-0" ($0): its line proves that grep read what it was asked to.
    l=$(grep -saHoz '^vdsup-[0-9a-f]*' /proc/[0-9]*/cmdline 2>/dev/null | tr '\000' '\n')
    case $l in *"/proc/$$/cmdline:vdsup-0"*) ;; *) return 0 ;; esac
    sf=''
    oifs=$IFS
    IFS='
'
    for x in $l; do
      tok_key "\${x#*:}" || continue
      tm=''
      eval "tm=\$tkm_$tk"
      [ -n "$tm" ] || continue
      p=\${x#/proc/}
      p=\${p%%/*}
      case $p in '' | *[!0-9]*) continue ;; esac
      eval "tkp_$p=\$tk"
      sf="$sf /proc/$p/status"
    done
    IFS=$oifs
    # The pids inside their namespaces; our own line proves the kernel shows NSpid.
    l=$(grep -s '^NSpid:' "/proc/$$/status" $sf 2>/dev/null)
    case $l in *"/proc/$$/status:NSpid:"*) ;; *) return 0 ;; esac
    IFS='
'
    for x in $l; do
      IFS=$oifs
      p=\${x#/proc/}
      p=\${p%%/*}
      case $p in '' | *[!0-9]*) continue ;; esac
      tk=''
      eval "tk=\$tkp_$p"
      [ -n "$tk" ] || continue
      set -- \${x#*NSpid:}
      while [ "$#" -gt 1 ]; do shift; done
      # The supervisor itself, not one of its subshells.
      w=''
      eval "w=\$tkw_$tk"
      [ "$w" = "$1" ] || continue
      eval "tkh_$p=\$tk:new:\$1"
      cand="$cand $p"
    done
    IFS=$oifs
    dirty=1
  fi
  # One cat for every candidate (ident_load): running, not a zombie and, when cached, the same
  # start time.
  out=''
  for hp in $cand; do ident_add "$hp"; done
  ident_load
  for hp in $cand; do
    ident_v "$hp" || continue
    v=''
    eval "v=\$tkh_$hp"
    tk=\${v%%:*}
    v=\${v#*:}
    hs=\${v%%:*}
    [ "$hs" = new ] || [ "$hs" = "$iv" ] || continue
    eval "tka_$tk=1"
    out="$out""vdsup-$tk $hp $iv \${v#*:}
"
  done
  tkok=1
  [ -n "$cf" ] || return 0
  for tk in $tkw; do
    al=''
    eval "al=\$tka_$tk"
    [ -z "$al" ] || continue
    out="$out""vdsup-$tk - - -
"
    v=''
    eval "v=\$tkc_$tk"
    [ "\${v%%:*}" = - ] || dirty=1
  done
  if [ "$dirty" = 1 ]; then
    tkt="$cf.\${vd_self:-$$}"
    { printf '%s' "$out" > "$tkt" && mv -f "$tkt" "$cf"; } 2>/dev/null || rm -f "$tkt" 2>/dev/null
  fi
  return 0
}
# service_status STATEDIR [lock]: one block per service, read with builtins (no fork per field).
# "lock": the reader is outside the workspace's pid namespace (the node reading a container's
# bind-mounted state dir), where pids mean nothing: the supervisor is alive while it holds its
# flock (flock -n fails), or, where it had no flock, while its "alive" FIFO has a reader (a
# non-blocking open for writing succeeds: GNU dd). Where the node lacks that tool, or the
# supervisor had neither, the files are trusted: a recorded supervisor pid counts as a live
# supervisor, and "running" as a running child.
service_status() {
  if [ "$2" = lock ] && [ -z "$tkok" ]; then tok_want "$1"; tok_scan; fi
  if [ "$2" = lock ] && [ -z "$flk" ]; then
    if command -v flock >/dev/null 2>&1; then flk=1; else flk=0; fi
    if dd if=/dev/null of=/dev/null oflag=nonblock count=0 2>/dev/null; then fnb=1; else fnb=0; fi
  fi
  for d in "$1"/services/*/; do
    service_block "\${d%/}" "$2"
  done
}
# service_block SERVICEDIR [lock]: the status block of one service (see service_status).
service_block() {
  n=$1
  [ -f "$n/command" ] || return 0
  printf 'service\t%s\n' "\${n##*/}"
  # Liveness first: a supervisor that exits meanwhile wrote its final files before exiting.
  if [ "$2" = lock ]; then
    ot=''
    if [ "$tkok" = 1 ]; then { read -r op oi om ot < "$n/supervisor.id"; } 2>/dev/null; fi
    if [ "$tkok" = 1 ] && tok_key "$ot"; then
      a=''
      eval "a=\$tka_$tk"
      a=\${a:-0}
    elif [ "$flk" = 1 ] && [ -f "$n/lock" ]; then
      if flock -n "$n/lock" true 2>/dev/null; then a=0; else a=1; fi
    elif [ "$fnb" = 1 ] && [ -p "$n/alive" ]; then
      if dd if=/dev/null of="$n/alive" oflag=nonblock count=0 2>/dev/null; then a=1; else a=0; fi
    elif [ -s "$n/supervisor.pid" ]; then a=1; else a=0; fi
  elif sup_ours_v "$n"; then a=1; else a=0; fi
  service_fields "$n" "$a"
  # "running" only while the child really runs: between its exit and the supervisor noticing,
  # the files still say running. (Pids are checked in our own pid namespace only.)
  if [ "$2" != lock ] && [ "$st" = running ] && ! child_target_v "$n"; then printf 'child\tgone\n'; fi
  service_log_tail "$n" "$a"
}
# node_status MODE NAME DIR [NAME DIR]...: service_status of many workspaces, each block headed
# by "workspace<TAB>NAME". One exec reads every workspace of a node.
node_status() {
  m=$1
  shift
  k=0
  for a in "$@"; do
    k=$((k + 1))
    [ $((k % 2)) = 0 ] || continue
    if [ "$m" = lock ]; then tok_want "$a"; else ident_collect "$a"; fi
  done
  if [ "$m" = lock ]; then tok_scan "$tkcache"; else ident_load; fi
  while [ "$#" -ge 2 ]; do
    printf 'workspace\t%s\n' "$1"
    service_status "$2" "$m"
    shift 2
  done
}
# node_status_under MODE ROOT: node_status of every workspace dir under ROOT (a leading "~/" is
# the user's home), after a "root<TAB>DIR" line with ROOT as resolved: read without listing first.
node_status_under() {
  m=$1
  case $2 in "~/"*) r="$HOME/\${2#"~/"}" ;; *) r=$2 ;; esac
  printf 'root\t%s\n' "$r"
  # The supervisors found under this root, for the next read (tok_scan).
  tkcache=$r/.supervisors
  set --
  for w in "$r"/*/; do
    [ -d "$w" ] || continue
    w=\${w%/}
    set -- "$@" "\${w##*/}" "$w"
  done
  node_status "$m" "$@"
}
`.replace(/\\\$\{/g, '${');

// These bodies may run inline in an exec batch (INLINE_SHELL): temporary files named by
// ${vd_self:-$$}, and $0 read only by a status read in 'lock' mode, whose $0 is not "sh".
function script(body: string): string {
  return `${INLINE_SHELL}${SERVICE_SHELL_LIB}\n${body}`;
}

/** A start's script: the library, and how to reach the node agent. */
function startScript(body: string): string {
  return `${INLINE_SHELL}${SERVICE_SHELL_LIB}${NODE_AGENT_SHELL}${INSTALL_SUPERVISOR_FN}\n${body}`;
}

/** A service's state directory: STATEDIR/services/NAME (the name checked). */
export function serviceDir(stateDir: string, name: string): string {
  assertServiceName(name);
  return `${stateDir}/services/${name}`;
}

export interface ServiceFiles {
  command: string;
  workdir: string;
  restart: 'always' | 'on-failure' | 'never';
  hash: string;
  /** Rotate the log at this size (bytes); the supervisor's default is 10 MiB. */
  logMaxBytes?: number;
  /** Log files kept, the current one included (log, log.1, …); default 2. */
  logFiles?: number;
  /** The health check for the supervisor to run (renderProbeFile); absent or '': none. */
  probe?: string;
}

/** How the supervisor's environment starts: empty ('clean') or as exec gives it ('inherit'). */
export type ServiceEnvBase = 'clean' | 'inherit';


/** `export K='v'` lines for the env file; keys must be shell identifiers. */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!ENV_KEY.test(k)) {
        throw new Error(`invalid environment variable name ${JSON.stringify(k)}: use letters, digits and '_', not starting with a digit`);
      }
      return `export ${k}=${quoteArg(v)}\n`;
    })
    .join('');
}

/**
 * `install_supervisor STATEDIR SOURCE`: supervisor.sh, whose second line names its content;
 * written (under a name of our own, then renamed) only when the one in place differs.
 */
const INSTALL_SUPERVISOR_FN = `install_supervisor() {
  l1='' l2='' want=\${2#*"
"}
  { read -r l1; read -r l2; } < "$1/supervisor.sh" 2>/dev/null || :
  if [ "$l2" != "\${want%%"
"*}" ]; then
    printf '%s' "$2" > "$1/.supervisor.sh.\${vd_self:-$$}" && mv -f "$1/.supervisor.sh.\${vd_self:-$$}" "$1/supervisor.sh"
  fi
}
`;

/**
 * Writes a service's files: arguments as installArgs gives them, the env file on stdin. With
 * `supervisor` false, supervisor.sh is left to the start (which needs it only without the agent).
 */
const installBody = (supervisor: boolean): string => `d="$1/services/$2"
# .new: where the supervisor stages state files before renaming them into place (it makes one
# itself when missing). A process workspace's create made $d already: no mkdir to fork.
[ -d "$d" ] || mkdir -p "$d/.new" || exit 1
${supervisor ? 'install_supervisor "$1" "$3" || exit 1' : ': supervisor.sh: installed by the start when it needs one'}
{ printf '%s' "$4" > "$d/command" && printf '%s' "$5" > "$d/workdir" && printf '%s' "$6" > "$d/restart" &&
  printf '%s' "$7" > "$d/hash" && printf '%s' "$8" > "$d/logmax" && printf '%s' "$9" > "$d/logfiles"; } || exit 1
if [ -n "\${10}" ]; then
  { printf '%s' "\${10}" > "$d/.probe.tmp" && mv -f "$d/.probe.tmp" "$d/probe"; } || exit 1
elif [ -e "$d/probe" ]; then rm -f "$d/probe" || exit 1; fi
# The env file from stdin, copied with builtins (no cat to fork); straight into place when there
# is none yet (a new service: no supervisor reads it before this install ends), else renamed.
e="$d/.env.tmp"
[ -e "$d/env" ] || e="$d/env"
# Written under umask 077, in this shell when /proc tells the umask to put back (a subshell is a
# fork per start), else in a subshell.
um=''
{ while read -r k v; do [ "$k" = Umask: ] && um=$v && break; done < /proc/self/status; } 2>/dev/null
if [ -n "$um" ]; then
  umask 077
  l=''; while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; l=''; done > "$e"; r=$?
  umask "$um"
  [ "$r" = 0 ] || exit 1
else
  (umask 077; l=''; while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; l=''; done > "$e") || exit 1
fi
if [ "$e" != "$d/env" ]; then mv -f "$e" "$d/env" || exit 1; fi`;

function installArgs(stateDir: string, name: string, files: ServiceFiles): string[] {
  return [stateDir, name, SUPERVISOR_SCRIPT, files.command, files.workdir, files.restart, files.hash,
    files.logMaxBytes === undefined ? '' : String(Math.floor(files.logMaxBytes)),
    files.logFiles === undefined ? '' : String(Math.floor(files.logFiles)), files.probe ?? ''];
}

/**
 * Writes supervisor.sh and the service's files. The env file comes on stdin (renderEnvFile):
 * it may hold secrets, which must not appear in a process list.
 */
export function installServiceArgv(stateDir: string, name: string, files: ServiceFiles): string[] {
  assertServiceName(name);
  return ['/bin/sh', '-c', `${INSTALL_SUPERVISOR_FN}${installBody(true)}`, 'sh', ...installArgs(stateDir, name, files)];
}

/** Starts a service: arguments DIR NAME STATEDIR ENVBASE LIVENESS AGENT AGENTSRC [SETTLE_S SETTLE_MS]. */
const START_BODY = `d=$1
name=$2
sup="$3/supervisor.sh"
live=$5
agent=$6
settle_s=$8
settle_ms=$9
if [ ! -f "$d/command" ]; then echo "service $name is not installed in $d" >&2; exit 1; fi
stop_service "$d"
# The node agent (./node-agent.ts) runs the service as its own child: one request, one fork. Not
# for a service with a health check (the shell supervisor's prober runs those) or an inherited
# environment, nor where the node has no perl.
if [ -n "$agent" ] && [ "$4" = clean ] && [ ! -f "$d/probe" ] && agent_up "$agent" "$7"; then
  agent_start "$d" "$agent" || exit 1
else
  if [ -n "\${supsrc:-}" ]; then install_supervisor "$3" "$supsrc" || exit 1; fi
  if [ ! -f "$sup" ]; then echo "$sup is missing: run vendetta apply to install service $name again" >&2; exit 1; fi
  rm_present "$d/supervisor.pid" "$d/supervisor.id" "$d/pid.id" "$d/state" "$d/pid" "$d/exit" "$d/started" "$d/lock" "$d/alive" "$d/health" "$d/prober.id" "$d/.ready"
  # A random token in the supervisor's argv: its liveness, readable from outside its pid namespace.
  tok=''
  { read -r tok < /proc/sys/kernel/random/uuid; } 2>/dev/null
  # Hex digits only: the node keeps per-token shell variables named after it.
  while :; do case $tok in *-*) tok=\${tok%%-*}\${tok#*-} ;; *) break ;; esac; done
  case $tok in '' | *[!0-9a-f]*) tok='' ;; *) tok=vdsup-$tok ;; esac
  case $live in pid) live=VENDETTA_LIVENESS=pid ;; *) live='' ;; esac
  if [ "$4" = clean ] && command -v env >/dev/null 2>&1; then
    set -- env -i "PATH=\${PATH:-${DEFAULT_PATH}}" "HOME=\${HOME:-/}" VENDETTA_NOTIFY=ready \${live:+"$live"} /bin/sh "$sup" "$d" \${tok:+"$tok"}
  else
    set -- /bin/sh "$sup" "$d" \${tok:+"$tok"}
    [ -z "$live" ] || export VENDETTA_LIVENESS=pid
  fi
  if command -v setsid >/dev/null 2>&1; then set -- setsid "$@"; else set -- nohup "$@"; fi
  # The supervisor says "ready" on fd 3, a pipe read here to its end, once its child runs; the end
  # of file comes once the supervisor has recorded the run too, so the loops below find their files
  # at once (no nap on a cold start). Waiting on a pipe costs no polling (a hundred starts polling
  # with sleep would keep a small node's CPU busy) and no mkfifo or rm to fork. An end of file
  # without "ready" says the supervisor ended first; the checks below then tell why.
  rdy=$(VENDETTA_NOTIFY=ready "$@" </dev/null 3>&1 >>"$d/log" 2>&1 &)
  i=0
  while [ ! -s "$d/supervisor.pid" ] && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
  if [ ! -s "$d/supervisor.pid" ]; then echo "supervisor for service $name did not start; see $d/log" >&2; exit 1; fi
  # Return once the child runs (or already ran), so what observes next sees it; an orphan of an
  # earlier supervisor may take its grace period to stop first.
  i=0
  while [ ! -s "$d/state" ] && [ "$i" -lt 100 ]; do nap; i=$((i + 1)); done
fi
# No "ready": the child ended before it became the service (command not found, a workdir or env
# file that fails). The supervisor is recording how; wait for that, not for a time.
if [ "$rdy" != ready ]; then
  i=0
  while [ ! -s "$d/exit" ] && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
fi
# Settle: watch a running child for $settle_s seconds here, on the node (none by default: the
# child's "ready" confirmed the start), then print its status block. The controller takes that
# as its confirmation of the start: no polling from afar.
if [ -n "$settle_s" ]; then
  st='' r0=''
  { read -r st < "$d/state"; read -r r0 < "$d/restarts"; } 2>/dev/null
  if [ "$st" = running ] && [ "$settle_ms" != 0 ]; then sleep "$settle_s" 2>/dev/null || sleep 1; fi
  service_block "$d" pid
  st='' r1=''
  { read -r st < "$d/state"; read -r r1 < "$d/restarts"; } 2>/dev/null
  if [ "$st" = running ] && [ "$r0" = "$r1" ] && sup_ours_v "$d" && child_target_v "$d"; then
    printf 'settled\t%s\n' "$settle_ms"
  fi
fi
exit 0`;

/**
 * (Re)start the service's supervisor, detached so it outlives this command and the controller.
 * With 'clean' (the default) it starts from an empty environment plus PATH and HOME: nothing of
 * the caller's environment (on the local node: the controller's, secrets included) reaches the
 * service, which gets only what its env file declares. With `settleMs`, it watches a running
 * child that long on the node and prints the service's status block (parseServiceStatus), with
 * "settled" when the same run lasted: the start's own confirmation. With liveness 'pid' (every
 * reader shares the service's pid namespace) the supervisor keeps no lock file for readers
 * outside it.
 */
export function startServiceArgv(stateDir: string, name: string, envBase: ServiceEnvBase = 'clean', settleMs?: number, liveness: LivenessCheck = 'lock', agent?: string): string[] {
  const dir = serviceDir(stateDir, name);
  return ['/bin/sh', '-c', startScript(START_BODY), 'sh', dir, name, stateDir, envBase, liveness, ...agentArgs(agent), ...settleArgs(settleMs)];
}

/**
 * installServiceArgv and startServiceArgv in one exec, for a workspace whose state the exec sees
 * itself (process): one round trip per service start, not two.
 */
export function installAndStartArgv(stateDir: string, name: string, files: ServiceFiles, envBase: ServiceEnvBase = 'clean', settleMs?: number, liveness: LivenessCheck = 'lock', agent?: string): string[] {
  // With the node agent, supervisor.sh is written only by a start that falls back to the shell
  // supervisor (an mv per workspace saved): its source stays at hand in supsrc.
  // The install in this shell (its failures exit the start): a subshell was a fork per start.
  const body = `${installBody(!agent)}
supsrc=$3
shift 10
${START_BODY}`;
  return ['/bin/sh', '-c', startScript(body), 'sh', ...installArgs(stateDir, name, files),
    serviceDir(stateDir, name), name, stateDir, envBase, liveness, ...agentArgs(agent), ...settleArgs(settleMs)];
}

/** The node agent's prefix (nodeAgentPrefix) and source, as the start script's arguments 6 and 7. */
function agentArgs(prefix: string | undefined): string[] {
  return prefix ? [prefix, NODE_AGENT_SCRIPT] : ['', ''];
}

/** A settle of `ms` as the start script's arguments: seconds for sleep, and the ms it reports. */
function settleArgs(ms: number | undefined): string[] {
  if (ms === undefined || !(ms >= 0)) return [];
  return [(ms / 1000).toFixed(3), String(Math.round(ms))];
}

/** Stop the supervisor and its child's process group. A missing service is fine. */
export function stopServiceArgv(stateDir: string, name: string): string[] {
  return ['/bin/sh', '-c', script('stop_service "$1"'), 'sh', serviceDir(stateDir, name)];
}

/** Stop every service of a workspace (before stopping or deleting the workspace). */
export function stopAllServicesArgv(stateDir: string): string[] {
  const body = `sd=$1; set --; for d in "$sd"/services/*/; do [ -d "$d" ] && set -- "$@" "\${d%/}"; done; [ "$#" = 0 ] || stop_services "$@"; exit 0`;
  return ['/bin/sh', '-c', script(body), 'sh', stateDir];
}

/** Stop the service and remove its directory (logs included). */
export function removeServiceArgv(stateDir: string, name: string): string[] {
  return ['/bin/sh', '-c', script('stop_service "$1"; rm -rf "$1"'), 'sh', serviceDir(stateDir, name)];
}

/**
 * How a status reader tells a live supervisor: 'pid' (recorded pid + start time, in the
 * workspace's own pid namespace) or 'lock' (the supervisor's flock, from outside that namespace:
 * the node reading a container's bind-mounted state dir).
 */
export type LivenessCheck = 'pid' | 'lock';

/** $0 of a status read: with 'lock', the token its own argv must show to the node's scan (tok_scan). */
function arg0(liveness: LivenessCheck): string {
  return liveness === 'lock' ? 'vdsup-0' : 'sh';
}

/** One exec that prints the state of every service under stateDir; parse with parseServiceStatus. */
export function serviceStatusArgv(stateDir: string, liveness: LivenessCheck = 'pid'): string[] {
  return ['/bin/sh', '-c', script('service_status "$1" "$2"'), arg0(liveness), stateDir, liveness];
}

/**
 * One exec that prints the services of many workspaces (state dirs as seen where it runs), each
 * block headed by "workspace\tNAME"; parse with parseNodeStatus.
 */
export function nodeStatusArgv(stateDirs: Array<{ name: string; dir: string }>, liveness: LivenessCheck): string[] {
  return ['/bin/sh', '-c', script('node_status "$@"'), arg0(liveness), liveness, ...stateDirs.flatMap((w) => [w.name, w.dir])];
}

/**
 * One exec that prints the services of every workspace dir under `root` ("~/…": under the SSH
 * user's home), for a reader that does not know the workspaces yet; parse with parseNodeStatusUnder.
 */
export function nodeStatusUnderArgv(root: string, liveness: LivenessCheck): string[] {
  return ['/bin/sh', '-c', script('node_status_under "$@"'), arg0(liveness), liveness, root];
}

/** Parse nodeStatusUnderArgv output: the root as the node resolved it, and workspace → services. */
export function parseNodeStatusUnder(text: string): { root: string; workspaces: Map<string, ObservedService[]> } {
  const first = /^root\t(.*)$/m.exec(text);
  // "$HOME/x" with HOME=/home/u/ reads "/home/u//x": normalized, to compare with paths made in JS.
  const root = (first?.[1] ?? '').replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  return { root, workspaces: parseNodeStatus(text) };
}

/** Parse nodeStatusArgv output: workspace name → its services (every workspace asked for). */
export function parseNodeStatus(text: string): Map<string, ObservedService[]> {
  const out = new Map<string, ObservedService[]>();
  for (const block of text.split(/^workspace\t/m).slice(1)) {
    const nl = block.indexOf('\n');
    const name = nl < 0 ? block : block.slice(0, nl);
    out.set(name, parseServiceStatus(nl < 0 ? '' : block.slice(nl + 1)));
  }
  return out;
}

/**
 * The last `tail` lines of the service's log, read across the rotated files (log.N … log.1, log);
 * `follow` follows the log by name (tail -F), so it carries on after a rotation.
 */
export function serviceLogsArgv(stateDir: string, name: string, tail: number, follow: boolean): string[] {
  const dir = serviceDir(stateDir, name);
  const lines = String(Math.max(0, Math.floor(tail)));
  if (follow) return ['tail', '-n', lines, '-F', `${dir}/log`];
  const body = `n=0
while [ -f "$1/log.$((n + 1))" ]; do n=$((n + 1)); done
{ while [ "$n" -gt 0 ]; do cat "$1/log.$n"; n=$((n - 1)); done; cat "$1/log"; } 2>/dev/null | tail -n "$2"`;
  return ['/bin/sh', '-c', body, 'sh', dir, lines];
}

const SUPERVISOR_LINE = /^vendetta-supervisor: /;

/** The service's own last output lines: the supervisor's notes and blank lines left out. */
export function serviceOutputTail(lines: string[], max = 20): string[] {
  return lines.filter((l) => !SUPERVISOR_LINE.test(l) && l.trim() !== '').slice(-max).map((l) => l.replace(/\s+$/, ''));
}

const RUN_STATES = new Set(['running', 'backoff']);

function toInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Read the decisive state from the files. A dead supervisor cannot be running or backing off; a
 * child that is gone while the files still say running is being restarted (or not) right now.
 */
function observedState(state: string | undefined, supervisorAlive: boolean, childGone = false): ObservedServiceState {
  if (state === 'stopped' || state === 'exited') return state;
  if (state === 'running' && supervisorAlive && childGone) return 'backoff';
  if (state !== undefined && RUN_STATES.has(state)) return supervisorAlive ? (state as ObservedServiceState) : 'exited';
  // No state yet: the supervisor is starting, or the service was installed but never started.
  return supervisorAlive ? 'running' : 'stopped';
}

/** Parse the output of the service_status shell function (serviceStatusArgv). */
export function parseServiceStatus(text: string): ObservedService[] {
  const records: Array<Record<string, string>> = [];
  const logs: string[][] = [];
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const key = line.slice(0, tab);
    const value = line.slice(tab + 1);
    if (key === 'service') {
      records.push({ service: value });
      logs.push([]);
    } else if (records.length > 0 && key === 'log') logs[logs.length - 1]!.push(value);
    else if (records.length > 0 && value !== '') records[records.length - 1]![key] = value;
  }
  return records.map((r, i) => {
    const state = observedState(r.state, r.alive === '1', r.child === 'gone');
    const svc: ObservedService = {
      name: r.service!,
      specHash: r.hash ?? '',
      state,
      restarts: toInt(r.restarts) ?? 0,
    };
    const pid = toInt(r.pid);
    if (pid !== undefined && state === 'running') svc.pid = pid;
    const exitCode = toInt(r.exit);
    if (exitCode !== undefined && state !== 'running') svc.exitCode = exitCode;
    if (r.started) svc.startedAt = r.started;
    // The start's own look: the node watched this run last that long (startServiceArgv's settle).
    const settled = toInt(r.settled);
    if (settled !== undefined && state === 'running') svc.settledMs = settled;
    // The verdict of a running supervisor's prober; a dead one's is stale.
    const health = r.alive === '1' && r.health !== undefined ? parseHealthLine(r.health) : undefined;
    if (health) svc.health = health;
    const tail = serviceOutputTail(logs[i]!);
    if (tail.length > 0 && state !== 'running' && state !== 'stopped') svc.logTail = tail;
    return svc;
  });
}
