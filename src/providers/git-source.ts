// source.git and dotfiles.git, the same for every provider: the NODE fetches (its network, its
// keys), into a bare cache per URL (~/.vendetta/git/<sha256(url)[:16]>.git), resolves the ref to a
// commit, and writes that commit's tree with `git archive`: extracted into a directory (process),
// or as one tar the driver puts in the workspace the way it puts source.path (docker putArchive,
// lxc `tar -x` over exec, qemu's stored source.tar). A commit SHA is fetched by SHA (protocol v2
// allows it for any reachable commit on most servers); when the server refuses, every branch and
// tag is fetched and the SHA looked up there.
//
// A token (source.git.token) is read on the controller, sent on the command's stdin, and given to
// git through GIT_ASKPASS (a script that prints an environment variable, no secret in it): never on
// a command line, never written to disk; credential helpers are switched off for the command.
//
// An ssh URL (ssh://…, user@host:path) is fetched with the node's own keys, or, where the Node
// allows it (spec.forwardAgent, else the ssh config's ForwardAgent), with the controller's agent
// forwarded to that one fetch (ExecOptions.forwardAgent: its own SSH connection, closed with it).
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { GitSourceSpec } from '../model/types.js';
import type { AgentForwarding, Transport } from '../transport/types.js';
import { ProviderError } from './types.js';

/** Where the node keeps its fetched repositories (under the login user's home). */
export const GIT_CACHE = '.vendetta/git';

