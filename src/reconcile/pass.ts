// Executes one reconcile pass: one workspace machine per workspace and one service machine per
// service of the pass, wired together (workspace ready → its services; service state → the
// services that dependsOn it), gated by the plan's operation dependencies, with at most
// `concurrency` provider operations per node at a time (deletes of one node go as one batch), and
// services' state read per node (./node-reader.ts). Carries no decisions of its own: what to do
// comes from the plan, how to retry and when a resource counts as ready from the machines.
import { createActor, type Actor } from 'xstate';
import type {
  EventRecord,
  HealthcheckSpec,
  NodeResource,
  ObservedService,
  ObservedSet,
  ObservedWorkspace,
  ProviderName,
  ResourceId,
  ServiceResource,
  WorkspaceResource,
} from '../model/types.js';
import { resourceId } from '../model/types.js';
import { REDACTED } from '../model/env.js';
import type { Operation, Plan } from '../plan/types.js';
import { ProviderError, type DesiredWorkspace, type DriverContext, type ProviderDriver, type WorkspaceRuntime } from '../providers/types.js';
import type { DesiredService, HealthResult, ServiceManager } from '../services/types.js';
import { DEFAULT_HEALTHCHECK } from '../services/probe-script.js';
import type { Transport } from '../transport/types.js';
import type { LoadedSet } from './api.js';
import { TerminalError, type RetryPolicy } from './retry.js';
import {
  describeCondition,
  serviceMachine,
  type Dependency,
  type DependencyState,
  type HealthTiming,
  type ServiceIo,
  type ServiceMachine,
  type ServiceOperation,
  type ServiceTarget,
} from './service-machine.js';
import { servicePhase, topState, workspacePhase } from './status.js';
import { answeredObservation, hasProbe, providerUnavailable } from './observe.js';
import { createCoalescer, createNodeReader, type ServicesByWorkspace } from './node-reader.js';
import { workspaceMachine, type WorkspaceIo, type WorkspaceMachine, type WorkspaceOperation, type WorkspaceTarget } from './workspace-machine.js';
import type { Phase } from '../model/types.js';
import { HookError, hooksAfter, runHooks, type Hook } from './lifecycle.js';
import { settledService, settledWorkspace, staleVerdict, type Settled } from './settled.js';

/** The pure/effectful helpers the pass needs besides drivers (injectable for tests). */
export interface PassHelpers {
  desiredWorkspace: (set: LoadedSet, name: string) => DesiredWorkspace;
  desiredService: (set: LoadedSet, name: string, workspaceDir: string) => DesiredService;
  serviceManager: (rt: WorkspaceRuntime) => ServiceManager;
  checkHealth: (hc: HealthcheckSpec, rt: WorkspaceRuntime, transport: Transport, timeoutMs: number) => Promise<HealthResult>;
  parseDuration: (text: string) => number;
}

export interface PassContext {
  helpers: PassHelpers;
  /** Absent for `delete`, which only runs delete operations. */
  set?: LoadedSet;
  plan: Plan;
  observed: ObservedSet;
  nodes: Map<string, NodeResource>;
  drivers: Partial<Record<ProviderName, ProviderDriver>>;
  transport: (node: string) => Promise<Transport>;
  applySet: string;
  /** Runs a provider operation within the node's concurrency limit. */
  withNodeSlot: <T>(node: string, work: () => Promise<T>) => Promise<T>;
  record: (event: Omit<EventRecord, 'time'>) => void;
  progress: (resource: ResourceId, message: string) => void;
  signal: AbortSignal;
  retry?: Partial<RetryPolicy>;
  /** Service start confirmation tuning (tests make it fast). */
  servicePollMs?: number;
  /** How long a started service must be seen running before it counts as started (default 0: its "ready"). */
  serviceStableMs?: number;
  /**
   * Resources the previous pass saw fail: a service among them that this pass leaves alone is
   * watched for the full window like a fresh start, not trusted from one look (a crash-looping
   * service looks "running" between restarts).
   */
  recheck?: ReadonlySet<ResourceId>;
  /** Return once every planned operation finished, without waiting for readiness. */
  noWait?: boolean;
  /**
   * Operations wait for this (the planned statuses being written): the machines are made while
   * the store writes, but no node is touched before it took them.
   */
  operationsAfter?: Promise<void>;
  /** Run a machine for every unit, also those the observation settles (./settled.ts): tests compare the two. */
  machineForEveryUnit?: boolean;
}

