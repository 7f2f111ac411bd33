// Manifest loading: files and directories → parsed YAML documents (with positions) → schema
// validation → defaults → reference checks → env resolution. Every problem found is reported
// at once, each with file:line:col.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { DEFAULT_DOCKERFILE } from '../model/build.js';
import { resourceId, type NodeResource, type Resource, type ResourceId } from '../model/types.js';
import type { ResolvedEnv } from '../model/env.js';
import type { LoadedSet } from '../reconcile/api.js';
import { withDefaults } from './defaults.js';
import { resolveEnv } from './env.js';
import { errorAt, sortErrors, type ManifestError } from './errors.js';
import { fileDocuments, type FileDocument } from './documents.js';
import { isComposeFile } from '../convert/detect.js';
import { expandDevcontainer } from './devcontainer.js';
import { manifestPath } from './paths.js';
import type { Locate } from './locate.js';
import { checkReferences, type Declared } from './references.js';
import { isPlainObject, isValidName, validateDocument } from './schema.js';

/** On failure `errors` holds at most MAX_ERRORS entries; `total` counts all that were found. */
export type LoadResult =
  | { ok: true; set: LoadedSet; resources: Resource[]; warnings?: string[] }
  | { ok: false; errors: ManifestError[]; total: number; warnings?: string[] };

