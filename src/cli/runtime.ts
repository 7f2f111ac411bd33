// Reaching an applied workspace from the CLI (logs, exec, shell): store record → node → driver.
import { IMPLICIT_LOCAL_NODE, LOCAL_NODE, type NodeResource, type WorkspaceResource, type ServiceResource } from '../model/types.js';
export { IMPLICIT_LOCAL_NODE };
import type { Store } from '../store/types.js';
import type { TransportPool } from '../transport/pool.js';
import type { WorkspaceRuntime, DriverContext } from '../providers/types.js';
import type { Transport } from '../transport/types.js';
import { drivers } from './drivers.js';
import { ExitError } from './errors.js';


export async function nodeResource(store: Store, name: string): Promise<NodeResource> {
  const rec = await store.get(`node/${name}`);
  if (rec) return rec.resource as NodeResource;
  if (name === LOCAL_NODE) return IMPLICIT_LOCAL_NODE;
  throw new ExitError(`node "${name}" is not known`, 1, 'add it with `vendetta node add` or apply a Node manifest');
}

export async function serviceResource(store: Store, name: string): Promise<ServiceResource> {
  const rec = await store.get(`service/${name}`);
  if (!rec) throw new ExitError(`service "${name}" has not been applied`, 1, 'see `vendetta get services`');
  return rec.resource as ServiceResource;
}

export interface WorkspaceHandle {
  workspace: WorkspaceResource;
  node: NodeResource;
  transport: Transport;
  runtime: WorkspaceRuntime;
}

export async function openWorkspace(store: Store, pool: TransportPool, name: string): Promise<WorkspaceHandle> {
  const rec = await store.get(`workspace/${name}`);
  if (!rec) throw new ExitError(`workspace "${name}" has not been applied`, 1, 'see `vendetta get workspaces`');
  const workspace = rec.resource as WorkspaceResource;
  const node = await nodeResource(store, workspace.spec.node);
  const driver = drivers()[workspace.spec.provider];
  if (!driver) throw new ExitError(`provider "${workspace.spec.provider}" is not available in this build`);
  const transport = await pool.get(node);
  const ctx: DriverContext = { node, transport, applySet: rec.applySet };
  const runtime = await driver.runtime(ctx, name);
  return { workspace, node, transport, runtime };
}
