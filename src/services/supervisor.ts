// The service supervisor and the commands that drive it, as data. Everything here is pure: argv
// builders and a parser. The manager (./manager.ts) runs them through a WorkspaceRuntime.
//
// On disk, per service:  <stateDir>/services/<name>/
//   written by us:       command  env (0600, `export K='v'`)  workdir  restart  hash
//   kept by supervisor:  supervisor.pid  pid  state  exit  restarts  started  log
// <stateDir>/supervisor.sh is the script below, shared by the services of one workspace.
import type { ObservedService, ObservedServiceState } from '../model/types.js';
import { quoteArg } from '../transport/quote.js';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function assertServiceName(name: string): void {
  if (!NAME.test(name)) {
    throw new Error(`invalid service name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
}

/** Liveness helpers. kill -0 also succeeds for zombies (a container's PID 1 may never reap them),
 * so where /proc exists a zombie counts as dead. */
const PROC_LIB = String.raw`nap() { sleep 0.1 2>/dev/null || sleep 1; }
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  case $(cat "/proc/$1/stat" 2>/dev/null) in *") Z "*) return 1 ;; esac
  return 0
}
group_alive() {
  pg=$1
  kill -0 "-$pg" 2>/dev/null || return 1
  [ -d /proc/self ] || return 0
  for f in /proc/[0-9]*/stat; do
    { read -r s < "$f"; } 2>/dev/null || continue
    set -- \${s##*) }
    if [ "$3" = "$pg" ] && [ "$1" != Z ]; then return 0; fi
  done
  return 1
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
 * - `wait` is interrupted by a trapped signal; we wait again until the child is really reaped,
 *   except when stopping: then we poll the group for a grace period and KILL what is left.
 * - Every state file is written to a temp file and renamed, so readers never see half a value.
 */
export const SUPERVISOR_SCRIPT = `#!/bin/sh
# vendetta service supervisor: runs one service, restarts it per policy, records state in files.
${PROC_LIB}` + String.raw`
cd "$1" || exit 1
dir=$(pwd)
child=''
grp=''
sleeper=''
stopping=0
code=''

put() { printf '%s\n' "$2" > "$dir/.$1.tmp" && mv -f "$dir/.$1.tmp" "$dir/$1"; }
say() { printf 'vendetta-supervisor: %s\n' "$*" >> "$dir/log"; }
child_alive() { if [ "$grp" = "-$child" ]; then group_alive "$child"; else alive "$child"; fi; }

# The service itself: cd, load env, hand the command text to a fresh shell.
run='cd "$(cat "$1/workdir")" || exit 127
. "$1/env" || exit 127
exec /bin/sh -c "$(cat "$1/command")"'

start_child() {
  if command -v setsid >/dev/null 2>&1; then
    setsid /bin/sh -c "$run" sh "$dir" </dev/null >>"$dir/log" 2>&1 &
    child=$!
    grp="-$child"
  else
    /bin/sh -c "$run" sh "$dir" </dev/null >>"$dir/log" 2>&1 &
    child=$!
    grp=$child
  fi
}

on_term() {
  stopping=1
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi
  if [ -n "$child" ]; then kill -TERM $grp 2>/dev/null; fi
}
trap on_term TERM INT

put supervisor.pid "$$"
put restarts 0
restarts=0
delay=1
while [ "$stopping" = 0 ]; do
  start_child
  # A stop that arrived while forking found no child to signal.
  if [ "$stopping" = 1 ]; then kill -TERM $grp 2>/dev/null; break; fi
  put pid "$child"
  put started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  put state running
  t0=$(date +%s)
  wait "$child"; code=$?
  # A trapped signal interrupts wait: unless stopping, wait again until the child is really gone.
  while [ "$stopping" = 0 ] && kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
  if [ "$stopping" = 1 ]; then break; fi
  # The main process is gone but its group may not be (e.g. the "sh -c" wrapper was killed and
  # the real server lives on, holding its port): take the whole group down before restarting.
  if [ "$grp" = "-$child" ] && group_alive "$child"; then
    kill -TERM "$grp" 2>/dev/null
    i=0
    while group_alive "$child" && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
    if group_alive "$child"; then kill -KILL "$grp" 2>/dev/null; fi
  fi
  child=''
  put exit "$code"
  ran=$(( $(date +%s) - t0 ))
  policy=$(cat "$dir/restart" 2>/dev/null)
  if [ "$policy" = never ] || { [ "$policy" = on-failure ] && [ "$code" = 0 ]; }; then
    say "exited with code $code; restart policy $policy: not restarting"
    put state exited
    exit 0
  fi
  # A child that ran a while was healthy: start over from the shortest backoff.
  if [ "$ran" -ge 10 ]; then delay=1; fi
  say "exited with code $code; restarting in $delay s"
  put state backoff
  sleep "$delay" & sleeper=$!
  if [ "$stopping" = 1 ]; then kill "$sleeper" 2>/dev/null; fi
  wait "$sleeper"
  sleeper=''
  delay=$((delay * 2))
  if [ "$delay" -gt 30 ]; then delay=30; fi
  if [ "$stopping" = 1 ]; then break; fi
  restarts=$((restarts + 1))
  put restarts "$restarts"
done

# Stopping: give the child's group a grace period after TERM, then KILL what is left.
if [ -n "$child" ]; then
  i=0
  while child_alive && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
  if child_alive; then kill -KILL $grp 2>/dev/null; fi
  wait "$child" 2>/dev/null
  put exit "$?"
fi
say "stopped"
put state stopped
exit 0
`;

/**
 * Shell functions shared by the command scripts (and by drivers that batch observation):
 * `alive PID`, `stop_service DIR`, `service_status STATEDIR`.
 */
export const SERVICE_SHELL_LIB = PROC_LIB + String.raw`stop_service() {
  sp=$(cat "$1/supervisor.pid" 2>/dev/null)
  if alive "$sp"; then
    kill -TERM "$sp" 2>/dev/null
    i=0
    while alive "$sp" && [ "$i" -lt 100 ]; do nap; i=$((i + 1)); done
    if alive "$sp"; then
      # The supervisor did not finish in time: take its child group down with it.
      kill -KILL "$sp" 2>/dev/null
      cp=$(cat "$1/pid" 2>/dev/null)
      if [ -n "$cp" ]; then kill -KILL "-$cp" 2>/dev/null || kill -KILL "$cp" 2>/dev/null; fi
    fi
  fi
  if [ -d "$1" ]; then printf 'stopped\n' > "$1/state"; fi
}
service_status() {
  for d in "$1"/services/*/; do
    [ -f "$d/command" ] || continue
    n=\${d%/}
    printf 'service\t%s\n' "\${n##*/}"
    for f in hash state pid exit restarts started; do
      printf '%s\t%s\n' "$f" "$(cat "$d$f" 2>/dev/null)"
    done
    if alive "$(cat "$d/supervisor.pid" 2>/dev/null)"; then printf 'alive\t1\n'; else printf 'alive\t0\n'; fi
  done
}
`.replace(/\\\$\{/g, '${');

function script(body: string): string {
  return `${SERVICE_SHELL_LIB}\n${body}`;
}

function serviceDir(stateDir: string, name: string): string {
  assertServiceName(name);
  return `${stateDir}/services/${name}`;
}

export interface ServiceFiles {
  command: string;
  workdir: string;
  restart: 'always' | 'on-failure' | 'never';
  hash: string;
}

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
 * Writes supervisor.sh and the service's files. The env file comes on stdin (renderEnvFile):
 * it may hold secrets, which must not appear in a process list.
 */
export function installServiceArgv(stateDir: string, name: string, files: ServiceFiles): string[] {
  assertServiceName(name);
  const body = `set -e
d="$1/services/$2"
mkdir -p "$d"
printf '%s' "$3" > "$1/.supervisor.sh.tmp"
mv -f "$1/.supervisor.sh.tmp" "$1/supervisor.sh"
printf '%s' "$4" > "$d/command"
printf '%s' "$5" > "$d/workdir"
printf '%s' "$6" > "$d/restart"
printf '%s' "$7" > "$d/hash"
(umask 077; cat > "$d/.env.tmp")
mv -f "$d/.env.tmp" "$d/env"`;
  return ['/bin/sh', '-c', body, 'sh', stateDir, name, SUPERVISOR_SCRIPT, files.command, files.workdir, files.restart, files.hash];
}

/** (Re)start the service's supervisor, detached so it outlives this command and the controller. */
export function startServiceArgv(stateDir: string, name: string): string[] {
  const dir = serviceDir(stateDir, name);
  const body = `d=$1
if [ ! -f "$d/command" ]; then echo "service $2 is not installed in $d" >&2; exit 1; fi
stop_service "$d"
rm -f "$d/supervisor.pid" "$d/state" "$d/pid" "$d/exit" "$d/started"
if command -v setsid >/dev/null 2>&1; then
  setsid /bin/sh "$3/supervisor.sh" "$d" </dev/null >>"$d/log" 2>&1 &
else
  nohup /bin/sh "$3/supervisor.sh" "$d" </dev/null >>"$d/log" 2>&1 &
fi
i=0
while [ ! -s "$d/supervisor.pid" ] && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
if [ ! -s "$d/supervisor.pid" ]; then echo "supervisor for service $2 did not start; see $d/log" >&2; exit 1; fi`;
  return ['/bin/sh', '-c', script(body), 'sh', dir, name, stateDir];
}

/** Stop the supervisor and its child's process group. A missing service is fine. */
export function stopServiceArgv(stateDir: string, name: string): string[] {
  return ['/bin/sh', '-c', script('stop_service "$1"'), 'sh', serviceDir(stateDir, name)];
}

/** Stop every service of a workspace (before stopping or deleting the workspace). */
export function stopAllServicesArgv(stateDir: string): string[] {
  const body = `for d in "$1"/services/*/; do [ -d "$d" ] && stop_service "\${d%/}"; done; exit 0`;
  return ['/bin/sh', '-c', script(body), 'sh', stateDir];
}

/** Stop the service and remove its directory (logs included). */
export function removeServiceArgv(stateDir: string, name: string): string[] {
  return ['/bin/sh', '-c', script('stop_service "$1"; rm -rf "$1"'), 'sh', serviceDir(stateDir, name)];
}

/** One exec that prints the state of every service under stateDir; parse with parseServiceStatus. */
export function serviceStatusArgv(stateDir: string): string[] {
  return ['/bin/sh', '-c', script('service_status "$1"'), 'sh', stateDir];
}

export function serviceLogsArgv(stateDir: string, name: string, tail: number, follow: boolean): string[] {
  const log = `${serviceDir(stateDir, name)}/log`;
  const lines = String(Math.max(0, Math.floor(tail)));
  return follow ? ['tail', '-n', lines, '-f', log] : ['tail', '-n', lines, log];
}

const RUN_STATES = new Set(['running', 'backoff']);

function toInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

/** Read the decisive state from the files. A dead supervisor cannot be running or backing off. */
function observedState(state: string | undefined, supervisorAlive: boolean): ObservedServiceState {
  if (state === 'stopped' || state === 'exited') return state;
  if (state !== undefined && RUN_STATES.has(state)) return supervisorAlive ? (state as ObservedServiceState) : 'exited';
  // No state yet: the supervisor is starting, or the service was installed but never started.
  return supervisorAlive ? 'running' : 'stopped';
}

/** Parse the output of the service_status shell function (serviceStatusArgv). */
export function parseServiceStatus(text: string): ObservedService[] {
  const records: Array<Record<string, string>> = [];
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const key = line.slice(0, tab);
    const value = line.slice(tab + 1);
    if (key === 'service') records.push({ service: value });
    else if (records.length > 0 && value !== '') records[records.length - 1]![key] = value;
  }
  return records.map((r) => {
    const state = observedState(r.state, r.alive === '1');
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
    return svc;
  });
}
