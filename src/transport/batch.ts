// Exec batching: the commands asked of one node in the same turn of the event loop run as ONE
// exec, in parallel on the node, instead of one SSH session each. At 100 workspaces a node a cold
// pass asks for hundreds of small execs (make a directory, start a service); each session costs
// sshd a fork, a login shell and a channel round trip, which dominated cold converges at scale.
//
// Pure: the script for a batch and the parsing of its output. The transport (./ssh.ts) decides
// what may be batched and runs the script through `sh -s` (sent on stdin: one shell argument is
// limited to 128 KiB, and a batch of service starts is larger).
//
// On the node, every member runs in its own background subshell with its own stdin (its input,
// else /dev/null), its stdout and stderr in files of a private temporary directory, each file
// headed by a marker line carrying a random nonce; after `wait` one `cat` prints them all. Words longer
// than LONG_WORD (the service shell library every start carries) are sent once, as variables.
import { randomBytes } from 'node:crypto';
import { quoteArg } from './quote.js';

export interface BatchMember {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string | Buffer;
}

export interface BatchResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Words at least this long are sent once per batch, as a shell variable. */
const LONG_WORD = 512;
/** What the script exits with when it cannot make its temporary directory. */
export const BATCH_SETUP_FAILED = 97;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function newNonce(): string {
  return `VDBATCH-${randomBytes(9).toString('hex')}`;
}

/** Whether stdin can ride inside the script: text without NUL (every stdin vendetta writes). */
export function batchableStdin(stdin: string | Buffer | undefined): boolean {
  if (stdin === undefined) return true;
  const s = typeof stdin === 'string' ? stdin : stdin.toString('utf8');
  if (s.includes('\0')) return false;
  return typeof stdin === 'string' || Buffer.from(s, 'utf8').equals(stdin);
}

/** The shell script that runs `members` in parallel and prints their results between markers. */
export function batchScript(members: BatchMember[], nonce: string): string {
  const vars = new Map<string, string>();
  const word = (w: string): string => {
    if (w.length < LONG_WORD) return quoteArg(w);
    let v = vars.get(w);
    if (!v) {
      v = `v${vars.size}`;
      vars.set(w, v);
    }
    return `"$${v}"`;
  };
  const commands = members.map((m) => {
    const env = Object.entries(m.env ?? {});
    for (const [k] of env) if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
    if (m.argv.length === 0) throw new Error('exec: empty argv');
    const argv = env.length ? ['env', ...env.map(([k, v]) => `${k}=${v}`), ...m.argv] : m.argv;
    const cmd = argv.map(word).join(' ');
    return m.cwd !== undefined ? `cd ${quoteArg(m.cwd)} && ${cmd}` : cmd;
  });
  const lines = [
    `d=$(mktemp -d "\${TMPDIR:-/tmp}/vendetta-batch.XXXXXX") || exit ${BATCH_SETUP_FAILED}`,
    ...[...vars].map(([w, v]) => `${v}=${quoteArg(w)}`),
  ];
  // Each member writes its own marker lines into its files, so that one `cat` prints them all at
  // the end: a cat per member's output was an exec per service start on a busy node.
  members.forEach((m, i) => {
    const head = `{ printf '\\n%s %s o\\n' ${nonce} ${i} >"$d/${i}o"; printf '\\n%s %s e\\n' ${nonce} ${i} >"$d/${i}e"; `;
    const io = `>>"$d/${i}o" 2>>"$d/${i}e"; printf '\\n%s %s x %s\\n' ${nonce} ${i} "$?" >"$d/${i}x"; } &`;
    if (m.stdin === undefined) lines.push(`${head}(\n${commands[i]}\n) </dev/null ${io}`);
    else {
      const input = typeof m.stdin === 'string' ? m.stdin : m.stdin.toString('utf8');
      lines.push(`${head}printf %s ${quoteArg(input)} | (\n${commands[i]}\n) ${io}`);
    }
  });
  // The files in any order: the parser finds every part by its marker line.
  lines.push('wait', 'cat "$d"/* 2>/dev/null', 'rm -rf "$d"', '');
  return lines.join('\n');
}

/**
 * Each member's result from the batch's stdout; `undefined` for a member whose exit status is
 * missing (the batch died before printing it).
 */
export function parseBatchOutput(stdout: string, nonce: string, count: number): (BatchResult | undefined)[] {
  const results: { stdout?: string; stderr?: string; code?: number }[] = Array.from({ length: count }, () => ({}));
  const parts = stdout.split(`\n${nonce} `);
  for (const part of parts.slice(1)) {
    const nl = part.indexOf('\n');
    const header = nl < 0 ? part : part.slice(0, nl);
    const body = nl < 0 ? '' : part.slice(nl + 1);
    const m = /^(\d+) ([oex])(?: (\d*))?$/.exec(header);
    if (!m) continue;
    const r = results[Number(m[1])];
    if (!r) continue;
    if (m[2] === 'o') r.stdout = body;
    else if (m[2] === 'e') r.stderr = body;
    else if (m[3]) r.code = Number(m[3]);
  }
  return results.map((r) => (r.code === undefined ? undefined : { code: r.code, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }));
}