// Bounds that keep validation fast and small whatever the input (documented in
// docs/manifest-reference.md, "Limits"). Manifests are hand-written: real ones are kilobytes.
export const LIMITS = {
  /** Bytes per manifest file. */
  fileBytes: 4 * 1024 * 1024,
  /** Bytes for all files of one load together. */
  totalBytes: 16 * 1024 * 1024,
  /** Errors reported; the rest are counted ("… and N more"). */
  errors: 50,
  /** YAML alias uses per document (the yaml library's guard against "billion laughs"). */
  aliases: 100,
  /** Characters per message: a last guard against echoing a huge value. */
  messageChars: 1000,
} as const;

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(bytes % MIB === 0 ? 0 : 1)} MiB`;

export interface LoadOptions {
  /** Relative paths are resolved against it, and messages show files relative to it. */
  cwd?: string;
  /** Where fromEnv references are read (default process.env). */
  environ?: NodeJS.ProcessEnv;
  /** Nodes known outside the manifests (added with `vendetta node add`): referenceable, not re-declared. */
  knownNodes?: NodeResource[];
  /** Where files that parsed cleanly are remembered by their text (./documents.ts); none: always parse. */
  cacheDir?: string;
  /** Compose files among the manifests (docs/compose.md): the node their workspaces go to (default "local"). */
  composeNode?: string;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export async function loadManifests(paths: string[], opts: LoadOptions = {}): Promise<LoadResult> {
  const cwd = opts.cwd ?? process.cwd();
  const environ = opts.environ ?? process.env;
  const errors: ManifestError[] = [];

  const { files, order } = await collectFiles(paths, cwd, errors);
  const declared: Declared[] = [];
  const resources: Resource[] = [];
  const locators = new Map<Resource, Locate>();
  // Errors found but not located: locating is per error, and only the reported ones need it.
  let unlocated = 0;
  const room = () => Math.max(0, LIMITS.errors - errors.length);

  const warnings: string[] = [];
  let totalBytes = 0;
  for (const [i, file] of files.entries()) {
    let text: string;
    try {
      // Checked before reading, so a huge file is never loaded.
      const size = (await stat(file)).size;
      if (size > LIMITS.fileBytes) {
        errors.push({ file, line: 0, col: 0, message: `file is ${mib(size)}, over the ${mib(LIMITS.fileBytes)} limit for one manifest file; split it or remove what is not a manifest` });
        continue;
      }
      totalBytes += size;
      if (totalBytes > LIMITS.totalBytes) {
        const skipped = files.length - i;
        errors.push({
          file,
          line: 0,
          col: 0,
          message: `the manifests reach ${mib(LIMITS.totalBytes)} (the limit for all files together) at this file; it and ${skipped - 1} later file(s) were not read; pass fewer files`,
        });
        break;
      }
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push({ file, line: 0, col: 0, message: `cannot read file: ${(err as Error).message}` });
      continue;
    }
    // A Compose file is converted (src/convert/compose.ts) and its manifests checked like any other.
    let documents: FileDocument[];
    if (isComposeFile(file, text)) {
      const { convertCompose, ComposeError } = await import('../convert/compose.js');
      try {
        const converted = convertCompose(text, { file, node: opts.composeNode, environ });
        warnings.push(...converted.warnings);
        documents = converted.documents.map((value, n) => ({ value, at: () => converted.sources[n]! }));
      } catch (err) {
        if (!(err instanceof ComposeError)) throw err;
        errors.push(...err.errors.slice(0, room()));
        unlocated += Math.max(0, err.errors.length - room());
        continue;
      }
    } else documents = await fileDocuments(text, file, LIMITS.aliases, opts.cacheDir);
    for (const doc of documents) {
      if ('problems' in doc) {
        const shown = doc.problems.slice(0, room());
        for (const p of shown) errors.push({ file, line: p.line, col: p.col, message: p.message });
        unlocated += doc.problems.length - shown.length;
        continue;
      }
      const { at } = doc;
      if (doc.value === null || doc.value === undefined) continue; // an empty document, e.g. a trailing "---"
      // spec.devcontainer: filled from the file before validation (./devcontainer.ts).
      const expanded = await expandDevcontainer(doc.value, file, at, environ);
      warnings.push(...expanded.warnings);
      if (expanded.errors.length > 0) {
        errors.push(...expanded.errors.slice(0, room()));
        continue;
      }
      const value = expanded.value;

      const { kind, issues } = validateDocument(value);
      const shown = issues.slice(0, room());
      for (const issue of shown) errors.push(errorAt(at(issue.path, issue.part), issue.message));
      unlocated += issues.length - shown.length;
      if (kind === undefined || !isPlainObject(value)) continue;

      const name = isPlainObject(value.metadata) ? value.metadata.name : undefined;
      const entry: Declared = { kind, name: String(name), at };
      // Invalid names are reported above; they cannot be referenced, so they are not declared.
      if (isValidName(name)) declared.push(entry);
      if (issues.length > 0) continue;

      const resource = withDefaults({ ...(value as unknown as Resource), source: at([]) });
      if (resource.kind === 'Workspace' && resource.spec.source?.path !== undefined) {
        const problem = await absoluteSourcePath(resource, dirname(file));
        if (problem) errors.push(errorAt(at(['spec', 'source', 'path']), problem));
      }
      if (resource.kind === 'Workspace' && resource.spec.build !== undefined) {
        const problem = await absoluteBuildContext(resource, dirname(file));
        if (problem) errors.push(errorAt(at(['spec', 'build', problem.field]), problem.message));
      }
      if (resource.kind === 'Workspace') {
        for (const { path, problem } of await gitAndDotfilesPaths(resource, dirname(file), environ)) errors.push(errorAt(at(path), problem));
      }
      entry.resource = resource;
      resources.push(resource);
      locators.set(resource, at);
    }
  }

  const references = checkReferences(declared, cwd, opts.knownNodes ?? []);
  errors.push(...references.errors);
  const { desired } = references;

  const env = new Map<ResourceId, ResolvedEnv>();
  for (const resource of [...desired.workspaces.values(), ...desired.services.values()]) {
    const at = locators.get(resource)!;
    const result = await resolveEnv(resource.spec.env, {
      subject: `${resource.kind} "${resource.metadata.name}"`,
      manifestDir: dirname(resource.source!.file),
      environ,
      at,
    });
    errors.push(...result.errors);
    env.set(resourceId(resource.kind, resource.metadata.name), result.env);
  }

  if (errors.length > 0 || unlocated > 0) {
    const sorted = sortErrors(errors, order).map((e) => ({ ...e, message: clip(e.message) }));
    return { ok: false, errors: sorted.slice(0, LIMITS.errors), total: sorted.length + unlocated, ...(warnings.length > 0 ? { warnings } : {}) };
  }
  return { ok: true, set: { desired, env }, resources, ...(warnings.length > 0 ? { warnings } : {}) };
}

/** Rewrites spec.source.path to an absolute path; returns a message when it is not a directory. */
async function absoluteSourcePath(resource: Resource & { kind: 'Workspace' }, manifestDir: string): Promise<string | undefined> {
  const source = resource.spec.source!;
  const written = source.path!;
  if (source.onNode) {
    // A directory on the node: nothing to resolve or look at here (the node may be another machine).
    return isAbsolute(written)
      ? undefined
      : `Workspace "${resource.metadata.name}" spec.source.path: ${JSON.stringify(written)} must be an absolute path on the node with onNode: true (it is not resolved against the manifest's directory)`;
  }
  const absolute = manifestPath(manifestDir, written);
  source.path = absolute;
  const where = `Workspace "${resource.metadata.name}" spec.source.path`;
  try {
    if (!(await stat(absolute)).isDirectory()) return `${where}: ${JSON.stringify(written)} (${absolute}) is not a directory`;
  } catch {
    return `${where}: directory ${JSON.stringify(written)} does not exist (resolved to ${absolute}); create it or fix the path`;
  }
  return undefined;
}

/**
 * Rewrites spec.build.context to an absolute path; says what is wrong when it is not a directory
 * or the Dockerfile is not a file inside it.
 */
