// A test's OWN 3-member etcd cluster on free loopback ports (the shared one of test/infra/etcd.sh
// must not lose members under other suites): started from the test, data in a temp dir, members
// killed and restarted by PID. Same flags as test/infra/etcd.sh.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/cli.js';

const run = promisify(execFile);

export interface EtcdCluster {
  /** host:port of each member's client URL. */
  endpoints: string[];
  /** SIGKILL member i (0-based), as a crash would; resolves once it is gone. */
  kill(i: number): Promise<void>;
  /** (Re)start member i with its data dir as it was; resolves once it answers a health check. */
  start(i: number): Promise<void>;
  /** Stop every member this helper started (by PID) and remove the data. */
  down(): Promise<void>;
  dir: string;
}

/** Throws (the suite fails, never skips) when the etcd binary is missing. */
export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  try {
    await run('etcd', ['--version']);
  } catch (err) {
    throw new Error(`etcd is not installed (${(err as Error).message}): run bash test/infra/etcd.sh up (it installs etcd-server and etcd-client)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-etcd-own-'));
  const members: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) members.push({ name: `m${i + 1}`, client: await freePort(), peer: await freePort() });
  const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const token = `vendetta-own-${process.pid}-${Date.now()}`;
  const procs: (ChildProcess | undefined)[] = members.map(() => undefined);

  const start = async (i: number) => {
    if (procs[i] && procs[i]!.exitCode === null && procs[i]!.signalCode === null) return;
    const m = members[i]!;
    const data = join(dir, m.name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const log = openSync(join(dir, `${m.name}.log`), 'a');
    procs[i] = spawn(
      'etcd',
      [
        '--name', m.name, '--data-dir', data,
        '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-cluster', cluster, '--initial-cluster-token', token, '--initial-cluster-state', 'new',
        '--heartbeat-interval', '100', '--election-timeout', '1000',
        '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10000',
      ],
      { stdio: ['ignore', log, log] },
    );
  };
  const healthy = async (endpoints: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await run('etcdctl', ['--endpoints', endpoints, '--command-timeout', '2s', 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' } });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not become healthy at ${endpoints} (logs in ${dir}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  };
  const endpoints = members.map((m) => `127.0.0.1:${m.client}`);
  for (let i = 0; i < size; i++) await start(i);
  await healthy(endpoints.join(','));

  const kill = async (i: number) => {
    const p = procs[i];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  return {
    endpoints,
    dir,
    kill,
    start: async (i) => {
      await start(i);
      await healthy(endpoints[i]!);
    },
    down: async () => {
      for (let i = 0; i < size; i++) await kill(i);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
