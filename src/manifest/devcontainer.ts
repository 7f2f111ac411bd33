// spec.devcontainer on a Workspace: the rest of the workspace filled from a devcontainer.json
// before the document is validated, so the usual checks (and their file:line:col) apply to the
// result. Fields written in the manifest win over the file's, field by field at the top of spec.
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ComposeConverter } from '../convert/devcontainer.js';

// One Workspace document cannot become the several a Compose project makes.
const refuseCompose: ComposeConverter = () => {
  throw new Error('it makes one workspace per Compose service, which spec.devcontainer cannot hold: run `vendetta up` on the folder, which writes them all');
};
import { manifestPath } from './paths.js';
import { isPlainObject } from './schema.js';
import type { ManifestError } from './errors.js';
import type { Locate } from './locate.js';
import { errorAt } from './errors.js';

/** devcontainer.json files are small; this bounds what one reference can make the loader read. */
const MAX_BYTES = 1024 * 1024;

export interface Expanded {
  value: unknown;
  warnings: string[];
  errors: ManifestError[];
}

/** A Workspace document with spec.devcontainer.path: filled from the file. Anything else: as it is. */
export async function expandDevcontainer(
  value: unknown,
  manifestFile: string,
  at: Locate,
  environ: NodeJS.ProcessEnv,
): Promise<Expanded> {
  if (!isPlainObject(value) || value.kind !== 'Workspace' || !isPlainObject(value.spec)) return { value, warnings: [], errors: [] };
  const ref = value.spec.devcontainer;
  if (!isPlainObject(ref) || typeof ref.path !== 'string' || ref.path === '') return { value, warnings: [], errors: [] }; // the schema explains
  const written = ref.path;
  const file = manifestPath(dirname(manifestFile), written);
  const name = isPlainObject(value.metadata) && typeof value.metadata.name === 'string' ? value.metadata.name : undefined;
  const where = `Workspace${name ? ` ${JSON.stringify(name)}` : ''} spec.devcontainer.path`;
  const fail = (message: string): Expanded => ({ value, warnings: [], errors: [errorAt(at(['spec', 'devcontainer', 'path']), `${where}: ${message}`)] });
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_BYTES) return fail(`${file} is over 1 MiB: that is not a devcontainer.json`);
    text = await readFile(file, 'utf8');
  } catch {
    return fail(`cannot read ${JSON.stringify(written)} (resolved to ${file}); fix the path`);
  }
  // Loaded only for a workspace that names a devcontainer.json (jsonc-parser and the converter
  // are no part of loading an ordinary manifest).
  const { convertDevcontainer, DevcontainerError } = await import('../convert/devcontainer.js');
  try {
    const node = typeof value.spec.node === 'string' ? value.spec.node : undefined;
    const { documents, warnings } = convertDevcontainer(text, { file, environ, name, node, compose: refuseCompose });
    const main = documents.find((d) => d.kind === 'Workspace' && (name === undefined || (d.metadata as { name?: unknown }).name === name)) ?? documents[0];
    const spec = { ...(main!.spec as Record<string, unknown>), ...value.spec };
    return { value: { ...value, spec }, warnings: warnings.map((w) => `${file}: ${w.replace(/^devcontainer\.json: /, '')}`), errors: [] };
  } catch (err) {
    if (err instanceof DevcontainerError) {
      return { value, warnings: [], errors: [{ file: err.file, line: err.line, col: err.col, message: `${err.detail} (read for ${where})` }] };
    }
    throw err;
  }
}