/** Pure: the bare cache repository of one URL on the node. */
export function gitCacheRepo(home: string, url: string): string {
  return posix.join(home, GIT_CACHE, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.git`);
}

/** Pure: a full commit id (SHA-1 or SHA-256), which never moves. */
export function isCommitId(ref: string | undefined): boolean {
  return ref !== undefined && /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);
}

/**
 * Pure: whether git reaches `url` over ssh: ssh://, git+ssh://, ssh+git://, or the scp-like
 * `[user@]host:path` (a colon before any slash, as git decides; "C:…" and "./a:b" are paths).
 */
export function isSshUrl(url: string): boolean {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) return scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git';
  const colon = url.indexOf(':');
  if (colon <= 0) return false;
  const slash = url.indexOf('/');
  if (slash !== -1 && slash < colon) return false;
  if (colon === 1 && /^[A-Za-z]$/.test(url[0]!)) return false; // a DOS drive, as git reads it
  return true;
}

/** Pure: what the agent did for a failed ssh fetch, for the error message ('' when nothing to say). */
export function agentNote(agent: AgentForwarding | undefined, node: string): string {
  switch (agent) {
    case 'forwarded':
      return ' (your SSH agent was forwarded to the fetch)';
    case 'refused':
      return ` (agent forwarding was refused by the sshd of node ${node}, AllowAgentForwarding no?: the fetch used the node's own keys)`;
    case 'no-agent':
      return ` (node ${node} allows agent forwarding, but there is no SSH agent here (SSH_AUTH_SOCK): the fetch used the node's own keys)`;
    case 'disabled':
      return ` (the fetch used the node's own keys; set spec.forwardAgent: true on Node ${node} to forward your SSH agent to it)`;
    default:
      return '';
  }
}

/** Pure: "ref main of https://…" for messages. */
export function describeGit(git: { url: string; ref?: string }): string {
  return `${git.ref ? `ref ${JSON.stringify(git.ref)}` : 'the default branch (HEAD)'} of ${git.url}`;
}

// Shared by the fetch and ls-remote scripts: token from stdin, never a prompt, no stored credentials.
const PREAMBLE = `set -u
base=$1
shift
tok=
IFS= read -r tok || true
command -v git >/dev/null 2>&1 || { echo 'git is not installed on the node: install it (e.g. apt-get install git)' >&2; exit 127; }
mkdir -p -- "$base" || exit 1
export GIT_TERMINAL_PROMPT=0
# Never a prompt from ssh either, unless the user chose their own ssh command.
if [ -z "\${GIT_SSH_COMMAND:-}\${GIT_SSH:-}" ] && [ -z "$(git config --get core.sshCommand)" ]; then export GIT_SSH_COMMAND='ssh -o BatchMode=yes'; fi
if [ -n "$tok" ]; then
  a=$base/askpass
  if [ ! -x "$a" ]; then
    printf '%s\\n' '#!/bin/sh' 'case $1 in Username*) printf "%s\\n" "\${VENDETTA_GIT_USER:-x-access-token}" ;; *) printf "%s\\n" "$VENDETTA_GIT_TOKEN" ;; esac' > "$a.$$" &&
      chmod 700 "$a.$$" && mv -f -- "$a.$$" "$a" || exit 1
  fi
  export VENDETTA_GIT_TOKEN="$tok" GIT_ASKPASS="$a"
fi
unset tok
`;

export type GitSink =
  /** The tree extracted into this directory (made if missing). */
  | { extract: string }
  /** The tree as a tar at this path, every entry under `prefix` ("workspace/"). */
  | { file: string; prefix: string };

/**
 * One exec on the node: fetch `ref` of `url` into `repo` (made on first use), resolve it, write
 * its tree to `sink`, print "commit <id>". Runs under flock on the repository when the node has
 * flock: two workspaces of one URL fetch one after the other.
 */
export function gitFetchArgv(repo: string, url: string, ref: string | undefined, sink: GitSink): string[] {
  const body = `${PREAMBLE}
repo=$1 url=$2 ref=$3 mode=$4 out=$5 prefix=$6
[ -f "$repo/HEAD" ] || git init -q --bare -- "$repo" >/dev/null || exit 1
if command -v flock >/dev/null 2>&1; then exec 9>"$repo.lock" && flock 9; fi
g() { git -c credential.helper= -c protocol.version=2 -C "$repo" "$@"; }
commit=
hex=
case $ref in ''|*[!0-9a-f]*) ;; *) hex=1 ;; esac
if [ -n "$hex" ] && [ \${#ref} -ge 40 ] && g cat-file -e "$ref^{commit}" 2>/dev/null; then
  commit=$ref
elif err=$(g fetch -q --no-tags --depth 1 -- "$url" \${ref:+"$ref"} 2>&1); then
  commit=$(g rev-parse --verify -q 'FETCH_HEAD^{commit}') || { echo "fetched $ref but it is not a commit" >&2; exit 3; }
elif [ -n "$hex" ]; then
  # The server would not send a commit by id (uploadpack.allowReachableSHA1InWant off, protocol v0):
  # fetch every branch and tag, and look the commit up there.
  u=
  [ -f "$repo/shallow" ] && u=--unshallow
  err2=$(g fetch -q $u -- "$url" '+refs/heads/*:refs/vendetta/heads/*' '+refs/tags/*:refs/tags/*' 2>&1) || { printf '%s\\n%s\\n' "$err" "$err2" >&2; exit 2; }
  commit=$(g rev-parse --verify -q "$ref^{commit}") || { echo "commit $ref is not in any branch or tag" >&2; exit 3; }
else
  printf '%s\\n' "$err" >&2
  exit 2
fi
case $mode in
extract)
  t=$repo.$$.tar
  g archive --format=tar -o "$t" "$commit" && mkdir -p -- "$out" && tar -x -f "$t" -C "$out" || { rm -f -- "$t"; exit 1; }
  rm -f -- "$t" ;;
file)
  g archive --format=tar --prefix="$prefix" -o "$out.$$" "$commit" && mv -f -- "$out.$$" "$out" || exit 1 ;;
esac
printf 'commit %s\\n' "$commit"`;
  const [mode, out, prefix] = 'extract' in sink ? ['extract', sink.extract, ''] : ['file', sink.file, sink.prefix];
  return ['/bin/sh', '-c', body, 'sh', posix.dirname(repo), repo, url, ref ?? '', mode, out, prefix];
}

/** Pure: the commit a gitFetchArgv run printed. */
export function parseFetchedCommit(stdout: string): string | undefined {
  return /^commit ([0-9a-f]{40,64})$/m.exec(stdout)?.[1];
}

/** One exec on the node: `git ls-remote` of the ref (HEAD when absent), without touching any cache. */
export function lsRemoteArgv(base: string, url: string, ref: string | undefined): string[] {
  const body = `${PREAMBLE}
git -c credential.helper= ls-remote -- "$1" \${2:+"$2"} \${2:+"$2^{}"}`;
  return ['/bin/sh', '-c', body, 'sh', base, url, ref ?? ''];
}

/**
 * Pure: what `ref` names in ls-remote output: a branch (refs/heads/REF) before a tag (refs/tags/REF,
 * peeled: an annotated tag's commit), or a full ref name; HEAD when no ref is given.
 */
export function parseLsRemote(stdout: string, ref: string | undefined): string | undefined {
  const refs = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [id, name] = line.trim().split(/\s+/);
    if (id && name && /^[0-9a-f]{40,64}$/.test(id)) refs.set(name, id);
  }
  if (!ref) return refs.get('HEAD');
  for (const name of [`refs/heads/${ref}`, `refs/tags/${ref}`, ref]) {
    const id = refs.get(`${name}^{}`) ?? refs.get(name);
    if (id) return id;
  }
  return undefined;
}

