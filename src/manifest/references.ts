// Checks across documents: unique names, references that resolve, no dependency cycles, no port
// clashes inside a workspace. Pure: positions come from each document's locator.
import {
  IMPLICIT_LOCAL_NODE,
  LOCAL_NODE,
  type DesiredSet,
  type Kind,
  type NodeResource,
  type Resource,
  type ServiceResource,
} from '../model/types.js';
import { networkTarget } from '../model/network.js';
import { errorAt, formatPos, type ManifestError } from './errors.js';
import type { Locate } from './locate.js';
import { didYouMean } from './text.js';

/** A document with a readable kind and name; `resource` is set only when it passed the schema. */
export interface Declared {
  kind: Kind;
  name: string;
  at: Locate;
  resource?: Resource;
}


export function checkReferences(
  declared: Declared[],
  cwd: string,
  knownNodes: NodeResource[] = [],
): { errors: ManifestError[]; desired: DesiredSet } {
  const errors: ManifestError[] = [];
  const fail = (at: Locate, path: (string | number)[], message: string, part: 'key' | 'value' = 'value') =>
    errors.push(errorAt(at(path, part), message));

  // Unique kind/name: the first declaration wins, later ones are errors pointing back at it.
  const first = new Map<string, Declared>();
  for (const d of declared) {
    const key = `${d.kind}/${d.name}`;
    const earlier = first.get(key);
    if (earlier) {
      const where = formatPos(earlier.at(['metadata', 'name']), cwd);
      fail(d.at, ['metadata', 'name'], `${d.kind} "${d.name}" is already declared at ${where}; names must be unique per kind`);
    } else {
      first.set(key, d);
    }
  }
  const known = (kind: Kind) => [...first.values()].filter((d) => d.kind === kind).map((d) => d.name);
  const nodeNames = new Set(known('Node'));
  nodeNames.add(LOCAL_NODE);
  for (const n of knownNodes) nodeNames.add(n.metadata.name);
  const workspaceNames = new Set(known('Workspace'));
  const serviceNames = new Set(known('Service'));

  const desired: DesiredSet = { nodes: new Map(), workspaces: new Map(), services: new Map() };
  if (!first.has(`Node/${LOCAL_NODE}`)) desired.nodes.set(LOCAL_NODE, structuredClone(IMPLICIT_LOCAL_NODE));
  // Nodes added with `vendetta node add` live in the store; a manifest declaration wins.
  for (const n of knownNodes) if (!first.has(`Node/${n.metadata.name}`)) desired.nodes.set(n.metadata.name, n);
  const located = new Map<string, Locate>();
  for (const { resource, at } of first.values()) {
    if (!resource) continue;
    located.set(`${resource.kind}/${resource.metadata.name}`, at);
    if (resource.kind === 'Node') desired.nodes.set(resource.metadata.name, resource);
    if (resource.kind === 'Workspace') desired.workspaces.set(resource.metadata.name, resource);
    if (resource.kind === 'Service') desired.services.set(resource.metadata.name, resource);
  }

  const unknown = (kind: Kind, name: string, names: Set<string>) => {
    const hint = didYouMean(name, names) || (names.size > 0 ? ` (declared: ${[...names].sort().join(', ')})` : '');
    return `no ${kind} named "${name}"${hint}`;
  };

  for (const ws of desired.workspaces.values()) {
    const at = located.get(`Workspace/${ws.metadata.name}`)!;
    if (!nodeNames.has(ws.spec.node)) {
      fail(at, ['spec', 'node'], `Workspace "${ws.metadata.name}" spec.node: ${unknown('Node', ws.spec.node, nodeNames)}`);
    }
    // network.mode "service:<workspace>": a docker workspace of the same node, never a loop.
    const target = networkTarget(ws.spec.network?.mode);
    if (target !== undefined) {
      const other = desired.workspaces.get(target);
      const path = ['spec', 'network', 'mode'];
      const subject = `Workspace "${ws.metadata.name}" spec.network.mode`;
      if (!other) {
        // Declared but invalid: its own errors say so.
        if (!workspaceNames.has(target)) fail(at, path, `${subject}: ${unknown('Workspace', target, workspaceNames)}`);
      }
      else if (other.spec.provider !== 'docker' || other.spec.node !== ws.spec.node) {
        fail(at, path, `${subject}: workspace "${target}" must be a docker workspace on the same node (${ws.spec.node}) to share its network`);
      } else {
        const seen = new Set([ws.metadata.name]);
        for (let t: string | undefined = target; t !== undefined; t = networkTarget(desired.workspaces.get(t)?.spec.network?.mode)) {
          if (seen.has(t)) {
            fail(at, path, `${subject}: workspaces share each other's network in a cycle (${[...seen, t].join(' → ')}); one of them must have a network of its own`);
            break;
          }
          seen.add(t);
        }
      }
    }
  }

  const portOwners = new Map<string, { service: string; at: Locate; index: number }>();
  for (const svc of desired.services.values()) {
    const name = svc.metadata.name;
    const at = located.get(`Service/${name}`)!;
    if (!workspaceNames.has(svc.spec.workspace)) {
      fail(at, ['spec', 'workspace'], `Service "${name}" spec.workspace: ${unknown('Workspace', svc.spec.workspace, workspaceNames)}`);
    } else if (svc.spec.command === undefined && desired.workspaces.get(svc.spec.workspace)?.spec.provider !== 'docker') {
      // Only a docker image says what it runs by itself (ENTRYPOINT + CMD).
      fail(at, ['spec'], `Service "${name}" is missing required field "command" (only a service of a docker workspace may leave it out to run the image's own ENTRYPOINT + CMD)`, 'key');
    }
    for (const target of Object.keys(svc.spec.dependsOn ?? {})) {
      if (target === name) {
        fail(at, ['spec', 'dependsOn', target], `Service "${name}" spec.dependsOn: a service cannot depend on itself`, 'key');
      } else if (!serviceNames.has(target)) {
        fail(at, ['spec', 'dependsOn', target], `Service "${name}" spec.dependsOn: ${unknown('Service', target, serviceNames)}`, 'key');
      }
    }
    for (const [index, port] of (svc.spec.ports ?? []).entries()) {
      const key = `${svc.spec.workspace}:${port}`;
      const owner = portOwners.get(key);
      if (owner) {
        const where = formatPos(owner.at(['spec', 'ports', owner.index]), cwd);
        fail(
          at,
          ['spec', 'ports', index],
          `Service "${name}" spec.ports[${index}]: port ${port} is already used by Service "${owner.service}" in Workspace "${svc.spec.workspace}" (${where})`,
        );
      } else {
        portOwners.set(key, { service: name, at, index });
      }
    }
  }

  for (const cycle of dependencyCycles(desired.services)) {
    const [start, next] = cycle;
    const at = located.get(`Service/${start}`)!;
    fail(
      at,
      ['spec', 'dependsOn', next!],
      `Service "${start}" spec.dependsOn: dependency cycle ${cycle.join(' → ')}; remove one of these dependencies`,
      'key',
    );
  }

  return { errors, desired };
}

