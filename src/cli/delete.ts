// vendetta delete -f PATH… | delete KIND NAME : remove from the nodes, wait until gone.
import type { Command } from 'commander';
import { resourceId, type ResourceId } from '../model/types.js';
import type { LoadedSet } from '../reconcile/api.js';
import { detectStyle } from '../output/style.js';
import { createProgress } from '../output/progress.js';
import { structured } from '../output/format.js';
import { collect, outputOption } from './options.js';
import { flagDuration, loadOrExit, openEngine, type GlobalOptions } from './context.js';
import { BUILTIN_APPLYSET, parseKind, selectRecords, selectorOption } from './get.js';
import { openReadStore } from './client.js';
import { ExitError, UsageError } from './errors.js';
import { renderResult } from './apply.js';

export function registerDelete(program: Command): void {
  program
    .command('delete')
    .description('delete resources (from -f manifests, or KIND NAME) and wait until they are gone')
    .argument('[kind]', 'node | workspace | service')
    .argument('[names...]', 'resource names')
    .option('-f, --filename <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('-l, --selector <selector>', 'delete every KIND whose labels match, e.g. app=web (kubectl syntax)')
    .option('--timeout <duration>', 'give up waiting after this long', '5m')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (kindWord: string | undefined, names: string[], flags: { filename: string[]; selector?: string; timeout?: string; output: 'text' | 'json' | 'yaml' }, cmd: Command) => {
      let ids: ResourceId[];
      let set: LoadedSet | undefined;
      if (flags.filename.length && flags.selector !== undefined) throw new UsageError('use either -f or -l, not both', 'vendetta delete workspaces -l app=web');
      if (flags.filename.length) {
        set = await loadOrExit(flags.filename);
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
        const result = await engine.delete(ids, { timeoutMs: flagDuration('--timeout', flags.timeout, 300_000), set });
        progress.done();
        if (human) process.stdout.write(renderResult({ ...result, endpoints: new Map() }, Date.now() - started, detectStyle()) + '\n');
        else process.stdout.write(structured(result, flags.output) + '\n');
        if (!result.converged) throw new ExitError('', 1);
      } finally {
        progress.done();
        await engine.close();
      }
    });
}
