// An in-memory world of nodes for engine tests: a fake provider driver, fake transports and a
// fake service manager that keep state in plain objects. Pure logic only: the real processes are
// exercised by the e2e suite.
import type {
  DesiredSet,
  NodeResource,
  ObservedHealth,
  ObservedService,
  ObservedWorkspace,
  ServiceResource,
  ServiceSpec,
  WorkspaceResource,
  WorkspaceSpec,
} from '../../../src/model/types.js';
import { API_VERSION } from '../../../src/model/types.js';
import type { DesiredWorkspace, DriverContext, ProviderDriver, WorkspaceRuntime } from '../../../src/providers/types.js';
import type { DesiredService, ServiceManager } from '../../../src/services/types.js';
import { TransportError, type Transport } from '../../../src/transport/types.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';

export interface FakeService {
  specHash: string;
  state: ObservedService['state'];
  exitCode?: number;
  restarts: number;
  pid: number;
  env: Record<string, string>;
  logTail?: string[];
}

export interface FakeWorkspace {
  provider: 'process';
  specHash: string;
  applySet: string;
  running: boolean;
  services: Map<string, FakeService>;
  /** The store that made it (absent: made before ownership existed). */
  owner?: { id: string; name: string };
}

/** How a service's command behaves when started, keyed by service name. */
export type Behavior = 'run' | 'exit0' | 'crash' | 'crash-printing-env';

export class FakeWorld {
  readonly nodes = new Map<string, Map<string, FakeWorkspace>>();
  /** Nodes whose connection fails, with the error to throw. */
  readonly unreachable = new Map<string, Error>();
  readonly behavior = new Map<string, Behavior>();
  /** Services whose exec health check passes. */
  readonly healthy = new Set<string>();
  /** Health verdicts the supervisor records on the node, by service (absent: it records none). */
  readonly recordedHealth = new Map<string, ObservedHealth[]>();
  /** Batched driver calls: "observeServices n1: a,b", "deleteMany n1: a,b". */
  readonly batches: string[] = [];
  readonly calls: string[] = [];
  /** Round trips into workspaces: runtime execs ("exec api: true") and service observations. */
  readonly execs: string[] = [];
  connects = 0;
  /** Provider observations (one per node and pass). */
  observations = 0;
  /** create() waits this long (or forever with Infinity) before finishing. */
  createDelayMs = 0;
  creating = 0;
  maxConcurrentCreates = 0;
  closed = 0;
  private nextPid = 1000;

  workspaces(node: string): Map<string, FakeWorkspace> {
    let m = this.nodes.get(node);
    if (!m) this.nodes.set(node, (m = new Map()));
    return m;
  }

  connect = async (node: NodeResource): Promise<Transport> => {
    this.connects++;
    const name = node.metadata.name;
    const err = this.unreachable.get(name);
    if (err) throw err;
    const fail = () => Promise.reject(new TransportError(name, 'not used in these tests'));
    return {
      node: name,
      describe: name === 'local' ? 'local' : `dev@${node.spec.address}:22`,
      exec: fail,
      spawn: fail,
      upload: fail,
      writeFile: fail,
      readFile: fail,
      connectTcp: fail,
      connectUnix: fail,
      home: async () => '/home/dev',
      close: async () => void this.closed++,
    };
  };

  driver(): ProviderDriver {
    const world = this;
    const ws = (ctx: DriverContext, name: string) => world.workspaces(ctx.node.metadata.name).get(name);
    return {
      name: 'process',
      availability: async () => ({ available: true }),
      async observe(ctx): Promise<ObservedWorkspace[]> {
        world.observations++;
        return [...world.workspaces(ctx.node.metadata.name)].map(([name, w]) => ({
          name,
          provider: 'process',
          specHash: w.specHash,
          applySet: w.applySet,
          running: w.running,
          address: '127.0.0.1',
          services: [...w.services].map(([svc, s]) => world.observedService(svc, s, w.running)),
          ...(w.owner ? { owner: w.owner } : {}),
        }));
      },
      async create(ctx, desired: DesiredWorkspace) {
        world.calls.push(`create ${ctx.node.metadata.name}/${desired.resource.metadata.name}`);
        world.creating++;
        world.maxConcurrentCreates = Math.max(world.maxConcurrentCreates, world.creating);
        try {
          if (world.createDelayMs === Infinity) await new Promise(() => {});
          await new Promise((resolve) => setTimeout(resolve, world.createDelayMs));
        } finally {
          world.creating--;
        }
        world.workspaces(ctx.node.metadata.name).set(desired.resource.metadata.name, {
          provider: 'process',
          specHash: desired.specHash,
          applySet: ctx.applySet,
          running: desired.resource.spec.state !== 'stopped',
          services: new Map(),
        });
      },
      async start(ctx, name) {
        world.calls.push(`start ${ctx.node.metadata.name}/${name}`);
        ws(ctx, name)!.running = true;
      },
      async stop(ctx, name) {
        world.calls.push(`stop ${ctx.node.metadata.name}/${name}`);
        ws(ctx, name)!.running = false;
      },
      async delete(ctx, name) {
        world.calls.push(`delete ${ctx.node.metadata.name}/${name}`);
        world.workspaces(ctx.node.metadata.name).delete(name);
      },
      async runtime(ctx, name): Promise<WorkspaceRuntime> {
        const node = ctx.node.metadata.name;
        return {
          workspaceDir: `/srv/${name}`,
          stateDir: `/srv/${name}/.vendetta`,
          address: '127.0.0.1',
          exec: async (argv) => {
            world.execs.push(`exec ${name}: ${argv.join(' ')}`);
            const w = world.workspaces(node).get(name);
            if (!w?.running) return { code: 1, stdout: '', stderr: `workspace ${name} is not running` };
            // Health checks run `/bin/sh -c "check <service>"`.
            const check = argv[2]?.match(/^check (.+)$/);
            if (check) return world.healthy.has(check[1]) ? { code: 0, stdout: '', stderr: '' } : { code: 1, stdout: '', stderr: 'connection refused' };
            // Lifecycle hooks run `sh -c <command>`: a command starting with "fail" fails.
            if (argv[0] === 'sh' && argv[2]?.startsWith('fail')) return { code: 7, stdout: 'boom\n', stderr: 'it broke\n' };
            return { code: 0, stdout: '', stderr: '' };
          },
          spawn: () => Promise.reject(new Error('not used')),
          // The fake manager finds its workspace through these.
          ...({ node, workspace: name } as object),
        } as WorkspaceRuntime;
      },
    };
  }

