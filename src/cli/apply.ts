// vendetta apply -f PATH… : converge nodes to the manifests and wait until Ready.
import type { Command } from 'commander';
import { dataLossOperations, renderPlan, planSummary } from '../output/plan-render.js';
import type { Plan } from '../plan/types.js';
import { detectStyle } from '../output/style.js';
import { createProgress } from '../output/progress.js';
import { structured } from '../output/format.js';
import type { ApplyResult } from '../reconcile/api.js';
import { collect, flagDuration, outputOption, requireFiles } from './options.js';
import type { GlobalOptions } from './context.js';
import { ExitError, UsageError } from './errors.js';
import type { Style } from '../output/style.js';

interface ApplyFlags {
  filename: string[];
  prune?: boolean;
  volumes?: boolean;
  applyset: string;
  dryRun?: boolean;
  timeout?: string;
  lockTimeout?: string;
  wait: boolean;
  output: 'text' | 'json' | 'yaml';
  watch?: boolean;
  resync?: string;
  debounce?: string;
  adopt?: boolean;
  yes?: boolean;
  node?: string;
}

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('converge the nodes to the manifests and wait until everything is Ready')
    .option('-f, --filename <path>', 'manifest file or directory (repeatable)', collect, [])
    .option('--prune', 'delete resources this apply set applied before that the manifests no longer declare')
    .option('--node <name>', 'for Compose files: the node their workspaces go to (default local; see docs/compose.md)')
    .option('--volumes', 'with --prune: also delete the volumes (data) of pruned workspaces; without it they are kept')
    .option('--applyset <name>', 'name of the apply set (scope of --prune)', 'default')
    .option('--dry-run', 'print the plan and change nothing')
    .option('-y, --yes', 'do not ask before replacing or removing workspaces (asked only on a terminal)')
    .option('--adopt', 'take over workspaces another vendetta manages (replaces them; see docs/concepts.md#ownership)')
    .option('--timeout <duration>', 'give up waiting for Ready after this long', '5m')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish', '60s')
    .option('--no-wait', 'return once operations have started, without waiting for Ready')
    .option('--watch', 'keep running: re-apply on manifest changes and repair drift (see docs/gitops.md)')
    .option('--resync <duration>', 'with --watch: how often to re-observe the nodes and repair drift', '30s')
    .option('--debounce <duration>', 'with --watch: quiet time after a change before re-applying', '300ms')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (flags: ApplyFlags, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      if (flags.watch && flags.adopt) {
        // A watch that adopts would take the workspace back every resync: two owners fighting.
        throw new UsageError('--adopt cannot be combined with --watch; take the workspaces over once with apply --adopt, then watch');
      }
      if (flags.volumes && !flags.prune) {
        throw new UsageError('--volumes deletes the volumes of pruned workspaces: use it with --prune', 'vendetta apply -f DIR --prune --volumes');
      }
      if (flags.watch) {
        const { runWatch } = await import('./watch.js');
        return runWatch({ ...flags, filename: requireFiles(flags.filename) }, global);
      }
      // Loaded here, not at the top: --help, get… must not pay for ajv, xstate and ssh2.
      const { loadOrExit, openEngine } = await import('./context.js');
      const set = await loadOrExit(requireFiles(flags.filename), 1, { node: flags.node });
      const style = detectStyle(process.stdout);
      const human = flags.output === 'text';
      const progress = createProgress(detectStyle(process.stderr));
      // Asked only when a person can answer; a pipeline's manifests are its intent (the plan it
      // prints still carries every warning).
      const ask = !flags.dryRun && !flags.yes && human && Boolean(process.stdin.isTTY && process.stdout.isTTY);
      let shown = false;
      const { engine } = await openEngine(global, {
        onEvent: (e) => human && progress.event(e),
        onProgress: (resource, message) => human && progress.status(resource, message),
        onLockWait: (holder) =>
          progress.line(`waiting for the lock held by pid ${holder.pid} on ${holder.host} ("${holder.command}", since ${holder.since})…`),
        onPlan: (plan, pass) => {
          if (human && pass === 1 && !shown) process.stdout.write(renderPlan(plan, { color: style.color }) + planSummary(plan) + '\n');
        },
      });
      try {
        if (flags.dryRun) {
          const { plan } = await engine.plan(set, { applySet: flags.applyset, prune: Boolean(flags.prune), adopt: Boolean(flags.adopt) });
          if (human) process.stdout.write(renderPlan(plan, { color: style.color }) + planSummary(plan) + '\n(dry run: nothing was changed)\n');
          else process.stdout.write(structured({ dryRun: true, plan }, flags.output) + '\n');
          return;
        }
        if (ask) {
          // The question needs the plan before anything is recorded or changed: one more
          // observation, paid only on a terminal.
          const { plan } = await engine.plan(set, { applySet: flags.applyset, prune: Boolean(flags.prune), adopt: Boolean(flags.adopt) });
          if (dataLossOperations(plan).length > 0) {
            process.stdout.write(renderPlan(plan, { color: style.color }) + planSummary(plan) + '\n');
            shown = true;
            if (!(await confirmDataLoss(plan))) throw new ExitError('nothing was changed', 1, 'declare a volume for what must survive (spec.volumes), or re-run with --yes');
          }
        }
        const started = Date.now();
        const result = await engine.apply(set, {
          applySet: flags.applyset,
          prune: Boolean(flags.prune),
          pruneVolumes: Boolean(flags.volumes),
          timeoutMs: flagDuration('--timeout', flags.timeout, 300_000),
          lockTimeoutMs: flagDuration('--lock-timeout', flags.lockTimeout, 60_000),
          noWait: !flags.wait,
          adopt: Boolean(flags.adopt),
        });
        progress.done();
        if (human) process.stdout.write(renderResult(result, Date.now() - started, style) + '\n');
        else process.stdout.write(structured(result, flags.output) + '\n');
        if (!result.converged && !(flags.wait === false && result.failures.length === 0)) throw new ExitError('', 1);
      } finally {
        progress.done();
        await engine.close();
      }
    });
}

