// vendetta up [PATH] : a folder with a devcontainer.json becomes a running workspace in one command.
// It writes PATH/.vendetta/workspace.yaml (a docker Workspace whose spec.devcontainer points at
// the file: the loader fills in the rest at every apply, so edits to devcontainer.json are picked
// up), applies it, and says how to get in. `vendetta apply -f PATH/.vendetta` does the same later.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { GlobalOptions } from './context.js';
import { ExitError, UsageError } from './errors.js';
import { flagDuration } from './options.js';

/** First line of a manifest `up` wrote: such a file is `up`'s to rewrite; without it, the user's. */
export const UP_MARKER = '# Made by `vendetta up`';

interface UpFlags {
  node?: string;
  name?: string;
  timeout?: string;
}

/** The devcontainer.json of a folder, as the spec looks for it (or PATH itself when it is the file). */
export function findDevcontainer(path: string): { file: string; folder: string } | undefined {
  if (existsSync(path) && statSync(path).isFile()) {
    const folder = basename(dirname(path)) === '.devcontainer' ? dirname(dirname(path)) : dirname(path);
    return { file: path, folder };
  }
  for (const candidate of [join(path, '.devcontainer', 'devcontainer.json'), join(path, '.devcontainer.json')]) {
    if (existsSync(candidate)) return { file: candidate, folder: path };
  }
  return undefined;
}

/** The manifest `up` writes (pure). */
export function upManifest(opts: { name: string; node: string; devcontainerPath: string }): string {
  return `${UP_MARKER} from ${opts.devcontainerPath}: edit it freely, and remove this line to keep vendetta up from rewriting it.
# The rest of the workspace comes from the devcontainer.json at every apply (docs/devcontainer.md);
# a field written here wins over the file's.
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata:
  name: ${opts.name}
spec:
  node: ${opts.node}
  provider: docker
  devcontainer:
    path: ${JSON.stringify(opts.devcontainerPath)}
`;
}

