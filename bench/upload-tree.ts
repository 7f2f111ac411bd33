// First upload of a large tree to a process workspace on the e2e node n1: the old way (SFTP, a
// round trip per file: transport.upload) against the sync path (one tar over one exec).
//
//   npx esbuild bench/upload-tree.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=dist/bench/upload-tree.mjs && node dist/bench/upload-tree.mjs [files=2000] [runs=3]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { API_VERSION, type NodeResource } from '../src/model/types.js';
import { SourceSync } from '../src/sync/push.js';
import { SshTransport } from '../src/transport/ssh.js';

const DIR = process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e';
const FILES = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 3);
const env = JSON.parse(readFileSync(`${DIR}/env.json`, 'utf8')) as {
  clientKey: string; user: string; nodes: Array<{ name: string; address: string; port: number; hostKeyPub: string }>;
};
const n1 = env.nodes.find((n) => n.name === 'n1')!;
const node: NodeResource = {
  apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' },
  spec: { address: n1.address, port: n1.port, user: env.user, identityFile: env.clientKey, hostKey: n1.hostKeyPub },
};

// FILES small files in 20 directories.
const src = mkdtempSync(join(tmpdir(), 'vendetta-bench-tree-'));
for (let i = 0; i < FILES; i++) {
  const d = join(src, `dir${i % 20}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `file${i}.js`), `export const v${i} = ${i}; // ${'x'.repeat(200)}\n`);
}

const t = new SshTransport(node);
const home = await t.home();
const target = `${home}/.vendetta/bench-upload-tree`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sftp: number[] = [];
const tar: number[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    await t.exec(['rm', '-rf', '--', target]);
    let t0 = performance.now();
    await t.upload(src, `${target}/workspace`);
    sftp.push(performance.now() - t0);
    await t.exec(['rm', '-rf', '--', target]);
    t0 = performance.now();
    const sync = new SourceSync(src, { workspaceDir: `${target}/workspace`, stateDir: `${target}/state`, exec: (a, o) => t.exec(a, o) }, undefined, 'bench');
    await sync.run({ fresh: true });
    tar.push(performance.now() - t0);
  }
  const check = await t.exec(['sh', '-c', 'find "$1" -type f | wc -l', 'sh', `${target}/workspace`]);
  console.log(JSON.stringify({ bench: 'upload-tree', files: FILES, runs: RUNS, filesOnNode: Number(check.stdout.trim()),
    msSftpPerFile: sftp.map(Math.round), msTarOneExec: tar.map(Math.round), medianSftp: Math.round(median(sftp)), medianTar: Math.round(median(tar)),
    cpus: cpus().length, date: new Date().toISOString() }));
} finally {
  await t.exec(['rm', '-rf', '--', target]);
  await t.close();
  rmSync(src, { recursive: true, force: true });
}
