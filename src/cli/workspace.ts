// vendetta workspace up|down|connect NAME : the original plan's imperative verbs, on top of the
// same engine. up/down change the stored desired `state` of an applied workspace and converge
// its apply set (like `kubectl scale` next to `kubectl apply`: the next `apply -f` wins again).
import type { Command } from 'commander';
import { dirname } from 'node:path';
import { resourceId, type NodeResource, type ServiceResource, type WorkspaceResource, type ResourceId } from '../model/types.js';
import type { ResolvedEnv } from '../model/env.js';
import type { LoadedSet } from '../reconcile/api.js';
import type { AppliedRecord, Store } from '../store/types.js';
import { resolveEnv } from '../manifest/env.js';
import { formatManifestError } from '../manifest/errors.js';
import { detectStyle } from '../output/style.js';
import { createProgress } from '../output/progress.js';
import type { GlobalOptions } from './context.js';
import { flagDuration } from './options.js';
import { IMPLICIT_LOCAL_NODE } from './runtime.js';
import { renderResult } from './apply.js';
import { runShell } from './shell.js';
import { ExitError } from './errors.js';

/** The desired set an apply set last applied, rebuilt from the store (env references resolved again). */
export async function storedSet(store: Store, applySet: string): Promise<LoadedSet> {
  const records = (await store.list()).filter((r) => r.applySet === applySet || r.kind === 'Node');
  const set: LoadedSet = { desired: { nodes: new Map(), workspaces: new Map(), services: new Map() }, env: new Map() };
  set.desired.nodes.set(IMPLICIT_LOCAL_NODE.metadata.name, IMPLICIT_LOCAL_NODE);
  const problems: string[] = [];
  for (const r of records) {
    if (r.kind === 'Node') set.desired.nodes.set(r.name, r.resource as NodeResource);
    if (r.kind === 'Workspace') set.desired.workspaces.set(r.name, r.resource as WorkspaceResource);
    if (r.kind === 'Service') set.desired.services.set(r.name, r.resource as ServiceResource);
    if (r.kind !== 'Node') set.env.set(r.id, await resolveStoredEnv(r, problems));
  }
  if (problems.length) throw new ExitError(problems.join('\n'), 1, 'set the variables / files the manifests reference, as for `vendetta apply`');
  return set;
}

async function resolveStoredEnv(r: AppliedRecord, problems: string[]): Promise<ResolvedEnv> {
  const res = r.resource as WorkspaceResource | ServiceResource;
  const source = res.source ?? { file: '(store)', line: 0, col: 0 };
  const { env, errors } = await resolveEnv(res.spec.env, {
    subject: `${r.kind} "${r.name}"`,
    manifestDir: dirname(source.file),
    environ: process.env,
    at: () => source,
  });
  problems.push(...errors.map(formatManifestError));
  return env;
}

async function setState(name: string, state: 'running' | 'stopped', flags: { timeout?: string }, global: GlobalOptions): Promise<void> {
  const progress = createProgress(detectStyle(process.stderr));
  const { openEngine } = await import('./context.js'); // heavy: loaded by the commands that reconcile
  const { store, engine } = await openEngine(global, {
    onEvent: (e) => progress.event(e),
    onProgress: (r, m) => progress.status(r, m),
  });
  try {
    const rec = await store.get(resourceId('Workspace', name));
    if (!rec) throw new ExitError(`workspace "${name}" has not been applied`, 1, 'apply its manifest first: vendetta apply -f FILE');
    const set = await storedSet(store, rec.applySet);
    const ws = set.desired.workspaces.get(name)!;
    set.desired.workspaces.set(name, { ...ws, spec: { ...ws.spec, state } });
    const started = Date.now();
    const result = await engine.apply(set, { applySet: rec.applySet, prune: false, timeoutMs: flagDuration('--timeout', flags.timeout, 300_000) });
    progress.done();
    process.stdout.write(renderResult(onlyWorkspace(result, name, set), Date.now() - started, detectStyle()) + '\n');
    if (!result.converged) throw new ExitError('', 1);
  } finally {
    progress.done();
    await engine.close();
  }
}

/** Endpoints of this workspace's services only: the rest of the apply set was just re-checked. */
function onlyWorkspace<T extends { endpoints: Map<ResourceId, string> }>(result: T, name: string, set: LoadedSet): T {
  const mine = new Set([...set.desired.services.values()].filter((s) => s.spec.workspace === name).map((s) => resourceId('Service', s.metadata.name)));
  return { ...result, endpoints: new Map([...result.endpoints].filter(([id]) => mine.has(id))) };
}

export function registerWorkspace(program: Command): void {
  const ws = program.command('workspace').description('start, stop or enter an applied workspace');
  ws.command('up')
    .description('start a workspace and its services, and wait until Ready')
    .argument('<name>', 'workspace name')
    .option('--timeout <duration>', 'give up waiting after this long', '5m')
    .action((name: string, flags: { timeout?: string }, cmd: Command) => setState(name, 'running', flags, cmd.optsWithGlobals() as GlobalOptions));
  ws.command('down')
    .description('stop a workspace (it is kept; `workspace up` starts it again)')
    .argument('<name>', 'workspace name')
    .option('--timeout <duration>', 'give up waiting after this long', '5m')
    .action((name: string, flags: { timeout?: string }, cmd: Command) => setState(name, 'stopped', flags, cmd.optsWithGlobals() as GlobalOptions));
  ws.command('connect')
    .description('open an interactive shell inside a workspace (same as `vendetta shell`)')
    .argument('<name>', 'workspace name')
    .action((name: string, _flags: unknown, cmd: Command) => runShell(name, cmd.optsWithGlobals() as GlobalOptions));
}
