// Image builds (WorkspaceSpec.build), the pure part: which context files are sent (.dockerignore),
// the build hash that says "this image was made from exactly these inputs", the tag it gets, and
// what a failed build's output says. The I/O (walking the context, the tar, the Engine API) is in
// src/build/context.ts and src/providers/docker/build.ts.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Ignore } from '@balena/dockerignore';
import { canonicalJson } from './hash.js';
import type { BuildSpec } from './types.js';

// CommonJS (module.exports = factory) whose typings declare an ES default export: required, and
// only when a context is scanned (the loader imports this module for its constants).
const dockerignore = (options: { ignorecase?: boolean }) =>
  (createRequire(import.meta.url)('@balena/dockerignore') as (o: { ignorecase?: boolean }) => Ignore)(options);

export const DEFAULT_DOCKERFILE = 'Dockerfile';
export const DOCKERIGNORE_FILE = '.dockerignore';
/** Built images are named vendetta-build/<workspace>:<first BUILD_TAG_CHARS of the build hash>. */
export const BUILD_REPOSITORY_PREFIX = 'vendetta-build/';
export const BUILD_TAG_CHARS = 12;

/** The tag of the image built for a workspace from inputs with this build hash. */
export function buildTag(workspace: string, buildHash: string): string {
  return `${buildRepository(workspace)}:${buildHash.slice(0, BUILD_TAG_CHARS)}`;
}

export function buildRepository(workspace: string): string {
  return `${BUILD_REPOSITORY_PREFIX}${workspace}`;
}

/** The Dockerfile's path relative to the context, posix, without "./". */
export function dockerfilePath(spec: BuildSpec): string {
  return (spec.dockerfile ?? DEFAULT_DOCKERFILE).replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

/**
 * Which context paths are sent, by the rules of a .dockerignore (Docker's syntax: patterns are
 * anchored at the context root, `**` crosses directories, `!` re-includes). @balena/dockerignore
 * implements exactly that (docker-modem uses it too); the `ignore` package already in our deps
 * implements .gitignore, whose unanchored `foo` matches at any depth, which Docker's does not.
 * The Dockerfile and .dockerignore are always sent, as the docker CLI does: the daemon needs them,
 * and drops them from the context itself when they are ignored.
 */
export interface ContextFilter {
  /** Is this path (relative, posix) left out? */
  excluded(path: string): boolean;
  /** Can something under an excluded directory be re-included (a `!` pattern)? Then walk it. */
  hasExceptions: boolean;
}

export function contextFilter(dockerignoreText: string | undefined, dockerfile: string): ContextFilter {
  const patterns = (dockerignoreText ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const rules = dockerignore({ ignorecase: false }).add(patterns);
  const always = new Set([dockerfile, DOCKERIGNORE_FILE]);
  return {
    excluded: (path) => !always.has(path) && rules.ignores(path),
    hasExceptions: patterns.some((p) => p.startsWith('!')),
  };
}

/** One entry of a scanned context, as the hash sees it. */
export type ContextEntry =
  | { path: string; type: 'file'; mode: number; digest: string }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

/**
 * The build hash: sha256 over the sent entries (path, type, permission bits, content digest or
 * link target; not mtimes: a checkout or a `touch` builds nothing) and the build's own inputs
 * (dockerfile, args, target). The context's location is not in it: moving the project directory
 * rebuilds nothing. Unkeyed on purpose: build args are not secrets (Docker keeps them in the
 * image history anyway), and any store builds the same tag from the same inputs.
 */
export function buildHash(entries: ContextEntry[], spec: BuildSpec): string {
  const h = createHash('sha256');
  h.update(`vendetta-build/1\n${canonicalJson({ dockerfile: dockerfilePath(spec), args: spec.args ?? {}, target: spec.target })}\n`);
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    // JSON per entry: a path holding a newline or a space cannot forge another entry.
    if (e.type === 'file') h.update(`${JSON.stringify(['f', e.path, e.mode & 0o7777, e.digest])}\n`);
    else if (e.type === 'dir') h.update(`${JSON.stringify(['d', e.path, e.mode & 0o7777])}\n`);
    else h.update(`${JSON.stringify(['l', e.path, e.target])}\n`);
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The build's output (the Engine API's JSON message stream of the classic builder).
// ---------------------------------------------------------------------------------------------

/** One message of POST /build's stream. */
export interface BuildMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

const TAIL_LINES = 15;

/** Collects a build's output lines: the current step, and the last lines for an error. */
export class BuildLog {
  private readonly tail: string[] = [];
  private partial = '';
  step: string | undefined;
  error: string | undefined;

  /** The complete lines this message ends (for progress), after recording them. */
  add(message: BuildMessage): string[] {
    if (message.error !== undefined || message.errorDetail?.message !== undefined) {
      this.error = (message.errorDetail?.message ?? message.error ?? '').trim();
      return [];
    }
    const text = message.stream ?? (message.status ? `${message.status}\n` : '');
    if (!text) return [];
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    const lines = parts.map((l) => l.replace(/\s+$/, '')).filter((l) => l !== '');
    for (const line of lines) {
      if (/^Step \d+\/\d+ : /.test(line)) this.step = line;
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
    }
    return lines;
  }

  lastLines(): string[] {
    return this.partial.trim() ? [...this.tail, this.partial.trim()].slice(-TAIL_LINES) : [...this.tail];
  }
}

/** "image build of workspace api on node n1 failed at Step 3/5 : RUN make: <docker's error>" + the last lines. */
export function buildFailureMessage(workspace: string, node: string, log: BuildLog, error: string): string {
  const at = log.step ? ` at ${log.step}` : '';
  const tail = log.lastLines();
  const output = tail.length > 0 ? `\nlast lines of the build output:\n${tail.map((l) => `  ${l}`).join('\n')}` : '';
  return `image build of workspace ${workspace} on node ${node} failed${at}: ${error.trim() || 'the build stopped without saying why'}${output}`;
}
