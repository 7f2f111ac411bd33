// vendetta delete -f PATH… | delete KIND NAME… : remove from the nodes, wait until gone, then
// forget. What does not exist is an error (kubectl's NotFound) unless --ignore-not-found; what
// sits on an unreachable node is kept in the store (DeletePending) unless --force forgets it.
import type { Command } from 'commander';
import { resourceId, type ResourceId } from '../model/types.js';
import type { ApplyResult, LoadedSet } from '../reconcile/api.js';
import type { Style } from '../output/style.js';
import { detectStyle } from '../output/style.js';
import { createProgress } from '../output/progress.js';
import { structured } from '../output/format.js';
import { collect, flagDuration, outputOption } from './options.js';
import type { GlobalOptions } from './context.js';
import { BUILTIN_APPLYSET, parseKind, selectRecords, selectorOption } from './get.js';
import { openReadStore } from './read-store.js';
import { ExitError, UsageError } from './errors.js';

export function registerDelete(program: Command): void {
  program
    .command('delete')
    .description('delete resources (from -f manifests, or KIND NAME) and wait until they are gone')
    .argument('[kind]', 'node | workspace | service')
    .argument('[names...]', 'resource names')
    .option('-f, --filename <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--node <name>', 'for Compose files: the node their workspaces go to (default local; see docs/compose.md)')
    .option('-l, --selector <selector>', 'delete every KIND whose labels match, e.g. app=web (kubectl syntax)')
    .option('--timeout <duration>', 'give up waiting after this long', '5m')
    .option('--force', 'forget resources whose node cannot be reached (warns what may be left on it)', false)
    .option('--ignore-not-found', 'a resource that does not exist is not an error', false)
    .option('--volumes', "also delete deleted workspaces' volumes (their data); without it volumes are kept", false)
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (kindWord: string | undefined, names: string[], flags: { filename: string[]; node?: string; selector?: string; timeout?: string; force: boolean; ignoreNotFound: boolean; volumes: boolean; output: 'text' | 'json' | 'yaml' }, cmd: Command) => {
      const { loadOrExit, openEngine } = await import('./context.js'); // heavy: only when deleting
      let ids: ResourceId[];
      let set: LoadedSet | undefined;
      if (flags.filename.length && flags.selector !== undefined) throw new UsageError('use either -f or -l, not both', 'vendetta delete workspaces -l app=web');
      if (flags.filename.length) {
        set = await loadOrExit(flags.filename, 1, { node: flags.node });
        ids = [
          ...[...set.desired.services.keys()].map((n) => resourceId('Service', n)),
          ...[...set.desired.workspaces.keys()].map((n) => resourceId('Workspace', n)),
          // The implicit local node is never "deleted"; declared nodes are forgotten from the store.
          ...[...set.desired.nodes.values()].filter((n) => n.source).map((n) => resourceId('Node', n.metadata.name)),
        ];
      } else if (flags.selector !== undefined) {
        if (!kindWord || names.length) throw new UsageError('-l selects by label within one KIND, without names', 'vendetta delete workspaces -l app=web');
        const selector = selectorOption(flags.selector)!;
        // Only what was applied: the built-in local node is never deleted.
        const records = (await selectRecords(await openReadStore(), kindWord, undefined, selector)).filter((r) => r.applySet !== BUILTIN_APPLYSET);
        if (records.length === 0) {
          process.stderr.write(`No ${parseKind(kindWord).toLowerCase()}s match ${JSON.stringify(flags.selector)}: nothing to delete.\n`);
          return;
        }
        ids = records.map((r) => r.id);
      } else {
        if (!kindWord || names.length === 0) throw new UsageError('nothing to delete', 'use `vendetta delete -f FILE` or `vendetta delete KIND NAME`');
        const kind = parseKind(kindWord);
        ids = names.map((n) => resourceId(kind, n));
      }
      const human = flags.output === 'text';
      const progress = createProgress(detectStyle(process.stderr));
      const { engine } = await openEngine(cmd.optsWithGlobals() as GlobalOptions, {
        onEvent: (e) => human && progress.event(e),
        onProgress: (r, m) => human && progress.status(r, m),
      });
      try {
        const started = Date.now();
        const result = await engine.delete(ids, {
          timeoutMs: flagDuration('--timeout', flags.timeout, 300_000),
          set,
          force: flags.force,
          ignoreNotFound: flags.ignoreNotFound,
          volumes: flags.volumes,
        });
        progress.done();
        if (human) process.stdout.write(renderDeletion(result, Date.now() - started, detectStyle()));
        else process.stdout.write(structured(result, flags.output) + '\n');
        // kubectl's NotFound, on stderr whatever the output format.
        if (!flags.ignoreNotFound) {
          for (const id of result.deletion?.notFound ?? []) process.stderr.write(`Error: ${notFoundMessage(id)}\n`);
        }
        if (!result.converged) throw new ExitError('', 1);
      } finally {
        progress.done();
        await engine.close();
      }
    });
}

/** `workspace "nope" not found` */
export function notFoundMessage(id: ResourceId): string {
  const slash = id.indexOf('/');
  return `${id.slice(0, slash)} "${id.slice(slash + 1)}" not found`;
}

/** One line per resource (deleted, forgotten, kept), then the outcome. Warnings say what may be left where. */
export function renderDeletion(result: ApplyResult, elapsedMs: number, style: Style): string {
  const secs = (elapsedMs / 1000).toFixed(1);
  const report = result.deletion ?? { deleted: [], forgotten: [], notFound: [], pending: [] };
  const lines: string[] = [];
  for (const d of report.deleted) {
    const what = d.id.startsWith('node/') ? 'forgotten (no workspace uses it)' : d.nodes.length > 0 ? `deleted from node ${d.nodes.join(', ')}` : 'deleted (already gone from its node)';
    lines.push(`${style.bold(d.id)} ${what}`);
  }
  for (const v of result.volumesDeleted ?? []) {
    lines.push(`${style.bold(`workspace/${v.workspace}`)} volume${v.volumes.length === 1 ? '' : 's'} ${v.volumes.join(', ')} deleted from node ${v.node}`);
  }
  for (const f of report.forgotten) {
    lines.push(`${style.yellow('!')} ${style.bold(f.id)} forgotten without deleting it: node ${f.node} could not be reached; it may still have ${f.leftover}`);
  }
  const ops = result.operationsRun;
  if (result.converged) {
    const n = report.deleted.length + report.forgotten.length + (result.volumesDeleted?.length ?? 0);
    lines.push(
      n === 0
        ? style.green('✓ nothing to delete')
        : style.green(`✓ deleted in ${secs}s`) + ` (${ops} operation${ops === 1 ? '' : 's'})` + (report.forgotten.length > 0 ? style.yellow(`; ${report.forgotten.length} forgotten with --force, see the warnings above`) : ''),
    );
  } else if (result.failures.length > 0) {
    lines.push(style.red(`✗ not all deleted after ${secs}s:`));
    for (const f of result.failures) {
      lines.push(`  ${style.bold(f.resource)}${f.node ? ` (node ${f.node})` : ''}: ${f.reason}`);
      if (f.hint) lines.push(`      → ${f.hint}`);
    }
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}