/** "Replace 1 workspace (api)? Files outside its volumes are lost. [y/N]" on the terminal. */
async function confirmDataLoss(plan: Plan): Promise<boolean> {
  const losing = dataLossOperations(plan);
  const names = [...new Set(losing.map((o) => o.name))];
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const what = `${names.length} workspace${names.length === 1 ? '' : 's'} (${names.join(', ')})`;
    const answer = await rl.question(`Replace or remove ${what}, losing files outside volumes? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function renderResult(result: ApplyResult, elapsedMs: number, style: Style): string {
  const secs = (elapsedMs / 1000).toFixed(1);
  const lines: string[] = [];
  if (result.converged) {
    const ops = result.operationsRun;
    lines.push(style.green(`✓ converged in ${secs}s`) + ` (${ops} operation${ops === 1 ? '' : 's'})`);
  } else if (result.failures.length === 0) {
    lines.push(style.yellow(`operations started in ${secs}s; not waiting for Ready (--no-wait)`));
  } else {
    lines.push(style.red(`✗ not converged after ${secs}s:`));
    for (const f of result.failures) {
      lines.push(`  ${style.bold(f.resource)}${f.node ? ` (node ${f.node})` : ''}: ${f.reason}`);
      if (f.hint) lines.push(`      → ${f.hint}`);
    }
  }
  for (const v of result.volumesDeleted ?? []) {
    lines.push(`deleted volume${v.volumes.length === 1 ? '' : 's'} ${v.volumes.join(', ')} of pruned workspace ${v.workspace} on node ${v.node}`);
  }
  for (const v of result.volumesKept ?? []) {
    lines.push(style.yellow(`kept volume data of workspace ${v.workspace} (${v.volumes.join(', ')} on node ${v.node}): delete with vendetta delete workspace ${v.workspace} --volumes`));
  }
  if (result.endpoints.size > 0) {
    lines.push('Endpoints:');
    const width = Math.max(...[...result.endpoints.keys()].map((k) => k.length));
    for (const [id, url] of [...result.endpoints].sort()) lines.push(`  ${id.padEnd(width)}  ${url}`);
  }
  return lines.join('\n');
}
