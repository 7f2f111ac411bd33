// Manifest loading: files and directories → parsed YAML documents (with positions) → schema
// validation → defaults → reference checks → env resolution. Every problem found is reported
// at once, each with file:line:col.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { resourceId, type NodeResource, type Resource, type ResourceId } from '../model/types.js';
import type { ResolvedEnv } from '../model/env.js';
import type { LoadedSet } from '../reconcile/api.js';
import { withDefaults } from './defaults.js';
import { resolveEnv } from './env.js';
import { errorAt, sortErrors, type ManifestError } from './errors.js';
import { locator, type Locate } from './locate.js';
import { checkReferences, type Declared } from './references.js';
import { isPlainObject, isValidName, validateDocument } from './schema.js';

export type LoadResult = { ok: true; set: LoadedSet; resources: Resource[] } | { ok: false; errors: ManifestError[] };

export interface LoadOptions {
  /** Relative paths are resolved against it, and messages show files relative to it. */
  cwd?: string;
  /** Where fromEnv references are read (default process.env). */
  environ?: NodeJS.ProcessEnv;
  /** Nodes known outside the manifests (added with `vendetta node add`): referenceable, not re-declared. */
  knownNodes?: NodeResource[];
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

  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push({ file, line: 0, col: 0, message: `cannot read file: ${(err as Error).message}` });
      continue;
    }
    // JSON goes through the YAML parser too: JSON is YAML, and this way it has positions.
    const lineCounter = new LineCounter();
    for (const doc of parseAllDocuments(text, { lineCounter })) {
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
          errors.push({ file, line: pos.line, col: pos.col, message: `invalid YAML: ${parserMessage(e.message)}` });
        }
        continue;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue; // an empty document, e.g. a trailing "---"

      const at = locator(doc, lineCounter, file);
      const { kind, issues } = validateDocument(value);
      for (const issue of issues) errors.push(errorAt(at(issue.path, issue.part), issue.message));
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

  if (errors.length > 0) return { ok: false, errors: sortErrors(errors, order) };
  return { ok: true, set: { desired, env }, resources };
}

/** Rewrites spec.source.path to an absolute path; returns a message when it is not a directory. */
async function absoluteSourcePath(resource: Resource & { kind: 'Workspace' }, manifestDir: string): Promise<string | undefined> {
  const source = resource.spec.source!;
  const written = source.path!;
  const expanded = written === '~' || written.startsWith('~/') ? join(homedir(), written.slice(1)) : written;
  const absolute = resolve(manifestDir, expanded);
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
    const real = await realpath(file);
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
    const found = (await walk(absolute)).sort();
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

/** The yaml library's message without its " at line L, column C:" suffix and code excerpt. */
function parserMessage(message: string): string {
  return message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, '');
}
