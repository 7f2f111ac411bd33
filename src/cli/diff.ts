// vendetta diff -f PATH… : print the plan. Exit 0 no changes, 1 changes, >1 error (kubectl); a
// workspace another vendetta owns is an error (2): apply would fail on it, not change it.
import type { Command } from 'commander';
import { renderPlan, planSummary } from '../output/plan-render.js';
import { detectStyle } from '../output/style.js';
import { structured } from '../output/format.js';
import { collect, outputOption, requireFiles } from './options.js';
import type { GlobalOptions } from './context.js';
import { ExitError } from './errors.js';

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description('show what apply would change; exit 0 if nothing, 1 if something, 2 on error')
    .option('-f, --filename <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--prune', 'include deletions of resources no longer declared in the apply set')
    .option('--node <name>', 'for Compose files: the node their workspaces go to (default local; see docs/compose.md)')
    .option('--applyset <name>', 'name of the apply set (scope of --prune)', 'default')
    .option('--adopt', 'preview taking over workspaces another vendetta manages')
    .option('--refresh', 'ask upstream (git ls-remote on the node) whether a source.git branch moved; without it no network is used')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (flags: { filename: string[]; node?: string; prune?: boolean; adopt?: boolean; refresh?: boolean; applyset: string; output: 'text' | 'json' | 'yaml' }, cmd: Command) => {
      const { loadOrExit, openEngine } = await import('./context.js'); // heavy: only when diffing
      let set;
      try {
        set = await loadOrExit(requireFiles(flags.filename), 2, { node: flags.node });
      } catch (e) {
        if (e instanceof ExitError) throw new ExitError(e.message, 2, e.hint);
        throw e;
      }
      const { engine } = await openEngine(cmd.optsWithGlobals() as GlobalOptions);
      try {
        const { plan } = await engine.plan(set, { applySet: flags.applyset, prune: Boolean(flags.prune), adopt: Boolean(flags.adopt), refresh: Boolean(flags.refresh) });
        if (flags.output === 'text') {
          process.stdout.write(renderPlan(plan, { color: detectStyle().color }) + planSummary(plan) + '\n');
        } else {
          process.stdout.write(structured({ changes: plan.operations.length > 0, plan }, flags.output) + '\n');
        }
        if (plan.unreachable.length > 0) throw new ExitError(`cannot diff: ${plan.unreachable.map((u) => u.node).join(', ')} unreachable`, 2);
        // A provider that could not be observed: what is there is unknown, so the diff is incomplete.
        if (plan.unavailable?.length) {
          throw new ExitError(`cannot diff: ${plan.unavailable.map((u) => `${u.provider} on node ${u.node}`).join(', ')} unavailable`, 2);
        }
        if (plan.conflicts?.length) {
          throw new ExitError(`cannot diff: ${plan.conflicts.map((c) => c.message).join('; ')}`, 2);
        }
        if (plan.operations.length > 0) throw new ExitError('', 1);
      } catch (e) {
        if (e instanceof ExitError) throw e;
        throw new ExitError(e instanceof Error ? e.message : String(e), 2);
      } finally {
        await engine.close();
      }
    });
}