export async function runUp(path: string, flags: UpFlags, global: GlobalOptions): Promise<void> {
  for (const [flag, value] of [['--node', flags.node], ['--name', flags.name]] as const) {
    if (value !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
      throw new UsageError(`${flag} ${JSON.stringify(value)} is not a valid name`, 'use lowercase letters, digits and "-" (max 63)');
    }
  }
  const target = resolve(path);
  const found = findDevcontainer(target);
  if (!found) {
    throw new UsageError(`no devcontainer.json in ${target}`, 'vendetta up looks for .devcontainer/devcontainer.json or .devcontainer.json; or pass the file itself');
  }
  const dc = await import('../convert/devcontainer.js');
  const outDir = join(found.folder, '.vendetta');
  const manifest = join(outDir, 'workspace.yaml');
  const existing = existsSync(manifest) ? await readFile(manifest, 'utf8') : undefined;
  const ours = existing?.startsWith(UP_MARKER);
  const previous = ours ? { name: /^\s+name: (\S+)$/m.exec(existing!)?.[1], node: /^\s+node: (\S+)$/m.exec(existing!)?.[1] } : {};
  let attachTo: string | undefined;
  if (existing !== undefined && !ours) {
    if (flags.node || flags.name) throw new UsageError(`${manifest} is yours (it has no "${UP_MARKER}" line): edit its node and name there`);
    process.stdout.write(`using ${relative(process.cwd(), manifest) || manifest} (yours: not rewritten)\n`);
  } else {
    const name = flags.name ?? previous.name ?? dc.dnsLabel(basename(found.folder));
    const node = flags.node ?? previous.node ?? 'local';
    const devcontainerText = await readFile(found.file, 'utf8');
    let text: string;
    try {
      const composeForm = dc.parseDevcontainerText(devcontainerText, found.file).dockerComposeFile !== undefined;
      if (composeForm) {
        // A Compose project is several workspaces: written out whole (spec.devcontainer holds one).
        const { documents, warnings } = dc.convertDevcontainer(devcontainerText, { file: found.file, environ: process.env, node, compose: await composeConverter() });
        for (const w of warnings) process.stderr.write(`warning: ${found.file}: ${w.replace(/^devcontainer\.json: /, '')}\n`);
        const { stringify } = await import('yaml');
        const service = dc.parseDevcontainerText(devcontainerText, found.file).service;
        attachTo = (documents.find((d) => d.kind === 'Workspace' && (d.metadata as { labels?: Record<string, string> }).labels?.[dc.COMPOSE_SERVICE_LABEL] === service)?.metadata as { name?: string } | undefined)?.name;
        text = `${UP_MARKER} from ${relative(outDir, found.file)} (its dockerComposeFile): run vendetta up again to remake it.\n${documents.map((d) => stringify(d)).join('---\n')}`;
      } else {
        text = upManifest({ name, node, devcontainerPath: relative(outDir, found.file) });
      }
    } catch (err) {
      if (err instanceof dc.DevcontainerError) throw new ExitError(err.message, 1, 'fix the devcontainer.json; nothing was changed');
      throw err;
    }
    if (text !== existing) {
      await mkdir(outDir, { recursive: true });
      await writeFile(manifest, text);
    }
    process.stdout.write(`${text === existing ? 'using' : 'wrote'} ${relative(process.cwd(), manifest) || manifest}:\n${text.replace(/^/gm, '  ')}\n`);
  }

  const { loadOrExit, openEngine } = await import('./context.js');
  const { detectStyle } = await import('../output/style.js');
  const { createProgress } = await import('../output/progress.js');
  const { renderResult } = await import('./apply.js');
  const set = await loadOrExit([manifest]); // prints the devcontainer.json warnings
  const [ws] = set.desired.workspaces.values();
  const progress = createProgress(detectStyle(process.stderr));
  const { engine } = await openEngine(global, { onEvent: (e) => progress.event(e), onProgress: (r, m) => progress.status(r, m) });
  try {
    const started = Date.now();
    const result = await engine.apply(set, { applySet: 'default', prune: false, timeoutMs: flagDuration('--timeout', flags.timeout, 600_000) });
    progress.done();
    process.stdout.write(renderResult(result, Date.now() - started, detectStyle(process.stdout)) + '\n');
    if (!result.converged) throw new ExitError('', 1);
    const main = (attachTo && set.desired.workspaces.get(attachTo)) || ws;
    if (main) process.stdout.write(attachHelp(main.metadata.name, main.spec.node, main.spec.ports ?? []));
  } finally {
    progress.done();
    await engine.close();
  }
}

/** The Compose converter for the dockerComposeFile form. */
async function composeConverter(): Promise<import('../convert/devcontainer.js').ComposeConverter> {
  const { convertCompose } = await import('../convert/compose.js');
  const { composeConverterFrom } = await import('../convert/devcontainer.js');
  return composeConverterFrom(convertCompose, (p) => readFileSync(p, 'utf8'), process.env);
}

/** How to get into the workspace and reach its forwarded ports (pure). */
export function attachHelp(name: string, node: string, ports: string[]): string {
  const lines = ['', 'Attach:', `  vendetta shell ${name}`, `  ssh ${name}.vendetta        (once: vendetta ssh-config --install)`];
  const loopback = ports.filter((p) => p.startsWith('127.0.0.1:')).map((p) => p.split(':')[2]!.replace(/\/.*/, ''));
  if (loopback.length > 0) {
    lines.push(node === 'local' ? 'Forwarded ports (on this machine):' : `Forwarded ports (on node ${node}'s 127.0.0.1; bring them here with):`);
    for (const p of loopback) lines.push(node === 'local' ? `  http://127.0.0.1:${p}` : `  vendetta port-forward ${name} ${p}`);
  }
  return lines.join('\n') + '\n';
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the dev container of a folder (its .devcontainer/devcontainer.json) as a workspace')
    .argument('[path]', 'project folder, or the devcontainer.json itself', '.')
    .option('--node <name>', 'node to run it on (default local; kept in PATH/.vendetta/workspace.yaml)')
    .option('--name <name>', 'workspace name (default: the folder\'s name)')
    .option('--timeout <duration>', 'give up waiting for Ready after this long (an image build can be slow)', '10m')
    .action((path: string, flags: UpFlags, cmd: Command) => runUp(path, flags, cmd.optsWithGlobals() as GlobalOptions));
}
