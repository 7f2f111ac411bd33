// Benchmark: workspace lifecycle times per provider, through the drivers, on node n1 over SSH
// (the e2e infra: test/infra/up.sh, which also starts LXD). Not a test: it prints a Markdown
// table (machine, date, medians) for docs/providers.md.
//
//   sudo bash test/infra/up.sh
//   npx esbuild bench/provider-times.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=node_modules/.cache/provider-times.mjs && node node_modules/.cache/provider-times.mjs [runs]
//
// create = create + start + ready (a command runs inside); stop; start = start + ready; delete.
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { API_VERSION, type NodeResource, type ProviderName } from '../src/model/types.js';
import { createDockerDriver } from '../src/providers/docker/driver.js';
import { createLxcDriver } from '../src/providers/lxc/driver.js';
import { createProcessDriver } from '../src/providers/process/driver.js';
import type { DesiredWorkspace, DriverContext, ProviderDriver } from '../src/providers/types.js';
import { SshTransport } from '../src/transport/ssh.js';

const DIR = process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e';
const RUNS = Number(process.argv[2] ?? 5);

interface Env {
  clientKey: string;
  user: string;
  image: string;
  nodes: Array<{ name: string; address: string; port: number; dockerSocket: string; hostKeyPub: string }>;
}
const env = JSON.parse(readFileSync(`${DIR}/env.json`, 'utf8')) as Env;
const lxd = JSON.parse(readFileSync(`${DIR}/lxd.json`, 'utf8')) as { socket: string; image: string; version: string; flavor: string };
const n1 = env.nodes.find((n) => n.name === 'n1')!;

const node: NodeResource = {
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name: 'n1' },
  spec: {
    address: n1.address,
    port: n1.port,
    user: env.user,
    identityFile: env.clientKey,
    hostKey: n1.hostKeyPub,
    providers: { docker: { socket: n1.dockerSocket }, lxc: { socket: lxd.socket } },
  },
};

const images: Partial<Record<ProviderName, string>> = { docker: env.image, lxc: lxd.image };
const drivers: Array<[ProviderName, ProviderDriver]> = [
  ['process', createProcessDriver()],
  ['docker', createDockerDriver()],
  ['lxc', createLxcDriver()],
];

function desired(provider: ProviderName, name: string): DesiredWorkspace {
  return {
    resource: {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name },
      // pull is docker's alone (lxc fetches on first use): the manifest rules refuse it elsewhere.
      spec: { node: 'n1', provider, ...(images[provider] ? { image: images[provider] } : {}), ...(provider === 'docker' ? { pull: 'never' as const } : {}) },
    },
    specHash: 'bench',
    owner: { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' },
    env: {},
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** start is only done once a command runs inside: that is when services can start. */
async function ready(driver: ProviderDriver, ctx: DriverContext, name: string): Promise<void> {
  const rt = await driver.runtime(ctx, name);
  const r = await rt.exec(['true']);
  if (r.code !== 0) throw new Error(`exec in ${name} failed: ${r.stderr}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

const transport = new SshTransport(node, { strictHostKeys: false });
const ctx: DriverContext = { node, transport, applySet: 'bench' };
const rows: string[] = [];
try {
  for (const [provider, driver] of drivers) {
    const name = `bench-${provider}`;
    await driver.delete(ctx, name);
    const t = { create: [] as number[], stop: [] as number[], start: [] as number[], delete: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      t.create.push(await timed(async () => { await driver.create(ctx, desired(provider, name)); await ready(driver, ctx, name); }));
      t.stop.push(await timed(() => driver.stop(ctx, name)));
      t.start.push(await timed(async () => { await driver.start(ctx, name); await ready(driver, ctx, name); }));
      t.delete.push(await timed(() => driver.delete(ctx, name)));
    }
    rows.push(`| ${provider} | ${ms(median(t.create))} | ${ms(median(t.stop))} | ${ms(median(t.start))} | ${ms(median(t.delete))} |`);
  }
} finally {
  await transport.close();
}

console.log(`Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ` +
  `${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; node n1 over SSH (127.0.0.11); LXD ${lxd.version}; ` +
  `busybox images; median of ${RUNS} runs.\n`);
console.log('| provider | create + start + ready | stop | start + ready | delete |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
