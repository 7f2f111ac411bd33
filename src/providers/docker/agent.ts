// The workspace agent: the docker workspace's main process (under Docker's init) that runs
// vendetta's own service commands (start, stop, remove) inside the container when the node asks,
// so a service start is one SSH exec and never a `docker exec` (three Engine API calls and a
// runc exec: most of a cold start's cost). Everything here is pure: scripts and argv as data.
//
// The agent's script is the container's entrypoint (AGENT_SCRIPT in ./spec.ts). The node and the
// agent meet in the workspace's bind-mounted state dir (node side: the label's
// state dir; inside: STATE_DIR):
//   .agent        FIFO, made by the node with the dir; the agent holds it open and reads request
//                 names from it, one per line
//   .agent.alive  FIFO the agent holds open while it serves, so it has a reader exactly then (the
//                 node tests that with a non-blocking open for writing, as it does a supervisor's
//                 "alive" FIFO; flock is not in every busybox). No reader: no agent (a container
//                 that is stopped, or that could not open the FIFOs).
//   .req/NAME.sh  the request: a script the node wrote; the agent runs it with sh, writes its
//                 stdout to the FIFO NAME.out, its stderr to NAME.err and its exit code to NAME.rc
// The node learns the outcome when NAME.out ends. Requests run as the container's user with the
// container's environment and working dir, as a docker exec would.
import { quoteArg } from '../../transport/quote.js';
import type { ExecOptions, ExecResult, Transport } from '../../transport/types.js';

/** The requester's exit code when no agent answers: the caller falls back to a docker exec. */
export const NO_AGENT_EXIT = 75;

/** How long a request may take when the caller sets no timeout (a start waits for "ready"). */
const AGENT_TIMEOUT_MS = 120_000;

/**
 * On the node, as the SSH user: hands the script (argument 2) to the agent of the state dir
 * (argument 1) and relays its stdout, stderr and exit code. Exit NO_AGENT_EXIT, having done
 * nothing, when no agent holds .agent.alive open. The request FIFO is opened read-write, which
 * never blocks; the wait on NAME.out ends when the request ends (an agent that dies mid-request
 * leaves it to the exec's timeout).
 */
const REQUEST_BODY = `d=$1
[ -p "$d/.agent" ] && [ -p "$d/.agent.alive" ] || exit ${NO_AGENT_EXIT}
dd if=/dev/null of="$d/.agent.alive" oflag=nonblock count=0 2>/dev/null || exit ${NO_AGENT_EXIT}
mkdir -p "$d/.req" || exit 1
n=r$$
q="$d/.req/$n"
rm -f "$q.sh" "$q.out" "$q.err" "$q.rc"
printf '%s\\n' "$2" > "$q.sh" && mkfifo -m 666 "$q.out" || exit 1
printf '%s\\n' "$n" 1<>"$d/.agent"
while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; l=''; done < "$q.out"
rc=''
{ read -r rc < "$q.rc"; } 2>/dev/null
if [ -s "$q.err" ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l" >&2; l=''; done < "$q.err"; fi
rm -f "$q.sh" "$q.out" "$q.err" "$q.rc"
exit "\${rc:-1}"`;

/**
 * The node-side argv that runs `argv` (a `/bin/sh -c BODY NAME ARGS…` command, as the service
 * manager builds them) through the agent of `nodeStateDir`. Undefined for any other shape: those
 * keep the docker exec. `before`: a node-side command run first, in the same exec, with the
 * exec's stdin (installing a service's files, then starting it: one round trip); its failure is
 * the exec's.
 */
export function agentRequestArgv(nodeStateDir: string, argv: string[], before?: string[]): string[] | undefined {
  if (argv.length < 3 || argv[0] !== '/bin/sh' || argv[1] !== '-c') return undefined;
  const [, , body, , ...args] = argv;
  const script = `set -- ${args.map(quoteArg).join(' ')}\n${body}`;
  if (!before) return ['/bin/sh', '-c', REQUEST_BODY, 'sh', nodeStateDir, script];
  const first = 'd=$1 s=$2\nshift 2\n"$@" || exit $?\nset -- "$d" "$s"\n';
  return ['/bin/sh', '-c', first + REQUEST_BODY, 'sh', nodeStateDir, script, ...before];
}

/** What the node's mkdir of a new state dir adds: the agent's two FIFOs, the node user's. */
export const MAKE_AGENT_FILES = 'mkfifo -m 600 -- "$1/.agent" "$1/.agent.alive"';

/**
 * An exec for the service manager's commands: through the agent when the command has the shape
 * and needs nothing a node exec would give the wrong side (stdin, env, cwd); the docker exec
 * otherwise, and when no agent answers.
 */
export function agentExec(
  transport: Pick<Transport, 'exec'>,
  nodeStateDir: string,
  dockerExec: (argv: string[], opts?: ExecOptions) => Promise<ExecResult>,
): (argv: string[], opts?: ExecOptions, before?: string[]) => Promise<ExecResult> {
  return async (argv, opts, before) => {
    // stdin, env and cwd are the node command's (before) or nobody's: a docker exec keeps them.
    const plain = opts?.env === undefined && opts?.cwd === undefined && (before !== undefined || opts?.stdin === undefined);
    const request = plain ? agentRequestArgv(nodeStateDir, argv, before) : undefined;
    if (!request) {
      if (before) {
        const done = await transport.exec(before, opts);
        if (done.code !== 0) return done;
      }
      return dockerExec(argv, before ? undefined : opts);
    }
    // Bounded: an agent that holds its FIFO but cannot answer (a paused container) must not hold
    // the pass forever, where a docker exec would have failed at once.
    const res = await transport.exec(request, { ...opts, timeoutMs: opts?.timeoutMs ?? AGENT_TIMEOUT_MS });
    return res.code === NO_AGENT_EXIT ? dockerExec(argv, before ? undefined : opts) : res;
  };
}