  /** A service as the node records it; each read takes the next recorded verdict (the last one stays). */
  /** What reads of a service see, in order, overriding its state (the last one stays). */
  readonly sequence = new Map<string, Partial<FakeService>[]>();

  observedService(name: string, real: FakeService, running = true): ObservedService {
    const seq = this.sequence.get(name);
    const s = { ...real, ...(seq && seq.length > 1 ? seq.shift() : seq?.[0]) };
    const verdicts = this.recordedHealth.get(name);
    const health = verdicts && verdicts.length > 1 ? verdicts.shift() : verdicts?.[0];
    return {
      name,
      specHash: s.specHash,
      state: running ? s.state : 'stopped',
      exitCode: s.exitCode,
      restarts: s.restarts,
      pid: s.pid,
      ...(s.logTail ? { logTail: s.logTail } : {}),
      ...(health ? { health } : {}),
    };
  }

  /** The driver with the optional batch methods: services of many workspaces and deletes in one call. */
  batchDriver(): ProviderDriver {
    const world = this;
    const base = this.driver();
    return {
      ...base,
      async observeServices(ctx, workspaces) {
        const node = ctx.node.metadata.name;
        world.batches.push(`observeServices ${node}: ${workspaces.join(',')}`);
        const out = new Map<string, ObservedService[]>();
        for (const name of workspaces) {
          const w = world.workspaces(node).get(name);
          if (w) out.set(name, [...w.services].map(([svc, s]) => world.observedService(svc, s, w.running)));
        }
        return out;
      },
      async deleteMany(ctx, names) {
        const node = ctx.node.metadata.name;
        world.batches.push(`deleteMany ${node}: ${names.join(',')}`);
        const errors = new Map<string, Error>();
        for (const name of names) {
          if (world.undeletable.has(name)) errors.set(name, new Error(`${name} is busy`));
          else world.workspaces(node).delete(name);
        }
        return errors;
      },
    };
  }
  /** Workspaces deleteMany reports an error for. */
  readonly undeletable = new Set<string>();

  serviceManager = (rt: WorkspaceRuntime): ServiceManager => {
    const { node, workspace } = rt as unknown as { node: string; workspace: string };
    const services = () => this.workspaces(node).get(workspace)!.services;
    return {
      start: async (svc: DesiredService) => {
        const name = svc.resource.metadata.name;
        this.calls.push(`start-service ${name}`);
        const behavior = this.behavior.get(name) ?? 'run';
        services().set(name, {
          specHash: svc.specHash,
          state: behavior === 'run' ? 'running' : 'exited',
          exitCode: behavior === 'exit0' ? 0 : behavior === 'crash' || behavior === 'crash-printing-env' ? 1 : undefined,
          restarts: 0,
          pid: this.nextPid++,
          env: svc.env,
          ...(behavior === 'crash-printing-env' ? { logTail: Object.entries(svc.env).map(([k, v]) => `${k}=${v}`) } : {}),
        });
        // No settled status: the engine confirms the start by reading, as with an older supervisor.
        return undefined;
      },
      restart: async (name) => {
        this.calls.push(`restart-service ${name}`);
        const s = services().get(name);
        if (s) Object.assign(s, { state: 'running', pid: this.nextPid++ });
      },
      stop: async (name) => {
        this.calls.push(`stop-service ${name}`);
        const s = services().get(name);
        if (s) s.state = 'stopped';
      },
      remove: async (name) => {
        this.calls.push(`remove-service ${name}`);
        services().delete(name);
      },
      observe: async () => {
        this.execs.push(`observe-services ${workspace}`);
        return [...services()].map(([name, s]) => this.observedService(name, s));
      },
      logs: async () => '',
      followLogs: () => Promise.reject(new Error('not used')),
    };
  };
}

export function node(name: string, address: string): NodeResource {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { address } };
}

export function workspace(name: string, spec: Partial<WorkspaceSpec> = {}): WorkspaceResource {
  return { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'local', provider: 'process', ...spec } };
}

export function service(name: string, workspaceName: string, spec: Partial<ServiceSpec> = {}): ServiceResource {
  return { apiVersion: API_VERSION, kind: 'Service', metadata: { name }, spec: { workspace: workspaceName, command: `run ${name}`, ...spec } };
}

export function loadedSet(resources: (NodeResource | WorkspaceResource | ServiceResource)[], env: LoadedSet['env'] = new Map()): LoadedSet {
  const desired: DesiredSet = { nodes: new Map(), workspaces: new Map(), services: new Map() };
  for (const r of resources) {
    if (r.kind === 'Node') desired.nodes.set(r.metadata.name, r);
    else if (r.kind === 'Workspace') desired.workspaces.set(r.metadata.name, r);
    else desired.services.set(r.metadata.name, r);
  }
  return { desired, env };
}