/** What became of one resource in this pass. */
export interface UnitOutcome {
  id: ResourceId;
  kind: 'Workspace' | 'Service';
  name: string;
  node: string;
  workspace?: string;
  target: WorkspaceTarget | ServiceTarget;
  phase: Phase;
  /** Why it failed or is not ready. */
  reason?: string;
  /** The planned operation, if any, and whether it completed. */
  operation?: Operation;
  operationDone: boolean;
  address?: string;
  /** The commit its source.git was made from: as created this pass, else as observed. */
  gitCommit?: string;
  observedService?: ObservedService;
  lastHealth?: HealthResult;
  hasHealthcheck?: boolean;
  dependsOn?: Dependency[];
}

export interface PassOutcome {
  units: UnitOutcome[];
  operationsRun: number;
  operationsSucceeded: number;
  /** Every planned operation of the pass completed (true for a pass that planned none). */
  allOperationsDone: boolean;
}

/**
 * Gap between reads of a node's service state while confirming starts and waiting for health
 * verdicts. Reads are coalesced per node (./node-reader.ts), so this costs one round trip per
 * node per poll however many services are confirming.
 */
const DEFAULT_POLL_MS = 50;
/**
 * How long a service this pass starts must be seen running before it counts as started: none. The
 * child confirms the start itself once its command is found and it becomes the service (the
 * supervisor's "ready"); a crash after that is the restart policy's, shown by the next look, as
 * with Kubernetes and Compose. A window here would be a fixed wait on every cold path.
 */
const DEFAULT_STABLE_MS = 0;
const CONFIRM_BUDGET_MS = 10_000;

const WORKSPACE_OPS: Record<string, WorkspaceOperation> = {
  'create-workspace': 'create',
  'recreate-workspace': 'recreate',
  'update-workspace': 'update',
  'start-workspace': 'start',
  'stop-workspace': 'stop',
  'delete-workspace': 'delete',
};
const SERVICE_OPS: Record<string, ServiceOperation> = {
  'start-service': 'start',
  'restart-service': 'restart',
  'stop-service': 'stop',
  'delete-service': 'delete',
};
const WORKSPACE_EVENT: Record<WorkspaceOperation, { reason: string; verb: string }> = {
  create: { reason: 'Created', verb: 'created' },
  recreate: { reason: 'Recreated', verb: 'recreated' },
  update: { reason: 'Updated', verb: 'updated in place' },
  start: { reason: 'Started', verb: 'started' },
  stop: { reason: 'Stopped', verb: 'stopped' },
  delete: { reason: 'Deleted', verb: 'deleted' },
};
const SERVICE_EVENT: Record<ServiceOperation, { reason: string; verb: string }> = {
  start: { reason: 'Started', verb: 'started' },
  restart: { reason: 'Restarted', verb: 'restarted' },
  stop: { reason: 'Stopped', verb: 'stopped' },
  delete: { reason: 'Deleted', verb: 'deleted' },
};

interface WorkspaceUnit {
  kind: 'Workspace';
  name: string;
  node: string;
  provider: ProviderName;
  target: WorkspaceTarget;
  op?: Operation;
  observed?: ObservedWorkspace;
  /** A machine, or what the observation settled it to (./settled.ts): one of the two. */
  actor?: Actor<WorkspaceMachine>;
  settled?: Settled;
  services: ServiceUnit[];
  address?: string;
  /** Set by a create/recreate this pass whose driver reported the commit it used. */
  gitCommit?: string;
}

interface ServiceUnit {
  kind: 'Service';
  name: string;
  workspace: string;
  node: string;
  provider: ProviderName;
  target: ServiceTarget;
  op?: Operation;
  resource?: ServiceResource;
  healthcheck?: HealthcheckSpec;
  dependsOn: Dependency[];
  /** A machine, or what the observation settled it to (./settled.ts): one of the two. */
  actor?: Actor<ServiceMachine>;
  settled?: Settled;
  dependencyState: DependencyState;
}

/** Completion of one planned operation: true when it ran, false when its machine gave up. */
interface Deferred {
  promise: Promise<boolean>;
  resolve: (ok: boolean) => void;
  settled: boolean;
  ok: boolean;
}

/**
 * What runs once after a workspace is created (not on a no-op, again after a recreate): its
 * dotfiles. Any failure is terminal: the workspace exists, so retrying the create cannot help.
 */
async function afterCreate(driver: ProviderDriver, dctx: DriverContext, ws: WorkspaceResource): Promise<void> {
  if (!ws.spec.dotfiles) return;
  const { applyDotfiles } = await import('../providers/dotfiles.js');
  await applyDotfiles(dctx, driver, ws).catch((err: unknown) => {
    if (err instanceof TerminalError) throw err;
    const hint = err instanceof ProviderError ? err.hint : undefined;
    throw new TerminalError(err instanceof Error ? err.message : String(err), hint);
  });
}