async function absoluteBuildContext(resource: Resource & { kind: 'Workspace' }, manifestDir: string): Promise<{ field: 'context' | 'dockerfile'; message: string } | undefined> {
  const build = resource.spec.build!;
  const written = build.context;
  const context = manifestPath(manifestDir, written);
  build.context = context;
  const where = `Workspace "${resource.metadata.name}" spec.build`;
  try {
    if (!(await stat(context)).isDirectory()) return { field: 'context', message: `${where}.context: ${JSON.stringify(written)} (${context}) is not a directory; point it at the directory holding the Dockerfile` };
  } catch {
    return { field: 'context', message: `${where}.context: directory ${JSON.stringify(written)} does not exist (resolved to ${context}); create it or fix the path` };
  }
  const dockerfile = build.dockerfile ?? DEFAULT_DOCKERFILE;
  const path = resolve(context, dockerfile);
  const rel = relative(context, path);
  const field = build.dockerfile === undefined ? 'context' : 'dockerfile';
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    return { field, message: `${where}.dockerfile: ${JSON.stringify(dockerfile)} is outside the build context ${context}; it must be a path inside it` };
  }
  try {
    if (!(await stat(path)).isFile()) return { field, message: `${where}.dockerfile: ${JSON.stringify(dockerfile)} (${path}) is not a file` };
  } catch {
    return { field, message: `${where}.dockerfile: no ${JSON.stringify(dockerfile)} in the build context (looked for ${path}); add it or set spec.build.dockerfile` };
  }
  return undefined;
}

/**
 * Makes spec.dotfiles.path and spec.source.git.token.fromFile absolute (like source.path) and
 * checks them, and that a token's fromEnv is set: a missing credential is reported with its
 * file:line before anything changes. The token itself is read only when it is used.
 */
async function gitAndDotfilesPaths(
  resource: Resource & { kind: 'Workspace' },
  manifestDir: string,
  environ: NodeJS.ProcessEnv,
): Promise<Array<{ path: string[]; problem: string }>> {
  const problems: Array<{ path: string[]; problem: string }> = [];
  const subject = `Workspace "${resource.metadata.name}"`;
  const absolute = (written: string) => manifestPath(manifestDir, written);
  const dotfiles = resource.spec.dotfiles;
  if (dotfiles?.path !== undefined) {
    const written = dotfiles.path;
    dotfiles.path = absolute(written);
    const isDir = await stat(dotfiles.path).then((s) => s.isDirectory(), () => false);
    if (!isDir) problems.push({ path: ['spec', 'dotfiles', 'path'], problem: `${subject} spec.dotfiles.path: directory ${JSON.stringify(written)} does not exist (resolved to ${dotfiles.path}); create it or fix the path` });
  }
  const token = resource.spec.source?.git?.token;
  if (token?.fromFile !== undefined) {
    const written = token.fromFile;
    token.fromFile = absolute(written);
    const isFile = await stat(token.fromFile).then((s) => s.isFile(), () => false);
    if (!isFile) problems.push({ path: ['spec', 'source', 'git', 'token', 'fromFile'], problem: `${subject} spec.source.git.token.fromFile: cannot read ${JSON.stringify(written)} (${token.fromFile}); create it or fix the path` });
  }
  if (token?.fromEnv !== undefined && environ[token.fromEnv] === undefined) {
    problems.push({ path: ['spec', 'source', 'git', 'token', 'fromEnv'], problem: `${subject} spec.source.git.token.fromEnv: environment variable ${token.fromEnv} is not set; export it before running vendetta` });
  }
  return problems;
}

/**
 * The files behind -f arguments: files as given (any extension), directories walked recursively
 * for *.yaml|*.yml|*.json in sorted order, skipping hidden directories and node_modules (they hold
 * other tools' YAML). The same file reached twice is read once.
 */
async function collectFiles(
  paths: string[],
  cwd: string,
  errors: ManifestError[],
): Promise<{ files: string[]; order: string[] }> {
  if (paths.length === 0) {
    errors.push({ file: cwd, line: 0, col: 0, message: 'no manifests given: pass manifest files or directories' });
  }
  const files: string[] = [];
  // Files and failed paths in argument order, for sorting errors.
  const order: string[] = [];
  const seen = new Set<string>();
  const add = async (file: string) => {
    let real: string;
    try {
      real = await realpath(file);
    } catch (err) {
      // A dangling symlink found while walking a directory: an error at that file, not a crash.
      order.push(file);
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is a link to something that does not exist' : (err as Error).message;
      errors.push({ file, line: 0, col: 0, message: `cannot read file: ${reason}` });
      return;
    }
    if (!seen.has(real)) {
      seen.add(real);
      files.push(file);
      order.push(file);
    }
  };
  for (const path of paths) {
    const absolute = resolve(cwd, path);
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(absolute)).isDirectory();
    } catch {
      order.push(absolute);
      errors.push({ file: absolute, line: 0, col: 0, message: 'no such file or directory' });
      continue;
    }
    if (!isDirectory) {
      await add(absolute);
      continue;
    }
    let found: string[];
    try {
      found = (await walk(absolute)).sort();
    } catch (err) {
      order.push(absolute);
      errors.push({ file: absolute, line: 0, col: 0, message: `cannot read directory: ${(err as Error).message}` });
      continue;
    }
    if (found.length === 0) {
      order.push(absolute);
      errors.push({ file: absolute, line: 0, col: 0, message: 'no manifests found in this directory (looked for *.yaml, *.yml, *.json)' });
    }
    for (const file of found) await add(file);
  }
  return { files, order };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path);
  }
  return out;
}

function clip(message: string): string {
  return message.length <= LIMITS.messageChars ? message : `${message.slice(0, LIMITS.messageChars)}… (message cut)`;
}
