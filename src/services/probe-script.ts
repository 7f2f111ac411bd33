// Health checks run by the supervisor inside the workspace, the way kubelet runs probes: the
// controller reads the verdict (the `health` file) instead of probing. Pure: the probe file we
// install, the shell code of the prober, and the parser of its verdict line.
//
// Files in the service dir:
//   probe    written at install: "KIND INTERVAL_MS TIMEOUT_MS RETRIES START_PERIOD_MS PORT\n" then
//            the http path or the exec command (verbatim, may span lines)
//   health   kept by the prober: "STATUS\tFAILURES\tCHECKED_AT\tMESSAGE", one line, replaced atomically
//   prober.id  "PID START p" of the prober, so a stop finds it even when its supervisor was killed
import type { HealthcheckSpec, ObservedHealth } from '../model/types.js';
import { parseDuration } from '../model/quantity.js';

/** The defaults of a healthcheck's timing (as the engine applies them). */
export const DEFAULT_HEALTHCHECK = { interval: '2s', timeout: '1s', retries: 3, startPeriod: '0s' } as const;

export interface ProbeSpec {
  kind: 'exec' | 'tcp' | 'http';
  /** tcp/http: the port on 127.0.0.1 inside the workspace. */
  port?: number;
  /** http: the path, starting with "/". */
  path?: string;
  /** exec: the command, run by /bin/sh -c in the service's workdir with its env. */
  command?: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** The probe the supervisor runs for this healthcheck, defaults applied; undefined: none. */
export function probeSpec(hc: HealthcheckSpec | undefined): ProbeSpec | undefined {
  if (!hc || !(hc.exec || hc.tcp || hc.http)) return undefined;
  const timing = {
    // A zero interval would make the prober spin; the schema asks for a positive one anyway.
    intervalMs: Math.max(1, parseDuration(hc.interval ?? DEFAULT_HEALTHCHECK.interval)),
    timeoutMs: Math.max(1, parseDuration(hc.timeout ?? DEFAULT_HEALTHCHECK.timeout)),
    retries: Math.max(1, Math.floor(hc.retries ?? DEFAULT_HEALTHCHECK.retries)),
    startPeriodMs: parseDuration(hc.startPeriod ?? DEFAULT_HEALTHCHECK.startPeriod),
  };
  if (hc.exec) return { kind: 'exec', command: hc.exec.command, ...timing };
  if (hc.tcp) return { kind: 'tcp', port: hc.tcp.port, ...timing };
  const path = hc.http!.path ?? '/';
  return { kind: 'http', port: hc.http!.port, path: path.startsWith('/') ? path : `/${path}`, ...timing };
}

/** The probe file (see the header of this module); '' for no probe (the install removes it). */
export function renderProbeFile(spec: ProbeSpec | undefined): string {
  if (!spec) return '';
  const port = spec.port ?? 0;
  if (spec.kind !== 'exec' && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new Error(`healthcheck ${spec.kind} port ${port} is not a port number: use 1-65535`);
  }
  const body = spec.kind === 'exec' ? spec.command ?? '' : spec.kind === 'http' ? spec.path ?? '/' : '';
  if (spec.kind === 'http' && /[\s]/.test(body)) {
    throw new Error(`healthcheck http path ${JSON.stringify(body)} contains white space: percent-encode it (%20)`);
  }
  const n = (x: number) => String(Math.round(x));
  return `${spec.kind} ${n(spec.intervalMs)} ${n(spec.timeoutMs)} ${n(spec.retries)} ${n(spec.startPeriodMs)} ${n(port)}\n${body}`;
}

const STATUSES = new Set<ObservedHealth['status']>(['starting', 'healthy', 'unhealthy', 'unknown']);
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/**
 * The verdict line the prober writes ("STATUS\tFAILURES\tCHECKED_AT\tMESSAGE"). Strict: anything
 * else (a half-written or foreign file) is no verdict, so the controller checks for itself.
 */
export function parseHealthLine(line: string): ObservedHealth | undefined {
  const parts = line.replace(/\r?\n$/, '').split('\t');
  if (parts.length < 4) return undefined;
  const [status, failures, checkedAt] = parts as [string, string, string];
  const message = parts.slice(3).join(' ');
  if (!STATUSES.has(status as ObservedHealth['status'])) return undefined;
  if (!/^\d{1,9}$/.test(failures)) return undefined;
  if (!ISO_SECONDS.test(checkedAt)) return undefined;
  return { status: status as ObservedHealth['status'], failures: Number(failures), message, checkedAt };
}

/**
 * The prober: POSIX sh (dash, busybox ash), a function of the supervisor script run as its
 * background subshell (`probe_loop 9>&- &`), so `$$` and `$dir` are the supervisor's.
 *
 * - Checks target 127.0.0.1 inside the workspace. Tools, first found wins: tcp: bash's /dev/tcp,
 *   nc (-z, else busybox's `-e true`, else plain), wget; http: wget -S, bash /dev/tcp with a
 *   hand-written GET, curl, nc. A tool that crashes or turns out unusable (busybox 1.35's static
 *   wget segfaults on -T, so no tool gets a timeout flag; a bash without /dev/tcp; an nc without
 *   the flag) is dropped and the next one tried at once. No tool: status `unknown` (the controller
 *   checks instead), and the tools are looked for again on every round.
 * - Every check runs in the background within the timeout (`timeout`, else a watchdog) and is
 *   waited for, so a TERM stops the prober without leaving a check behind.
 * - Verdicts as the engine judged them: a success makes it healthy and resets the failures;
 *   failures within startPeriod do not count; `retries` consecutive counted failures make it
 *   unhealthy. Until the first success, during the first interval after a (re)start of the
 *   service, checks repeat every 0.2 s and do not count, so a dependant waits for the service,
 *   not for the interval.
 * - A new start of the service (its `started` file changes) starts the verdict over.
 * - It exits once its supervisor is gone (same pid and start time, read without forking), and
 *   writes nothing after that: a new supervisor may own the directory by then.
 */
export const PROBER_SHELL = String.raw`
probe_loop() {
  set -f
  # A proxy from an inherited environment must not answer for 127.0.0.1.
  unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
  job=''
  dog=''
  trap 'if [ -n "$job" ]; then kill -TERM "$job" 2>/dev/null; fi; exit 0' TERM INT
  out="$dir/.probe.out"
  tab=$(printf '\t')
  cr=$(printf '\r')
  { read -r kind iv to retries sp port; pbody=''; l=''
    while IFS= read -r l; do pbody="$pbody$l
"; l=''; done; pbody="$pbody$l"; } < "$dir/probe" 2>/dev/null
  case "$kind:$iv:$to:$retries:$sp:$port" in
    exec:* | tcp:* | http:*) ;;
    *) probe_put unknown 0 "the probe file in $dir cannot be read: reinstall the service (vendetta apply)"; return 0 ;;
  esac
  for v in "$iv" "$to" "$retries" "$sp" "$port"; do
    case $v in '' | *[!0-9]*) probe_put unknown 0 "the probe file in $dir is malformed: reinstall the service (vendetta apply)"; return 0 ;; esac
  done
  [ "$iv" -ge 1 ] || iv=1
  [ "$retries" -ge 1 ] || retries=1
  # Seconds as decimals for timeout/sleep; whole seconds (at least 1) where only those work.
  tos=$((to / 1000)).$((to % 1000 / 100))$((to % 100 / 10))$((to % 10))
  tosi=$(((to + 999) / 1000))
  ivs=$((iv / 1000)).$((iv % 1000 / 100))$((iv % 100 / 10))$((iv % 10))
  if ! sleep 0.01 2>/dev/null; then ivs=$(((iv + 999) / 1000)); fi
  tmo=''
  if timeout 5 true 2>/dev/null; then tmo=1
  elif timeout -t 5 true 2>/dev/null; then tmo=t
  fi
  label="127.0.0.1:$port"
  url="http://127.0.0.1:$port$pbody"
  if [ "$kind" = exec ]; then
    label=\${pbody%%"
"*}
    probe_clean label 60
  fi
  broken=' '
  ncv=''
  wgv=''
  status=starting
  fails=0
  seen=x
  t0=0
  quick=0
  while probe_sup_here; do
    { read -r st < "$dir/started"; } 2>/dev/null || st=''
    if [ "$st" != "$seen" ]; then
      seen=$st
      status=starting
      fails=0
      t0=$(date -u +%s)
      quick=$((iv / 200))
    fi
    probe_check
    set -- $(date -u '+%s %Y-%m-%dT%H:%M:%SZ')
    now=$1
    iso=$2
    probe_sup_here || exit 0
    if [ "$ok" = u ]; then
      status=unknown
      fails=0
    elif [ "$ok" = 0 ]; then
      status=healthy
      fails=0
      quick=0
    else
      [ "$status" != unknown ] || status=starting
      # In the start period when (now - t0 - 1) s, the least time that surely passed, is short of it.
      if [ "$quick" -gt 0 ] || { [ "$sp" -gt 0 ] && [ $(((now - t0 - 1) * 1000)) -lt "$sp" ]; }; then
        :
      else
        fails=$((fails + 1))
        if [ "$fails" -ge "$retries" ]; then status=unhealthy; fi
      fi
    fi
    probe_put "$status" "$fails" "$msg" "$iso"
    if [ "$quick" -gt 0 ] && [ "$status" = starting ]; then
      quick=$((quick - 1))
      sleep 0.2 2>/dev/null & job=$!
    else
      quick=0
      sleep "$ivs" & job=$!
    fi
    wait "$job"
    job=''
  done
}

# probe_put STATUS FAILURES MESSAGE [ISO]: the verdict, one line, replaced atomically.
probe_put() {
  pt=\${4:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$pt" "$3" > "$dir/.health.tmp" && mv -f "$dir/.health.tmp" "$dir/health"
}

# Our supervisor still runs: same pid and start time (read, no fork).
probe_sup_here() {
  if [ -d /proc/self ] && [ "$supid" != - ]; then
    { read -r ps_s < "/proc/$sup/stat"; } 2>/dev/null || return 1
    set -- \${ps_s##*) }
    [ "$1" != Z ] || return 1
    shift 19
    [ "$1" = "$supid" ]
    return
  fi
  kill -0 "$sup" 2>/dev/null
}

# probe_clean VAR MAX: VAR without tabs and CRs, at most MAX characters.
probe_clean() {
  eval "pc_v=\$$1"
  while :; do
    case $pc_v in
      *"$tab"*) pc_v="\${pc_v%%"$tab"*} \${pc_v#*"$tab"}" ;;
      *"$cr"*) pc_v="\${pc_v%%"$cr"*} \${pc_v#*"$cr"}" ;;
      *) break ;;
    esac
  done
  if [ "\${#pc_v}" -gt "$2" ]; then pc_v="$(printf "%.$2s" "$pc_v")…"; fi
  eval "$1=\$pc_v"
}

# The last non-empty line of the check's output, cleaned.
probe_last() {
  last=''
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in '' | "$cr") ;; *) last=$l ;; esac
    l=''
  done < "$out"
  probe_clean last 200
}

# probe_has TEXT: the check's output contains TEXT.
probe_has() {
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in *"$1"*) return 0 ;; esac
    l=''
  done < "$out"
  return 1
}

# bounded CMD...: run CMD in the background within the timeout, output in $out; rc: its exit
# status; timedout=1 when the timeout ended it.
bounded() {
  case $tmo in
    1) timeout "$tos" "$@" </dev/null >"$out" 2>&1 & job=$! ;;
    t) timeout -t "$tosi" "$@" </dev/null >"$out" 2>&1 & job=$! ;;
    *)
      "$@" </dev/null >"$out" 2>&1 & job=$!
      # Without timeout: a watchdog. The check is our unreaped child until wait returns, so its
      # pid cannot be someone else's when the watchdog fires.
      (sleep "$tosi"; kill -KILL "$job" 2>/dev/null) </dev/null >/dev/null 2>&1 & dog=$!
      ;;
  esac
  wait "$job"
  rc=$?
  job=''
  if [ -n "$dog" ]; then kill "$dog" 2>/dev/null; wait "$dog" 2>/dev/null; dog=''; fi
  case $rc in 124 | 137 | 143) timedout=1 ;; *) timedout=0 ;; esac
}

# The first HTTP status code in the output ("HTTP/1.1 200 OK", wget -S indents it).
probe_code() {
  code=''
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in
      *HTTP/*)
        set -- \${l#*HTTP/}
        code=\${2%"$cr"}
        break
        ;;
    esac
    l=''
  done < "$out"
  case $code in [1-5][0-9][0-9]) return 0 ;; esac
  code=''
  return 1
}

# A tool that cannot do the job here: killed by a signal other than our timeout's, not runnable,
# or printing its usage (a flag it does not know).
probe_tool_failed() {
  if [ "$timedout" = 0 ] && [ "$rc" -ge 126 ]; then return 0; fi
  [ "$rc" != 0 ] && { probe_has 'sage:' || probe_has 'nrecognized option' || probe_has 'nvalid option' || probe_has 'llegal option'; }
}

# Why a connection failed, from the tool's output.
probe_why() {
  if [ "$timedout" = 1 ]; then why="no answer after $tos s"
  elif probe_has refused || probe_has 'Connection refused'; then why='connection refused'
  elif probe_has 'unreachable'; then why='unreachable'
  else probe_last; why=\${last:-"$1 exited with $rc"}
  fi
}

probe_nc_variant() {
  [ -z "$ncv" ] || return 0
  bounded nc -h
  # busybox lists "[-e PROG]": connect, then run PROG on the socket (true: just connect).
  if probe_has ' -z'; then ncv=z
  elif probe_has '-e PROG' || probe_has ' -e'; then ncv=e
  else ncv=w
  fi
}

probe_tcp_bash() {
  bounded bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' bash "$port"
  if [ "$rc" != 0 ] && [ "$timedout" = 0 ] && probe_has 'No such file'; then ok=x; return; fi
  probe_judge_tcp bash
}

probe_tcp_nc() {
  probe_nc_variant
  case $ncv in
    z) bounded nc -z -w "$tosi" 127.0.0.1 "$port" ;;
    e) bounded nc 127.0.0.1 "$port" -e true ;;
    *) bounded nc -w "$tosi" 127.0.0.1 "$port" ;;
  esac
  probe_judge_tcp nc
}

probe_tcp_wget() {
  # Any answer, even an HTTP error or garbage, means something accepted the connection.
  bounded wget -O /dev/null "http://$label/"
  if [ "$rc" = 0 ] || { [ "$timedout" = 0 ] && { probe_has 'server returned error' || probe_has 'ERROR ' || probe_has 'bad header' || probe_has 'No data received' || probe_has 'error getting response' || probe_has 'Read error'; }; }; then
    rc=0
  fi
  probe_judge_tcp wget
}

probe_judge_tcp() {
  if probe_tool_failed; then ok=x; return; fi
  if [ "$rc" = 0 ]; then ok=0; msg="tcp $label: connected"; return; fi
  probe_why "$1"
  ok=1
  msg="tcp $label: $why"
}

probe_http_wget() {
  # No -T: busybox 1.35's static wget crashes on it; timeout bounds the check instead.
  if [ -z "$wgv" ]; then bounded wget --version; if probe_has 'GNU Wget'; then wgv=gnu; else wgv=bb; fi; fi
  if [ "$wgv" = gnu ]; then bounded wget -S -t 1 -O /dev/null "$url"; else bounded wget -S -O /dev/null "$url"; fi
  probe_judge_http wget
}

probe_http_bash() {
  bounded bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nUser-Agent: vendetta-healthcheck\r\nConnection: close\r\n\r\n" "$2" "$1" >&3
IFS= read -r l <&3 && printf "%s\n" "$l"' bash "$port" "$pbody"
  if [ "$rc" != 0 ] && [ "$timedout" = 0 ] && probe_has 'No such file'; then ok=x; return; fi
  probe_judge_http bash
}

probe_http_curl() {
  bounded curl -sS -o /dev/null -w 'HTTP/curl %{http_code}\n' --noproxy '*' "$url"
  probe_judge_http curl
}

probe_http_nc() {
  probe_nc_variant
  if [ "$ncv" = e ]; then
    # busybox nc: the socket is the program's stdin/stdout; the status line goes to stderr.
    bounded nc 127.0.0.1 "$port" -e /bin/sh -c 'printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nUser-Agent: vendetta-healthcheck\r\nConnection: close\r\n\r\n" "$1" "$2"; IFS= read -r l; printf "%s\n" "$l" >&2' sh "$pbody" "$port"
  else
    bounded /bin/sh -c 'printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nUser-Agent: vendetta-healthcheck\r\nConnection: close\r\n\r\n" "$1" "$2" | nc -w "$3" 127.0.0.1 "$2"' sh "$pbody" "$port" "$tosi"
  fi
  probe_judge_http nc
}

probe_judge_http() {
  # A status line decides, whatever the tool did after it (wget follows redirects, say).
  if probe_code; then
    if [ "$code" -ge 200 ] && [ "$code" -lt 400 ]; then ok=0; else ok=1; fi
    msg="$url → $code"
    return
  fi
  if probe_tool_failed; then ok=x; return; fi
  probe_why "$1"
  ok=1
  msg="$url: $why"
}

probe_exec() {
  bounded /bin/sh -c 'cd "$(cat "$1/workdir")" || exit 127
. "$1/env" || exit 127
exec /bin/sh -c "$2"' sh "$dir" "$pbody"
  if [ "$timedout" = 1 ]; then ok=1; msg="exec \"$label\": no result after $tos s"; return; fi
  if [ "$rc" = 0 ]; then ok=0; msg="exec \"$label\" → exit 0"; return; fi
  ok=1
  probe_last
  msg="exec \"$label\" → exit $rc\${last:+: $last}"
}

# One check: ok=0 (passed), 1 (failed) or u (no tool here); msg says what it saw.
probe_check() {
  if [ "$kind" = exec ]; then probe_exec; return; fi
  if [ "$kind" = tcp ]; then tools='bash nc wget'; else tools='wget bash curl nc'; fi
  while :; do
    tool=''
    for t in $tools; do
      case $broken in *" $t "*) continue ;; esac
      if command -v "$t" >/dev/null 2>&1; then tool=$t; break; fi
    done
    if [ -z "$tool" ]; then
      ok=u
      if [ "$kind" = tcp ]; then need='bash, nc or wget'; else need='wget, bash, curl or nc'; fi
      msg="no tool for a $kind check in the workspace: install $need (busybox has nc and wget); the controller checks meanwhile"
      return
    fi
    "probe_\${kind}_$tool"
    [ "$ok" = x ] || return
    broken="$broken$tool "
  done
}
`.replace(/\\\$\{/g, '${');
