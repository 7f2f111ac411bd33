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
// A `/bin/sh -c BODY sh ARGS…` member whose BODY starts with INLINE_SHELL runs in its subshell
// itself, not in a new shell: one exec fewer for every workspace create and service start.
import { randomBytes } from 'node:crypto';
import { checkEnvName, quoteArg } from './quote.js';

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

/**
 * The first line of a shell body that may run inline in a batch: its producer checked that it
 * needs nothing of a shell of its own. Such a body does not read $0, names its temporary files
 * by \${vd_self:-$$} (a batch sets vd_self for each member: $$ is the batch shell's), and reads
 * no variable it did not set.
 */
export const INLINE_SHELL = '# vendetta: may run inline\n';

/** Words at least this long are sent once per batch, as a shell variable. */
const LONG_WORD = 512;
/** What the script exits with when it cannot make its temporary directory. */
export const BATCH_SETUP_FAILED = 97;


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
      v = `vdb_${vars.size}`;
      vars.set(w, v);
    }
    return `"$${v}"`;
  };
  // Each member writes its own marker lines into its files, so that one `cat` prints them all at
  // the end: a cat per member's output was an exec per service start on a busy node. Its input
  // is a here-document where it can be one (no fork, where a `printf … |` forks one).
  const memberLines = members.flatMap((m, i) => {
    const env = Object.entries(m.env ?? {});
    for (const [k] of env) checkEnvName(k);
    if (m.argv.length === 0) throw new Error('exec: empty argv');
    const body = env.length ? undefined : inlineBody(m.argv);
    const run =
      body !== undefined
        ? `{ vd_self=$$_${i}; set -- ${m.argv.slice(4).map(word).join(' ')}; eval ${word(body)}; }`
        : (env.length ? ['env', ...env.map(([k, v]) => `${k}=${v}`), ...m.argv] : m.argv).map(word).join(' ');
    const command = m.cwd !== undefined ? `cd ${quoteArg(m.cwd)} && ${run}` : run;
    const o = `"$vdb_d/${i}o"`;
    const e = `"$vdb_d/${i}e"`;
    const marks = `printf '\\n%s %s o\\n' ${nonce} ${i} >${o}; printf '\\n%s %s e\\n' ${nonce} ${i} >${e}`;
    const input = m.stdin === undefined ? undefined : typeof m.stdin === 'string' ? m.stdin : m.stdin.toString('utf8');
    const here = input === undefined ? undefined : hereDocument(input, `${nonce}_IN`);
    const from = input === undefined ? '</dev/null' : here ? here.redirect : '';
    const pipe = input !== undefined && !here ? `printf %s ${quoteArg(input)} | ` : '';
    // An inline member is one fork, its status written by an EXIT trap (its body may exit); any
    // other is a subshell for the command, then its status.
    const line =
      body !== undefined
        ? `${pipe}( trap 'vdb_x ${i} "$?"' EXIT; ${marks}\n${command} >>${o} 2>>${e}\n) ${from} &`
        : `{ ${marks}; ${pipe}(\n${command}\n) ${from} >>${o} 2>>${e}; vdb_x ${i} "$?"; } &`;
    return here ? [line, here.body] : [line];
  });
  // The long words' variables first: the members' lines name them.
  const lines = [
    `vdb_d=$(mktemp -d "\${TMPDIR:-/tmp}/vendetta-batch.XXXXXX") || exit ${BATCH_SETUP_FAILED}`,
    // vdb_x I STATUS: member I's exit status, after its marker line.
    `vdb_x() { printf '\\n%s %s x %s\\n' ${nonce} "$1" "$2" >"$vdb_d/$1x"; }`,
    ...[...vars].map(([w, v]) => `${v}=${quoteArg(w)}`),
    ...memberLines,
  ];
  // The files in any order: the parser finds every part by its marker line.
  lines.push('wait', 'cat "$vdb_d"/* 2>/dev/null', 'rm -rf "$vdb_d"', '');
  return lines.join('\n');
}

/**
 * `<<'TERM'` and the lines that follow it, for an input a here-document carries exactly: one
 * that is empty or ends with a newline, with no line TERM. Else undefined.
 */
function hereDocument(input: string, term: string): { redirect: string; body: string } | undefined {
  if (input !== '' && !input.endsWith('\n')) return undefined;
  if (input.split('\n').includes(term)) return undefined;
  return { redirect: `<<'${term}'`, body: `${input}${term}` };
}

/** The body of a member that may run inline (see INLINE_SHELL), else undefined. */
function inlineBody(argv: string[]): string | undefined {
  const [sh, c, body, name] = argv;
  if (sh !== '/bin/sh' || c !== '-c' || body === undefined || !body.startsWith(INLINE_SHELL)) return undefined;
  return name === undefined || name === 'sh' ? body : undefined;
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
