// A no-op pass costs the same round trips for 1 workspace as for 50 on a node: counted (never
// timed) at the SSH transport and the Docker client, in-process, against a real node with its own
// dockerd. Docker and process workspaces, each with a supervised service, side by side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, nodeResource, type Infra, type TempHome } from './helpers/infra.js';
import { dockerEvents, dockerOn, dockerTime, mutatingEvents, nodeYaml } from './helpers/remote.js';
import { dockerApiCalls, resetDockerApiCalls } from '../../src/providers/docker/client.js';
import { createDockerDriver } from '../../src/providers/docker/driver.js';
import { createProcessDriver } from '../../src/providers/process/driver.js';
import { resetSshCounters, sshCounters, SshTransport } from '../../src/transport/ssh.js';
import type { DriverContext } from '../../src/providers/types.js';

const NODE = 'n2';
const MANY = 50;
const names = (kind: 'd' | 'p', n: number) => Array.from({ length: n }, (_, i) => `ns-${kind}${i}`);

function manifests(infra: Infra, n: number): string {
  const docs = [nodeYaml(infra, NODE)];
  for (const [kind, provider] of [['d', 'docker'], ['p', 'process']] as const) {
    for (const ws of names(kind, n)) {
      const image = provider === 'docker' ? `image: ${infra.image}, pull: never, ` : '';
      docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${ws}}
spec: {node: ${NODE}, provider: ${provider}, ${image}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${ws}-svc}
spec: {workspace: ${ws}, command: exec sleep 3000}
`);
    }
  }
  return docs.join('---\n');
}

interface Counts {
  connections: number;
  /** Commands run on the node: each its own session, or several in one batch session. */
  execs: number;
  forwards: number;
  dockerRequests: number;
  dockerExecs: number;
  dockerMutating: number;
}

describe('ns: a no-op pass costs O(nodes), not O(workspaces)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-ns-count-'));
  const saved: Record<string, string | undefined> = {};

  // The CLI's own wiring (store under VENDETTA_HOME, transport pool, lazy drivers), in this process
  // so its counters can be read. A fresh engine per apply, as each CLI run is a fresh process.
  async function apply(): Promise<{ converged: boolean; failures: unknown[] }> {
    const { openEngine, loadOrExit } = await import('../../src/cli/context.js');
    const set = await loadOrExit([dir]);
    const { engine, pool } = await openEngine({});
    try {
      const result = await engine.apply(set, { applySet: 'default', prune: false, timeoutMs: 600_000 });
      return { converged: result.converged, failures: result.failures };
    } finally {
      await engine.close();
      await pool.closeAll();
    }
  }

  async function noOpCounts(): Promise<Counts> {
    resetSshCounters();
    resetDockerApiCalls();
    const since = dockerTime();
    const r = await apply();
    const until = dockerTime();
    // Sessions: the execs, less those that went together in a batch (timing decides which do).
    expect(sshCounters.sessions).toBeGreaterThanOrEqual(1);
    expect(sshCounters.sessions).toBeLessThanOrEqual(sshCounters.execs);
    expect(r.failures).toEqual([]);
    expect(r.converged).toBe(true);
    // Nothing changes on the node: no mutating Docker event.
    expect(mutatingEvents(await dockerEvents(infra, NODE, since, until))).toEqual([]);
    return {
      connections: sshCounters.connections,
      execs: sshCounters.execs,
      forwards: sshCounters.forwards,
      dockerRequests: dockerApiCalls.total,
      dockerExecs: dockerApiCalls.execs,
      dockerMutating: dockerApiCalls.mutating,
    };
  }

  beforeAll(async () => {
    infra = loadInfra();
    home = await makeTempHome(infra);
    for (const [k, v] of Object.entries(home.env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });

  afterAll(async () => {
    // Bulk delete through the drivers: also checks deleteMany leaves nothing on the node.
    const node = nodeResource(infra, NODE, { providers: { docker: { socket: infra.nodes.find((n) => n.name === NODE)!.dockerSocket } } });
    const transport = new SshTransport(node, { knownHostsPath: home.knownHostsPath, strictHostKeys: true });
    try {
      const ctx: DriverContext = { node, transport, applySet: 'default' };
      const docker = await createDockerDriver().deleteMany!(ctx, names('d', MANY));
      const proc = await createProcessDriver().deleteMany!(ctx, names('p', MANY));
      expect([...docker, ...proc]).toEqual([]);
      const left = await dockerOn(infra, NODE, ['ps', '-a', '--filter', 'label=vendetta.dev/managed=true', '--format', '{{.Names}}']);
      expect(left.split('\n').filter((n) => n.startsWith('vendetta-ns-'))).toEqual([]);
      const dirs = await transport.exec(['sh', '-c', `ls -d ~/.vendetta/docker/${NODE}/ns-* ~/.vendetta/workspaces/ns-* 2>/dev/null; true`]);
      expect(dirs.stdout).toBe('');
    } finally {
      await transport.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await home?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`counts the same SSH channels and Docker requests for 1 and for ${MANY} workspaces per provider`, { timeout: 1_200_000 }, async () => {
    writeFileSync(join(dir, 'm.yaml'), manifests(infra, 1));
    expect((await apply()).failures).toEqual([]);
    const one = await noOpCounts();

    writeFileSync(join(dir, 'm.yaml'), manifests(infra, MANY));
    resetSshCounters();
    const cold = await apply();
    expect(cold.failures).toEqual([]);
    // The cold pass's execs (state dirs, service starts, …) that queue up while one runs go
    // together as batches (src/transport/batch.ts): the process workspaces' creates and starts
    // at least, asked for all at once. (The docker ones trickle in as dockerd creates containers.)
    expect(sshCounters.execs).toBeGreaterThan(2 * MANY);
    expect(sshCounters.batchedExecs).toBeGreaterThanOrEqual(2 * MANY);
    expect(sshCounters.sessions).toBeLessThan(sshCounters.execs - MANY);
    const many = await noOpCounts();

    expect(many).toEqual(one);
    // What it is: one connection; one listing of the containers (one forwarded stream); one exec
    // reading every docker workspace's state dir, one reading every process workspace, and the
    // login user's home; no docker exec, nothing mutating.
    expect(one).toEqual({ connections: 1, execs: 3, forwards: 1, dockerRequests: 1, dockerExecs: 0, dockerMutating: 0 });
  });
});