function deferred(onSettled: () => void): Deferred {
  let resolve!: (ok: boolean) => void;
  const d: Deferred = { promise: new Promise<boolean>((r) => (resolve = r)), resolve: () => {}, settled: false, ok: false };
  d.resolve = (ok) => {
    if (d.settled) return;
    d.settled = true;
    onSettled();
    d.ok = ok;
    resolve(ok);
  };
  return d;
}

export async function executePass(ctx: PassContext): Promise<PassOutcome> {
  const { plan, observed, set, helpers } = ctx;
  const pollMs = ctx.servicePollMs ?? DEFAULT_POLL_MS;
  let opsSettled = 0;
  const opDone = new Map<string, Deferred>(plan.operations.map((op) => [op.id, deferred(() => opsSettled++)]));
  let operationsRun = 0;
  let operationsSucceeded = 0;
  const runtimes = new Map<string, Promise<WorkspaceRuntime>>();
  const managers = new WeakMap<WorkspaceRuntime, ServiceManager>();

  const observedWorkspace = (node: string, name: string) =>
    observed.get(node)?.workspaces.find((w) => w.name === name);

  const driverFor = (provider: ProviderName, node: string): ProviderDriver => {
    const driver = ctx.drivers[provider];
    if (!driver) {
      throw new TerminalError(
        `no ${provider} driver is available on node ${node}`,
        `use a provider this vendetta supports (${Object.keys(ctx.drivers).join(', ') || 'none'}) for workspaces on ${node}`,
      );
    }
    return driver;
  };
  const driverContext = async (node: string, resource: ResourceId): Promise<DriverContext> => {
    const nodeResource = ctx.nodes.get(node);
    if (!nodeResource) throw new TerminalError(`node ${node} is not declared`);
    return {
      node: nodeResource,
      transport: await ctx.transport(node),
      applySet: ctx.applySet,
      progress: (message) => ctx.progress(resource, message),
    };
  };
  const runtimeFor = (node: string, provider: ProviderName, workspace: string, fresh = false): Promise<WorkspaceRuntime> => {
    const key = `${node}/${workspace}`;
    let rt = fresh ? undefined : runtimes.get(key);
    if (!rt) {
      rt = (async () => driverFor(provider, node).runtime(await driverContext(node, resourceId('Workspace', workspace)), workspace))();
      runtimes.set(key, rt);
      rt.catch(() => runtimes.delete(key));
    }
    return rt;
  };
  const managerFor = (rt: WorkspaceRuntime): ServiceManager => {
    let m = managers.get(rt);
    if (!m) managers.set(rt, (m = helpers.serviceManager(rt)));
    return m;
  };

  // Service state for the machines, one read per node (and provider) for all that ask at once:
  // the driver's observeServices when it has one, else one exec per workspace.
  const readerKey = (node: string, provider: ProviderName) => `${node}\u0000${provider}`;
  const reader = createNodeReader(async (key, workspaces): Promise<ServicesByWorkspace> => {
    const [node, provider] = key.split('\u0000') as [string, ProviderName];
    const driver = driverFor(provider, node);
    if (driver.observeServices) {
      return driver.observeServices(await driverContext(node, resourceId('Node', node)), workspaces);
    }
    const found: ServicesByWorkspace = new Map();
    await Promise.all(
      workspaces.map(async (w) => {
        try {
          found.set(w, await managerFor(await runtimeFor(node, provider, w)).observe());
        } catch (err) {
          found.set(w, err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
    return found;
  });

  // Deletes of one node that are due at the same moment go to the driver as one batch (about one
  // round trip) when it can take one: not through the node's slots one by one.
  const deletes = createCoalescer<void>(async (key, names) => {
    const [node, provider] = key.split('\u0000') as [string, ProviderName];
    return driverFor(provider, node).deleteMany!(await driverContext(node, resourceId('Node', node)), names);
  }, undefined);

  /** Waits for the operations `op` depends on; a failed one makes `op` fail for good. */
  const runOperation = async (op: Operation | undefined, work: () => Promise<void>, slot = true): Promise<void> => {
    // Nothing is done to a node before the pass's planned statuses are in the store.
    if (ctx.operationsAfter) {
      await ctx.operationsAfter.catch((err: unknown) => {
        throw new TerminalError(`the store did not take the planned statuses: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    if (op) {
      for (const dep of op.dependsOn) {
        const ok = await (opDone.get(dep)?.promise ?? Promise.resolve(true));
        if (!ok) throw new TerminalError(`${dep} did not complete`);
      }
      operationsRun++;
      ctx.progress(op.resource, `${op.type} on ${op.node}: ${op.cause}`);
    }
    await (slot ? ctx.withNodeSlot(op?.node ?? '', work) : work());
    if (op) {
      operationsSucceeded++;
      opDone.get(op.id)!.resolve(true);
    }
  };

  // ----- workspace units -------------------------------------------------------------------
  const workspaceUnits: WorkspaceUnit[] = [];
  const makeWorkspaceUnit = (name: string, node: string, provider: ProviderName, target: WorkspaceTarget, op?: Operation): WorkspaceUnit => {
    const id = resourceId('Workspace', name);
    let unit: WorkspaceUnit;
    let pendingHooks: Hook[] = target === 'running' && op ? hooksAfter(WORKSPACE_OPS[op.type]) : [];
    const runLifecycle = async (hooks: Hook[], rt: WorkspaceRuntime) => {
      const desired = helpers.desiredWorkspace(set!, name);
      try {
        const ran = await runHooks(rt, desired.resource.spec.lifecycle, hooks, { env: desired.env, progress: (m) => ctx.progress(id, m) });
        if (ran > 0) ctx.record({ object: id, type: 'Normal', reason: 'LifecycleHooks', message: `ran ${ran} lifecycle command${ran === 1 ? '' : 's'} (${hooks.join(', ')}) in workspace ${name}` });
      } catch (err) {
        if (!(err instanceof HookError) || !hooks.includes('postCreate')) throw err;
        // A create whose hooks failed is not made: removed, so the next apply creates it (and
        // runs them) again instead of taking it for done. Its volumes stay, as on every recreate.
        ctx.record({ object: id, type: 'Warning', reason: 'LifecycleHookFailed', message: `${err.message.split('\n')[0]}: removing workspace ${name} so the next apply creates it again` });
        await driverFor(provider, node).delete(await driverContext(node, id), name).catch(() => undefined);
        throw err;
      }
    };
    const io: WorkspaceIo = {
      operate: (operation) => {
        if (operation === 'delete' && ctx.drivers[provider]?.deleteMany) {
          return runOperation(op, () => deletes.request(readerKey(node, provider), name), false);
        }
        return runOperation(op, async () => {
          const driver = driverFor(provider, node);
          const dctx = await driverContext(node, id);
          switch (operation) {
            case 'create':
              unit.gitCommit = (await driver.create(dctx, helpers.desiredWorkspace(set!, name)))?.gitCommit;
              await afterCreate(driver, dctx, set!.desired.workspaces.get(name)!);
              break;
            case 'recreate':
              await driver.delete(dctx, name, { replacing: true });
              unit.gitCommit = (await driver.create(dctx, helpers.desiredWorkspace(set!, name)))?.gitCommit;
              await afterCreate(driver, dctx, set!.desired.workspaces.get(name)!);
              break;
            case 'update':
              // Planned only for drivers that record a shape hash, which implement update().
              if (!driver.update) throw new Error(`the ${provider} provider cannot update workspace ${name} in place`);
              await driver.update(dctx, helpers.desiredWorkspace(set!, name));
              break;
            case 'start':
              await driver.start(dctx, name);
              break;
            case 'stop':
              await driver.stop(dctx, name);
              break;
            case 'delete':
              await driver.delete(dctx, name);
              break;
          }
        });
      },
      verify: async () => {
        // The pass's own observation already reached inside a workspace it leaves alone: a
        // running workspace whose services were listed answered a command moments ago (every
        // driver reads them from inside it). Another `true` would cost a round trip and tell
        // nothing new. Operated workspaces, and those observed without services, are checked.
        if (!op && answeredObservation(unit.observed)) return;
        const rt = await runtimeFor(node, provider, name, true);
        // Its driver's create/start already waited for it to run (see ProviderDriver).
        if (!(op && ctx.drivers[provider]?.startedMeansRunning)) {
          const result = await rt.exec(['true'], { timeoutMs: 15_000 });
          if (result.code !== 0) {
            throw new Error(`workspace ${name} on ${node} did not run \`true\` (exit ${result.code}): ${result.stderr.trim() || 'no output'}`);
          }
        }
        unit.address = rt.address;
        // Once it answers, before its services start: the hooks the operation owes it. Taken
        // before running, so a retried verify never runs them twice.
        const hooks = pendingHooks;
        pendingHooks = [];
        if (hooks.length > 0) await runLifecycle(hooks, rt);
      },
    };
    const observedWs = observedWorkspace(node, name);
    unit = { kind: 'Workspace', name, node, provider, target, op, observed: observedWs, services: [] };
    workspaceUnits.push(unit);
    unit.settled = ctx.machineForEveryUnit ? undefined : settledWorkspace(target, op !== undefined, observedWs);
    if (unit.settled) return unit;
    const actor = createActor(workspaceMachine, { input: { io, name, operation: op ? WORKSPACE_OPS[op.type] : undefined, target, retry: ctx.retry } });
    unit.actor = actor;
    actor.on('operated', (e) => {
      const ev = WORKSPACE_EVENT[e.operation];
      ctx.record({ object: id, type: 'Normal', reason: ev.reason, message: `${ev.verb} workspace ${name} on node ${node}${op ? ` (${op.cause})` : ''}` });
    });
    actor.on('retrying', (e) =>
      ctx.progress(id, `${e.step} failed (attempt ${e.attempt}), retrying in ${e.delayMs} ms: ${e.error}`),
    );
    return unit;
  };

  const findOp = (kind: 'Workspace' | 'Service', name: string, pred: (op: Operation) => boolean) =>
    plan.operations.find((op) => op.kind === kind && op.name === name && pred(op));

  for (const ws of set?.desired.workspaces.values() ?? []) {
    const node = ws.spec.node;
    if (!observed.get(node)?.reachable || providerUnavailable(observed, node, ws.spec.provider)) continue;
    // Another vendetta store owns it: no machine, so nothing touches it (the engine reports it).
    if (plan.conflicts?.some((c) => c.resource === resourceId('Workspace', ws.metadata.name) && c.node === node)) continue;
    const op = findOp('Workspace', ws.metadata.name, (o) => o.node === node && o.type !== 'delete-workspace');
    makeWorkspaceUnit(ws.metadata.name, node, ws.spec.provider, ws.spec.state === 'stopped' ? 'stopped' : 'running', op);
  }
  for (const op of plan.operations.filter((o) => o.type === 'delete-workspace')) {
    makeWorkspaceUnit(op.name, op.node, op.provider, 'deleted', op);
  }
  const desiredWorkspaceUnits = new Map(workspaceUnits.filter((u) => u.target !== 'deleted').map((u) => [u.name, u]));

  // ----- service units ---------------------------------------------------------------------
  const serviceUnits: ServiceUnit[] = [];
  // Services another one waits on with `condition: completed`: their start is confirmed by their exit.
  const awaitedToComplete = new Set<string>();
  for (const svc of set?.desired.services.values() ?? []) {
    for (const [dep, { condition }] of Object.entries(svc.spec.dependsOn ?? {})) if (condition === 'completed') awaitedToComplete.add(dep);
  }
  const makeServiceUnit = (
    name: string,
    workspace: string,
    node: string,
    provider: ProviderName,
    target: ServiceTarget,
    op: Operation | undefined,
    resource: ServiceResource | undefined,
    workspaceReady = false,
  ): ServiceUnit => {
    const id = resourceId('Service', name);
    const healthcheck = hasProbe(resource?.spec.healthcheck) ? resource!.spec.healthcheck : undefined;
    const hc = { ...DEFAULT_HEALTHCHECK, ...healthcheck };
    const health: HealthTiming | undefined = healthcheck
      ? {
          intervalMs: helpers.parseDuration(hc.interval),
          retries: hc.retries,
          startPeriodMs: helpers.parseDuration(hc.startPeriod),
        }
      : undefined;
    const dependsOn = Object.entries(resource?.spec.dependsOn ?? {}).map(([service, d]) => ({ service, condition: d.condition }));
    const operation = op ? SERVICE_OPS[op.type] : undefined;
    // A service the pass leaves alone takes its first look from the pass's observation, which
    // already read it: no exec before its health probe. Later looks (it was backing off, say)
    // and every look at a service this pass starts go to the node reader.
    let firstLook = operation ? undefined : observedWorkspace(node, workspace)?.services.find((s) => s.name === name);
    const stableMs = ctx.serviceStableMs ?? DEFAULT_STABLE_MS;
    // Its first health verdict too: a converged service with a recorded verdict costs no round trip.
    let firstHealthLook = firstLook;
    let controllerProbes = false;
    const readService = async () => (await reader.read(readerKey(node, provider), workspace)).find((s) => s.name === name);
    const io: ServiceIo = {
      operate: (operation) =>
        runOperation(op, async () => {
          const rt = await runtimeFor(node, provider, workspace);
          const manager = managerFor(rt);
          // A start watches the new run on the node for the stability window and returns what it
          // saw: that is the service's first look, so confirming it costs no round trip.
          const startConfirmed = async () => {
            firstLook = await manager.start(helpers.desiredService(set!, name, rt.workspaceDir), { settleMs: stableMs });
          };
          switch (operation) {
            case 'start':
              await startConfirmed();
              break;
            case 'restart':
              await manager.stop(name);
              await startConfirmed();
              break;
            case 'stop':
              await manager.stop(name);
              break;
            case 'delete':
              await manager.remove(name);
              break;
          }
        }),
      observe: async () => {
        if (firstLook) {
          const seen = firstLook;
          firstLook = undefined;
          return seen;
        }
        return readService();
      },
      // The supervisor probes on the node and records its verdict: read it with the node's
      // other services. Only without one (no probe tool in the workspace, an older supervisor)
      // does the controller probe, as it did before.
      probe: async () => {
        if (!controllerProbes) {
          const seen = firstHealthLook ?? (await readService());
          firstHealthLook = undefined;
          const h = seen?.health;
          if (h && h.status !== 'unknown') {
            // A verdict from before the current run started (a restart this pass) says nothing yet.
            if (staleVerdict(h.checkedAt, seen.startedAt)) return { ok: false, message: h.message, verdict: 'starting', observed: seen };
            return { ok: h.status === 'healthy', message: h.message, verdict: h.status, failures: h.failures, observed: seen };
          }
          if (seen) controllerProbes = true; // this supervisor records no verdict: stop asking
        }
        return helpers.checkHealth(healthcheck!, await runtimeFor(node, provider, workspace), await ctx.transport(node), helpers.parseDuration(hc.timeout));
      },
    };
    const unit: ServiceUnit = { kind: 'Service', name, workspace, node, provider, target, op, resource, healthcheck, dependsOn, dependencyState: 'pending' };
    serviceUnits.push(unit);
    const recheck = ctx.recheck?.has(id) ?? false;
    const untilExit = awaitedToComplete.has(name);
    unit.settled = ctx.machineForEveryUnit
      ? undefined
      : settledService({ target, hasOperation: op !== undefined, workspaceSettled: workspaceReady, recheck, untilExit, probed: healthcheck !== undefined, seen: firstLook });
    if (unit.settled) {
      if (unit.settled.state === 'ready') unit.dependencyState = 'healthy';
      return unit;
    }
    const a = createActor(serviceMachine, {
        // A service this pass starts must be seen running twice (it may crash at once); one this
        // pass leaves alone was already running in the pass's observation: one look is enough,
        // unless it failed in the previous pass.
        input: {
          io,
          name,
          operation,
          target,
          dependsOn,
          health,
          retry: ctx.retry,
          pollMs,
          // Give up confirming after about CONFIRM_BUDGET_MS of polling.
          maxPolls: Math.ceil(CONFIRM_BUDGET_MS / Math.max(pollMs, DEFAULT_POLL_MS)),
          stableObservations: operation || recheck ? 2 : 1,
          stableMs,
          untilExit,
          ports: resource?.spec.ports,
          workspaceReady,
        },
      });
    unit.actor = a;
    a.on('operated', (e) => {
      const ev = SERVICE_EVENT[e.operation];
      ctx.record({
        object: id,
        type: 'Normal',
        reason: ev.reason,
        message: `${ev.verb} service ${name} in workspace ${workspace} on node ${node}${op ? ` (${op.cause})` : ''}`,
      });
    });
    a.on('waitingForDependencies', (e) =>
      ctx.record({
        object: id,
        type: 'Normal',
        reason: 'WaitingForDependency',
        message: `waiting for ${e.unmet.map((d) => `service ${d.service} to be ${describeCondition(d.condition)}`).join(', ')}`,
      }),
    );
    // Events record what changed: a dependency becoming ready matters to a service this pass
    // starts (it was waiting); for one left alone it only says the pass looked again.
    a.on('dependencyReady', (e) => {
      const message = `service ${e.dependency.service} is ${describeCondition(e.dependency.condition)}`;
      if (op) ctx.record({ object: id, type: 'Normal', reason: 'DependencyReady', message });
      else ctx.progress(id, message);
    });
    a.on('started', (e) => ctx.progress(id, `running (pid ${e.observed.pid ?? '?'})`));
    // A service left alone this pass is re-checked quietly: events say what changed.
    a.on('healthy', (e) =>
      op ? ctx.record({ object: id, type: 'Normal', reason: 'Healthy', message: e.message }) : ctx.progress(id, `healthy: ${e.message}`),
    );
    a.on('unhealthy', (e) =>
      e.counted
        ? ctx.record({ object: id, type: 'Warning', reason: 'Unhealthy', message: `${e.message} (${e.failures} consecutive)` })
        : ctx.progress(id, `not healthy yet (start period): ${e.message}`),
    );
    a.on('retrying', (e) => ctx.progress(id, `${e.step} failed (attempt ${e.attempt}), retrying in ${e.delayMs} ms: ${e.error}`));
    return unit;
  };

  for (const svc of set?.desired.services.values() ?? []) {
    const wsUnit = desiredWorkspaceUnits.get(svc.spec.workspace);
    if (!wsUnit) continue;
    const op = findOp('Service', svc.metadata.name, (o) => o.workspace === svc.spec.workspace && o.type !== 'delete-service');
    const target: ServiceTarget = op?.type === 'stop-service' || wsUnit.target !== 'running' ? 'stopped' : 'running';
    wsUnit.services.push(makeServiceUnit(svc.metadata.name, svc.spec.workspace, wsUnit.node, wsUnit.provider, target, op, svc, wsUnit.settled?.state === 'ready'));
  }
  for (const op of plan.operations.filter((o) => o.type === 'delete-service')) {
    makeServiceUnit(op.name, op.workspace ?? '', op.node, op.provider, 'deleted', op, undefined);
  }
  // A failure reason may quote the service's log, and a service may print its env: its secret
  // values (its own and its workspace's fromEnv/fromFile) never reach events or output.
  const serviceReason = (u: ServiceUnit, reason: string | undefined): string | undefined => {
    if (reason === undefined || !set) return reason;
    const secrets = [set.env.get(resourceId('Service', u.name)), set.env.get(resourceId('Workspace', u.workspace))]
      .flatMap((env) => Object.values(env ?? {}))
      .filter((v) => v.secret && v.value !== '')
      .map((v) => v.value)
      .sort((a, b) => b.length - a.length);
    return secrets.reduce((text, secret) => text.split(secret).join(REDACTED), reason);
  };
  const runningServiceUnits = new Map(serviceUnits.filter((u) => u.target === 'running').map((u) => [u.name, u]));
  const dependentsOf = new Map<string, ServiceUnit[]>();
  for (const u of serviceUnits) {
    for (const d of u.dependsOn) {
      const list = dependentsOf.get(d.service);
      if (list) list.push(u);
      else dependentsOf.set(d.service, [u]);
    }
  }

  // ----- wiring: workspace → services, service → dependents, operations settle -------------
  const machines: Actor<WorkspaceMachine | ServiceMachine>[] = [];
  const done = (a: { getSnapshot(): { status: string } }) => a.getSnapshot().status !== 'active';

  for (const unit of workspaceUnits) {
    if (unit.settled) {
      ctx.progress(resourceId('Workspace', unit.name), `${workspacePhase(unit.settled.state, undefined).toLowerCase()} on ${unit.node}`);
      continue;
    }
    let lastPhase: Phase | undefined;
    machines.push(unit.actor!);
    unit.actor!.subscribe((snap) => {
      const phase = workspacePhase(topState(snap.value), snap.context.operation);
      if (phase !== lastPhase) {
        lastPhase = phase;
        ctx.progress(resourceId('Workspace', unit.name), `${phase.toLowerCase()} on ${unit.node}`);
      }
      if (snap.status !== 'done') return;
      if (unit.op) opDone.get(unit.op.id)!.resolve(false); // no-op when it already succeeded
      const state = topState(snap.value);
      for (const svc of unit.services) {
        if (state === 'ready') svc.actor?.send({ type: 'WORKSPACE_READY' });
        else if (state === 'failed') svc.actor?.send({ type: 'WORKSPACE_FAILED', reason: snap.context.reason ?? 'failed' });
      }
      if (state === 'failed') {
        ctx.record({
          object: resourceId('Workspace', unit.name),
          type: 'Warning',
          reason: 'Failed',
          message: `workspace ${unit.name} on node ${unit.node}: ${snap.context.reason}`,
        });
      }
    });
  }

  const dependencyStateOf = (state: string): DependencyState =>
    state === 'waitingHealthy'
      ? 'started'
      : state === 'ready'
        ? 'healthy'
        : state === 'completed'
          ? 'completed'
          : state === 'failed' || state === 'stopped' || state === 'deleted'
            ? 'failed'
            : 'pending';

  for (const unit of serviceUnits) {
    if (unit.settled) {
      ctx.progress(resourceId('Service', unit.name), servicePhase(unit.settled.state, undefined).toLowerCase());
      continue;
    }
    let lastPhase: Phase | undefined;
    machines.push(unit.actor!);
    unit.actor!.subscribe((snap) => {
      const state = topState(snap.value);
      const phase = servicePhase(state, snap.context.operation);
      if (phase !== lastPhase) {
        lastPhase = phase;
        ctx.progress(resourceId('Service', unit.name), phase.toLowerCase());
      }
      if (unit.target === 'running') {
        const depState = dependencyStateOf(state);
        if (depState !== unit.dependencyState) {
          unit.dependencyState = depState;
          const reason = state === 'failed' ? snap.context.reason : state === 'stopped' ? 'stopped' : undefined;
          for (const dependent of dependentsOf.get(unit.name) ?? []) {
            dependent.actor?.send({ type: 'DEPENDENCY_CHANGED', service: unit.name, state: depState, reason });
          }
        }
      }
      if (snap.status !== 'done') return;
      if (unit.op) opDone.get(unit.op.id)!.resolve(false);
      if (state === 'failed') {
        ctx.record({
          object: resourceId('Service', unit.name),
          type: 'Warning',
          reason: 'Failed',
          message: `service ${unit.name} in workspace ${unit.workspace} on node ${unit.node}: ${serviceReason(unit, snap.context.reason)}`,
        });
      }
    });
  }

  // Start workspaces first so that services see WORKSPACE_READY; then tell services about
  // dependencies that have no machine in this pass (their node is unreachable or they are
  // stopped), or whose observation settled them.
  for (const a of machines) a.start();
  for (const unit of serviceUnits) {
    if (!unit.actor) continue;
    for (const dep of unit.dependsOn) {
      const running = runningServiceUnits.get(dep.service);
      if (running?.settled) unit.actor.send({ type: 'DEPENDENCY_CHANGED', service: dep.service, state: running.dependencyState });
      else if (!running) unit.actor.send({ type: 'DEPENDENCY_CHANGED', service: dep.service, state: 'failed', reason: whyNoMachine(dep.service, ctx) });
    }
  }

  // Counted, not scanned: a pass of 2,000 machines sees several snapshots of each.
  await new Promise<void>((resolve) => {
    const subs: { unsubscribe(): void }[] = [];
    const active = new Set(machines.filter((a) => !done(a)));
    const check = () => {
      const finished = ctx.noWait ? opsSettled === opDone.size : active.size === 0;
      if (finished || ctx.signal.aborted) {
        for (const s of subs) s.unsubscribe();
        ctx.signal.removeEventListener('abort', check);
        resolve();
      }
    };
    for (const a of active) {
      const seen = () => {
        if (done(a)) active.delete(a);
        check();
      };
      subs.push(a.subscribe({ next: seen, error: seen, complete: seen }));
    }
    ctx.signal.addEventListener('abort', check);
    check();
  });
  for (const a of machines) if (!done(a)) a.stop();

  // A unit's end: its machine's last snapshot, or what its observation settled it to.
  const endOf = (u: WorkspaceUnit | ServiceUnit) => {
    if (u.settled) return { state: u.settled.state as string, operation: undefined, reason: undefined, observed: u.settled.observed, lastHealth: u.settled.lastHealth };
    const snap = u.actor!.getSnapshot();
    const c = snap.context as { operation?: WorkspaceOperation | ServiceOperation; reason?: string; observed?: ObservedService; lastHealth?: HealthResult };
    return { state: topState(snap.value), operation: c.operation, reason: c.reason, observed: c.observed, lastHealth: c.lastHealth };
  };
  const units: UnitOutcome[] = [
    ...workspaceUnits.map((u): UnitOutcome => {
      const end = endOf(u);
      return {
        id: resourceId('Workspace', u.name),
        kind: 'Workspace',
        name: u.name,
        node: u.node,
        target: u.target,
        phase: workspacePhase(end.state, end.operation as WorkspaceOperation | undefined),
        reason: end.state === 'failed' ? end.reason : undefined,
        operation: u.op,
        operationDone: u.op ? opDoneOk(opDone.get(u.op.id)) : true,
        address: u.address ?? u.observed?.address,
        gitCommit: u.gitCommit ?? u.observed?.gitCommit,
      };
    }),
    ...serviceUnits.map((u): UnitOutcome => {
      const end = endOf(u);
      return {
        id: resourceId('Service', u.name),
        kind: 'Service',
        name: u.name,
        node: u.node,
        workspace: u.workspace,
        target: u.target,
        phase: servicePhase(end.state, end.operation as ServiceOperation | undefined),
        reason: end.state === 'failed' ? serviceReason(u, end.reason) : undefined,
        operation: u.op,
        operationDone: u.op ? opDoneOk(opDone.get(u.op.id)) : true,
        address: desiredWorkspaceUnits.get(u.workspace)?.address ?? observedWorkspace(u.node, u.workspace)?.address,
        observedService: end.observed,
        lastHealth: end.lastHealth,
        hasHealthcheck: u.healthcheck !== undefined,
        dependsOn: u.dependsOn,
      };
    }),
  ];
  return { units, operationsRun, operationsSucceeded, allOperationsDone: [...opDone.values()].every((d) => d.ok) };
}

function opDoneOk(d: Deferred | undefined): boolean {
  return !!d && d.ok;
}

function whyNoMachine(service: string, ctx: PassContext): string {
  const svc = ctx.set?.desired.services.get(service);
  const ws = svc ? ctx.set?.desired.workspaces.get(svc.spec.workspace) : undefined;
  if (!svc || !ws) return 'not declared';
  const node = ctx.observed.get(ws.spec.node);
  if (!node?.reachable) return `its node ${ws.spec.node} is unreachable`;
  const unavailable = providerUnavailable(ctx.observed, ws.spec.node, ws.spec.provider);
  if (unavailable) return unavailable.error;
  if (ws.spec.state === 'stopped') return `its workspace ${ws.metadata.name} is stopped`;
  return 'not running';
}