/**
 * One cycle per strongly connected component of the dependsOn graph (Tarjan), written as a path
 * that starts and ends at the component's first service in declaration order: [a, b, c, a].
 */
export function dependencyCycles(services: Map<string, ServiceResource>): string[][] {
  const edges = (name: string) =>
    Object.keys(services.get(name)?.spec.dependsOn ?? {}).filter((t) => t !== name && services.has(t));
  const order = [...services.keys()];
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component);
    }
  };
  for (const v of order) if (!index.has(v)) visit(v);

  return components
    .map((component) => {
      const members = new Set(component);
      const start = order.find((s) => members.has(s))!;
      return [...shortestPathWithin(start, start, members, edges), start];
    })
    .sort((a, b) => order.indexOf(a[0]!) - order.indexOf(b[0]!));
}

/** Breadth-first path from `from` back to `to` inside one component; excludes the final `to`. */
function shortestPathWithin(from: string, to: string, members: Set<string>, edges: (n: string) => string[]): string[] {
  const previous = new Map<string, string>();
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges(v)) {
      if (!members.has(w)) continue;
      if (w === to) {
        const path = [v];
        while (path[0] !== from) path.unshift(previous.get(path[0]!)!);
        return path;
      }
      if (!previous.has(w) && w !== from) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [from];
}