/** Reads the token on the controller (fromFile is absolute after loading). Undefined: none. */
export async function readGitToken(git: GitSourceSpec): Promise<string | undefined> {
  const token = git.token;
  if (!token) return undefined;
  if (token.fromEnv !== undefined) {
    const value = process.env[token.fromEnv];
    if (value === undefined) throw new Error(`source.git.token: environment variable ${token.fromEnv} is not set; export it before running vendetta`);
    return value.trim();
  }
  const file = token.fromFile!;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new Error(`source.git.token: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Fetches `git` on the node and writes its tree to `sink`. Resolves with the commit. Errors name
 * the ref, the URL and the node.
 */
export async function fetchGitTree(transport: Transport, git: GitSourceSpec, sink: GitSink, progress?: (m: string) => void): Promise<string> {
  const repo = gitCacheRepo(await transport.home(), git.url);
  const token = await readGitToken(git);
  progress?.(`fetching ${describeGit(git)} on node ${transport.node}`);
  const res = await transport.exec(gitFetchArgv(repo, git.url, git.ref, sink), {
    stdin: `${token ?? ''}\n`,
    timeoutMs: 600_000,
    ...(isSshUrl(git.url) ? { forwardAgent: true } : {}),
  });
  const commit = parseFetchedCommit(res.stdout);
  if (res.code === 0 && commit) return commit;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  const message = `cannot fetch ${describeGit(git)} on node ${transport.node}: ${detail}${agentNote(res.agent, transport.node)}`;
  // 2: git said no (no such ref, repository not found, refused credentials); 3: not a commit; 127: no git.
  // Not retried: a retry cannot fix these.
  if (res.code === 2 || res.code === 3) throw new ProviderError(message, 'check the url and the ref (a branch, a tag or a full commit SHA), and that the node can reach the repository', true);
  if (res.code === 127) throw new ProviderError(message, undefined, true);
  throw new Error(message);
}

/** The commit `git`'s ref names upstream now, asked from the node (`diff --refresh`). */
export async function resolveUpstream(transport: Transport, git: GitSourceSpec): Promise<string> {
  if (isCommitId(git.ref)) return git.ref!;
  const base = posix.dirname(gitCacheRepo(await transport.home(), git.url));
  const token = await readGitToken(git);
  const res = await transport.exec(lsRemoteArgv(base, git.url, git.ref), {
    stdin: `${token ?? ''}\n`,
    timeoutMs: 120_000,
    ...(isSshUrl(git.url) ? { forwardAgent: true } : {}),
  });
  const detail = `${(res.stderr || res.stdout).trim() || `exit code ${res.code}`}${agentNote(res.agent, transport.node)}`;
  if (res.code !== 0) throw new Error(`cannot resolve ${describeGit(git)} on node ${transport.node}: ${detail}`);
  const commit = parseLsRemote(res.stdout, git.ref);
  if (!commit) throw new Error(`cannot resolve ${describeGit(git)} on node ${transport.node}: no branch or tag of that name`);
  return commit;
}

/**
 * The tree as a tar on the controller, every entry under `prefix` ("workspace/"): for drivers that
 * put a tar into the workspace from here (docker putArchive, lxc `tar -x` over exec). The node's
 * temporary copy is removed.
 */
export async function fetchGitTar(transport: Transport, git: GitSourceSpec, prefix: string, progress?: (m: string) => void): Promise<{ commit: string; tar: Buffer }> {
  const file = posix.join(posix.dirname(gitCacheRepo(await transport.home(), git.url)), `tree-${randomBytes(6).toString('hex')}.tar`);
  try {
    const commit = await fetchGitTree(transport, git, { file, prefix }, progress);
    return { commit, tar: await transport.readFile(file) };
  } finally {
    await transport.exec(['rm', '-f', '--', file]).catch(() => undefined);
  }
}
