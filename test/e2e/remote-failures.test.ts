// Remote failures through the built CLI: a node that is down, a connection dropped mid-apply, and
// a changed host key. Each uses its own throwaway home and workspaces; the infra is restored after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { infraDir, loadInfra, makeTempHome, nodeCtl, rekeyedHostKey, type Infra, type TempHome } from './helpers/infra.js';
import { dockerEvents, dockerTime, managedContainers, nodeYaml } from './helpers/remote.js';
import { CLI, eventually, requireBuiltCli, runCli, type CliResult } from './support/cli.js';

const execFileP = promisify(execFile);

/** A docker workspace with one busybox httpd service; `slowStart` delays the listener. */
function workspaceYaml(infra: Infra, name: string, node: string, opts: { slowStart?: number } = {}): string {
  const delay = opts.slowStart ? `sleep ${opts.slowStart}; ` : '';
  return `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec: {node: ${node}, provider: docker, image: ${infra.image}, pull: never}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${name}-httpd}
spec:
  workspace: ${name}
  command: ${delay}exec httpd -f -p 80 -h /var/www
  healthcheck: {http: {port: 80, path: /}, interval: 500ms, timeout: 2s, retries: 60}
`;
}

/** OpenSSH's fingerprint of a "type base64" public key, computed by ssh-keygen itself. */
async function sshFingerprint(pub: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-fp-'));
  try {
    writeFileSync(join(dir, 'k.pub'), pub + '\n');
    const { stdout } = await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')]);
    return stdout.split(' ')[1]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Suite {
  infra: Infra;
  home: TempHome;
  dir: string;
  cli: (...args: string[]) => Promise<CliResult>;
  write: (docs: string[]) => void;
  cleanup: () => Promise<void>;
}

async function suite(infra: Infra, prefix: string): Promise<Suite> {
  const home = await makeTempHome(infra);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  return {
    infra, home, dir, cli,
    write: (docs) => writeFileSync(join(dir, 'm.yaml'), docs.join('---\n')),
    cleanup: async () => {
      await cli('delete', '-f', dir);
      await home.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const phasesOf = (stdout: string): Record<string, string> =>
  Object.fromEntries(Object.entries(JSON.parse(stdout).statuses as Record<string, { phase: string }>).map(([id, s]) => [id, s.phase]));

describe('remote failures (built CLI)', () => {
  let infra: Infra;
  beforeAll(() => {
    requireBuiltCli();
    infra = loadInfra();
  });
  // Whatever a test did to an sshd, leave every node up with its original key.
  afterAll(async () => {
    for (const n of ['n1', 'n2', 'n3']) await nodeCtl('start', n);
  });

  describe('a node whose sshd is down', () => {
    let s: Suite;
    beforeAll(async () => {
      s = await suite(infra, 'vendetta-down-');
      s.write([
        ...['n1', 'n2', 'n3'].map((n) => nodeYaml(infra, n)),
        ...['n1', 'n2', 'n3'].map((n) => workspaceYaml(infra, `down-${n}`, n)),
      ]);
    });
    afterAll(async () => {
      await nodeCtl('start', 'n3');
      await s?.cleanup();
    });

    it('apply exits 1 naming n3 unreachable, the other nodes converge', async () => {
      await nodeCtl('stop', 'n3');
      const r = await s.cli('apply', '-f', s.dir, '-o', 'json');
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const result = JSON.parse(r.stdout);
      expect(result.converged).toBe(false);
      expect(result.plan.unreachable.map((u: { node: string }) => u.node)).toEqual(['n3']);
      expect(result.plan.unreachable[0].error).toMatch(/n3/);
      const phases = phasesOf(r.stdout);
      expect(phases['node/n3']).toBe('NotReady');
      for (const n of ['n1', 'n2']) {
        expect(phases[`node/${n}`]).toBe('Ready');
        expect(phases[`workspace/down-${n}`]).toBe('Ready');
        expect(phases[`service/down-${n}-httpd`]).toBe('Ready');
        expect((await managedContainers(infra, n)).size).toBe(1);
      }
      // The human output names the node and what to do.
      const text = await s.cli('apply', '-f', s.dir);
      expect(text.code).toBe(1);
      expect(text.stdout + text.stderr).toMatch(/node\/n3\s+unreachable/);
      expect(text.stdout + text.stderr).toMatch(/is sshd running on 127\.0\.0\.13:2222/);
    });

    it('node status n3 shows NotReady', async () => {
      const r = await s.cli('node', 'status', 'n3');
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/Ready:\s+False \(Unreachable\)/);
      const json = await s.cli('node', 'status', 'n3', '-o', 'json');
      expect(JSON.parse(json.stdout).status.phase).toBe('NotReady');
    });

    it('once n3 is back, the next apply converges', async () => {
      await nodeCtl('start', 'n3');
      const r = await s.cli('apply', '-f', s.dir, '-o', 'json');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(phasesOf(r.stdout)['service/down-n3-httpd']).toBe('Ready');
      const status = await s.cli('node', 'status', 'n3');
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/Ready:\s+True/);
    });
  });

  describe('a connection dropped in the middle of an apply', () => {
    let s: Suite;
    beforeAll(async () => {
      s = await suite(infra, 'vendetta-drop-');
      s.write([nodeYaml(infra, 'n1'), workspaceYaml(infra, 'drop-n1', 'n1', { slowStart: 4 })]);
    });
    afterAll(async () => s?.cleanup());

    it('is retried and the apply still converges', async () => {
      const sshdLog = join(infraDir(), 'nodes', 'n1', 'sshd.log');
      const logOffset = statSync(sshdLog).size;
      const child = spawn(process.execPath, [CLI, 'apply', '-f', s.dir], {
        env: { ...process.env, NO_COLOR: '1', ...s.home.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
      // The service started, its listener is still sleeping: the controller is polling the health check.
      await eventually(() => /service\/drop-n1-httpd Started/.test(out), 60_000, `the service to start (output: ${out})`);
      await nodeCtl('kill-sessions', 'n1');
      const code = await exited;
      expect(code, out).toBe(0);
      expect(out).toMatch(/converged/);
      expect(out).toMatch(/service\/drop-n1-httpd Healthy/);
      // The session really was cut mid-apply: sshd saw this apply log in a second time.
      const logins = readFileSync(sshdLog, 'utf8').slice(logOffset).match(/Accepted publickey for vdtest/g) ?? [];
      expect(logins.length).toBeGreaterThanOrEqual(2);
      const again = await s.cli('apply', '-f', s.dir, '-o', 'json');
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout).operationsRun).toBe(0);
    });
  });

  describe('a node whose host key changed', () => {
    let s: Suite;
    const sshdLog = join(infraDir(), 'nodes', 'n2', 'sshd.log');
    beforeAll(async () => {
      s = await suite(infra, 'vendetta-rekey-');
      s.write([nodeYaml(infra, 'n1'), nodeYaml(infra, 'n2'), workspaceYaml(infra, 'rekey-n1', 'n1'), workspaceYaml(infra, 'rekey-n2', 'n2')]);
    });
    afterAll(async () => {
      await nodeCtl('start', 'n2');
      await s?.cleanup();
    });

    it('apply refuses with both fingerprints, runs nothing on that node, converges the others', async () => {
      await nodeCtl('rekey', 'n2');
      const logOffset = statSync(sshdLog).size;
      const since = dockerTime();
      const r = await s.cli('apply', '-f', s.dir);
      const until = dockerTime();
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const out = r.stdout + r.stderr;
      const original = await sshFingerprint(infra.nodes.find((n) => n.name === 'n2')!.hostKeyPub);
      const presented = await sshFingerprint(rekeyedHostKey('n2'));
      expect(out).toContain(original);
      expect(out).toContain(presented);
      expect(out).toMatch(/n2/);
      expect(out).toMatch(/Nothing was run/);

      // Nothing ran on n2: no Docker activity at all, and sshd never authenticated anyone.
      expect(await dockerEvents(infra, 'n2', since, until)).toEqual([]);
      expect((await managedContainers(infra, 'n2')).size).toBe(0);
      const log = readFileSync(sshdLog, 'utf8').slice(logOffset);
      expect(log).not.toMatch(/Accepted publickey/);

      // The other node converged in the same run.
      const get = JSON.parse((await s.cli('get', 'workspaces', '-o', 'json')).stdout);
      const phase = (name: string) => get.items.find((i: { metadata: { name: string } }) => i.metadata.name === name)?.status?.phase;
      expect(phase('rekey-n1')).toBe('Ready');
      expect(phase('rekey-n2')).not.toBe('Ready');
    });

    it('after the original key is back, apply converges n2', async () => {
      await nodeCtl('start', 'n2');
      const r = await s.cli('apply', '-f', s.dir, '-o', 'json');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(phasesOf(r.stdout)['workspace/rekey-n2']).toBe('Ready');
    });
  });
});
