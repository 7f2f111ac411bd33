// What the dashboard's resource page asks of the server beyond the CLI's API: the plan of a
// resource's apply set, a sync (converge that set now) and a restart of services. Each works on
// what the server holds (the Coordinator's sets), never on manifests sent by the page.
import { resourceId, type EventRecord, type Kind, type ResourceId, type ServiceResource } from '../model/types.js';
import type { Plan } from '../plan/types.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import { createServiceManager } from '../services/manager.js';
import type { AppliedRecord, Store } from '../store/types.js';
import type { Coordinator } from './coordinator.js';
import type { EventHub } from './session.js';

/** A refused action, with the HTTP status http.ts answers with. */
export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface ActionContext {
  coordinator: Coordinator;
  store: Store;
  hub: EventHub;
  /** How to run things in an applied workspace (serve: through its node's transport). */
  openRuntime?: (workspace: string) => Promise<WorkspaceRuntime>;
}

/** The applied record of `id`, for a workspace or service (nodes have no apply set of their own). */
async function appliedRecord(store: Store, kind: Kind, name: string, what: string): Promise<AppliedRecord> {
  const id = resourceId(kind, name);
  if (kind === 'Node') throw new ActionError(400, `${what} works on a workspace or a service, not on ${id}`, 'open one of its workspaces or services');
  const record = await store.get(id);
  if (!record) throw new ActionError(404, `${id} has not been applied`);
  return record;
}

/**
 * The plan of the apply set `id` belongs to, as a pass would run it now: the operations of the
 * whole set (the page marks those on this resource). Read-only.
 */
export async function planOf(ctx: ActionContext, kind: Kind, name: string): Promise<{ applySet: string; plan: Plan }> {
  const record = await appliedRecord(ctx.store, kind, name, 'a plan');
  const { plan } = await ctx.coordinator.planHeld(record.applySet);
  return { applySet: record.applySet, plan };
}

/** The apply set to converge for a sync of `id`. */
export async function syncTarget(ctx: ActionContext, kind: Kind, name: string): Promise<string> {
  return (await appliedRecord(ctx.store, kind, name, 'sync')).applySet;
}

/**
 * Restarts a service (its supervisor starts the command again), or every service of a workspace
 * (the workspace itself stays: a restart replaces no files), with the loop stopped meanwhile.
 * Each restart is a `Restarted` event naming who asked.
 */
export async function restart(ctx: ActionContext, kind: Kind, name: string, actor: string): Promise<{ restarted: ResourceId[] }> {
  const record = await appliedRecord(ctx.store, kind, name, 'restart');
  const workspace = kind === 'Service' ? (record.resource as ServiceResource).spec.workspace : name;
  const services =
    kind === 'Service'
      ? [name]
      : (await ctx.store.list('Service')).filter((r) => (r.resource as ServiceResource).spec.workspace === name).map((r) => r.name).sort();
  if (services.length === 0) throw new ActionError(409, `workspace ${name} has no services to restart`);
  if (!ctx.openRuntime) throw new ActionError(501, 'this server cannot reach workspaces to restart services');
  const open = ctx.openRuntime;
  return ctx.coordinator.whileStopped(async () => {
    const manager = createServiceManager(await open(workspace));
    const restarted: ResourceId[] = [];
    for (const svc of services) {
      try {
        await manager.restart(svc);
      } catch (err) {
        throw new ActionError(502, `restarting service ${svc} in workspace ${workspace} failed: ${(err as Error).message}`, 'see `vendetta describe workspace ' + workspace + '`: is it running?');
      }
      const id = resourceId('Service', svc);
      const event: EventRecord = { time: new Date().toISOString(), object: id, type: 'Normal', reason: 'Restarted', message: `restarted by ${actor}`, by: actor };
      ctx.hub.events.onEvent?.(event);
      await ctx.store.appendEvent(event).catch(() => undefined);
      restarted.push(id);
    }
    return { restarted };
  });
}
