// The QEMU provider end to end: the built CLI converges VM workspaces on real sshd nodes
// (test/infra/up.sh) as the test user, booting Debian's kernel + the initramfs from
// test/infra/qemu.sh under TCG. Exec, services and health checks reach the guests over SSH
// tunnelled through the node connection. Each VM is ~250 MB; never more than 3 run at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, httpGet, requireBuiltCli, runCli, type CliResult } from './support/cli.js';
import { infraDir, loadInfra, makeTempHome, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';
import { qemuProcesses, sha256 } from './helpers/qemu.js';

const infra = loadInfra();

interface QemuInfra {
  kernel: string;
  initrd: string;
  append?: string;
  /** A small qcow2 base disk: VMs get an overlay on it and must never write it. */
  image: string;
}

function loadQemuInfra(): QemuInfra {
  const file = join(infraDir(), 'qemu.json');
  if (!existsSync(file)) {
    throw new Error(`QEMU e2e infra is missing: ${file} does not exist. Build it with: sudo bash test/infra/qemu.sh up (up.sh runs it too)`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as QemuInfra;
}
const qemu = loadQemuInfra();

const VM_ROOT = `/home/${infra.user}/.vendetta/qemu`;
let home: TempHome;
let dir: string;

/** A Node reaching an infra node, host key pinned (other suites may stop n3: we use n1 and n2). */
function qemuNode(name: string, opts: { providers?: string; infraName?: string } = {}): string {
  return `---\n${nodeYaml(infra, name, { pinHostKey: true, providers: '{}', ...opts })}`;
}

function vmYaml(name: string, node: string, opts: { ports?: string[]; append?: string; image?: string; source?: string; env?: Record<string, string> } = {}): string {
  return `---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec:
  node: ${node}
  provider: qemu
  resources: {cpus: 1, memory: 256Mi}
${opts.image ? `  image: ${opts.image}\n` : ''}${opts.env ? `  env: ${JSON.stringify(opts.env)}\n` : ''}${opts.source ? `  source: {path: ${opts.source}}\n` : ''}  ports: ${JSON.stringify(opts.ports ?? [])}
  vm:
    network: isolated          # tests never give a guest a way out
    kernel: ${qemu.kernel}
    initrd: ${qemu.initrd}
    append: ${JSON.stringify(opts.append ?? qemu.append ?? 'console=ttyS0')}
`;
}

/** busybox httpd serving the workspace source, health-checked over http from the node to the VM's address. */
function webYaml(name: string, workspace: string, port: number): string {
  return `---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${name}}
spec:
  workspace: ${workspace}
  command: exec httpd -f -p ${port} -h /workspace
  ports: [${port}]
  healthcheck: {http: {port: ${port}, path: /}, interval: 1s, timeout: 2s, retries: 30}
`;
}

/** nc listener in the guest, health-checked over tcp. */
function ncYaml(name: string, workspace: string, port: number): string {
  return `---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${name}}
spec:
  workspace: ${workspace}
  command: while true; do echo pong | nc -l -p ${port}; done
  ports: [${port}]
  healthcheck: {tcp: {port: ${port}}, interval: 1s, timeout: 2s, retries: 30}
`;
}

function manifest(file: string, ...docs: string[]): string {
  const path = join(dir, file);
  writeFileSync(path, docs.join('\n'));
  return path;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    home: home.dir,
    env: { ...home.env, VENDETTA_QEMU_POWERDOWN_TIMEOUT: '2s', VENDETTA_QEMU_BOOT_TIMEOUT: '120s', ...env },
    timeoutMs: 170_000,
  });
}

function output(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

function convergedSeconds(r: CliResult): number | undefined {
  const m = /converged in ([0-9.]+)s/.exec(output(r));
  return m ? Number(m[1]) : undefined;
}

beforeAll(async () => {
  requireBuiltCli();
  home = await makeTempHome(infra);
  dir = home.dir;
});

afterAll(async () => {
  // Leave nothing behind even when a test failed half-way.
  await cli(['delete', 'workspace', 'qe-ok', 'qe-mute', 'qe-missing', 'qe-b', 'qe-c', 'qe-a']);
  await home?.cleanup();
});

describe('qemu provider over SSH (TCG)', () => {
  let a: string;
  let published: number;

  it('a VM workspace with an http-checked service becomes Ready; a second apply changes nothing', async () => {
    published = await freePort();
    const source = join(dir, 'site');
    mkdirSync(source);
    writeFileSync(join(source, 'index.html'), 'hello from the qe-a source\n');
    a = manifest(
      'a.yaml',
      qemuNode('n1'),
      vmYaml('qe-a', 'n1', { ports: [`127.0.0.1:${published}:8080`], source, env: { GREETING: 'from-the-vm' } }),
      webYaml('qe-web', 'qe-a', 8080),
    );
    const first = await cli(['apply', '-f', a]);
    expect(first.code, output(first)).toBe(0);
    console.log(`[qemu e2e] 1 VM, boot to Ready (apply): ${convergedSeconds(first)}s`);
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-a/`)).toHaveLength(1);
    // The published port answers on the node (which is this machine).
    const res = await httpGet(`http://127.0.0.1:${published}/`);
    expect(res.body).toContain('hello from the qe-a source');
    // describe shows the serial console tail for diagnostics.
    const described = await cli(['describe', 'workspace', 'qe-a']);
    expect(described.code, output(described)).toBe(0);
    expect(described.stdout).toMatch(/Serial console \(last lines\):\n  \S/);

    const second = await cli(['apply', '-f', a]);
    expect(second.code, output(second)).toBe(0);
    expect(output(second)).toMatch(/No changes|0 operations/);
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-a/`)).toHaveLength(1);

    // exec runs as a service does: the workspace env, in the workspace directory (or -w).
    const inside = await cli(['exec', 'qe-a', '--', 'sh', '-c', 'echo "$GREETING in $PWD"']);
    expect(inside.stdout.trim(), output(inside)).toBe('from-the-vm in /workspace');
    const elsewhere = await cli(['exec', '-w', '/tmp', 'qe-a', '--', 'pwd']);
    expect(elsewhere.stdout.trim(), output(elsewhere)).toBe('/tmp');
  });

  it('workspace down powers the VM off (state kept); workspace up boots it, restores the source and its service again', async () => {
    const down = await cli(['workspace', 'down', 'qe-a']);
    expect(down.code, output(down)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-a/`)).toHaveLength(0);
    const meta = JSON.parse(readFileSync(`${VM_ROOT}/n1/qe-a/meta.json`, 'utf8')) as { running: boolean };
    expect(meta.running).toBe(false);

    const up = await cli(['workspace', 'up', 'qe-a']);
    expect(up.code, output(up)).toBe(0);
    console.log(`[qemu e2e] workspace up (boot + service Ready): ${convergedSeconds(up)}s`);
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-a/`)).toHaveLength(1);
    expect((await httpGet(`http://127.0.0.1:${published}/`)).body).toContain('hello from the qe-a source');
  });

  it('changing spec.ports on the running VM is an update in place: same qemu process, new port answers, old one refused', async () => {
    const [pid] = qemuProcesses(`${VM_ROOT}/n1/qe-a/`);
    const moved = await freePort();
    const source = join(dir, 'site');
    manifest(
      'a.yaml',
      qemuNode('n1'),
      vmYaml('qe-a', 'n1', { ports: [`127.0.0.1:${moved}:8080`], source, env: { GREETING: 'from-the-vm' } }),
      webYaml('qe-web', 'qe-a', 8080),
    );
    const diff = await cli(['diff', '-f', a, '-o', 'json']);
    const ops = (JSON.parse(diff.stdout) as { plan: { operations: { id: string; cause: string }[] } }).plan.operations;
    expect(ops.map((o) => `${o.id}: ${o.cause}`), output(diff)).toEqual(['update-workspace:qe-a: changed in place: ports']);
    const r = await cli(['apply', '-f', a]);
    expect(r.code, output(r)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-a/`)).toEqual([pid]);
    expect((await httpGet(`http://127.0.0.1:${moved}/`)).body).toContain('hello from the qe-a source');
    await expect(httpGet(`http://127.0.0.1:${published}/`)).rejects.toThrow(); // fetch failed: connection refused
    const again = await cli(['apply', '-f', a]);
    expect(output(again)).toMatch(/No changes|0 operations/);
    published = moved;
  });

  it('two VMs on one node converge in one apply, each with its own address for the same guest port', async () => {
    const pair = manifest(
      'pair.yaml',
      qemuNode('n2'),
      vmYaml('qe-b', 'n2', { ports: ['127.0.0.1:7002:7000'] }),
      ncYaml('qe-nc-b', 'qe-b', 7000),
      vmYaml('qe-c', 'n2', { ports: ['127.0.0.1:7001:7000'], image: qemu.image }),
      ncYaml('qe-nc-c', 'qe-c', 7000),
    );
    const baseBefore = sha256(qemu.image);
    const r = await cli(['apply', '-f', pair]);
    expect(r.code, output(r)).toBe(0);
    console.log(`[qemu e2e] 2 VMs in parallel on one node, boot to Ready: ${convergedSeconds(r)}s`);
    expect(qemuProcesses(`${VM_ROOT}/n2/qe-b/`)).toHaveLength(1);
    expect(qemuProcesses(`${VM_ROOT}/n2/qe-c/`)).toHaveLength(1);
    const addrB = (JSON.parse(readFileSync(`${VM_ROOT}/n2/qe-b/meta.json`, 'utf8')) as { address: string }).address;
    const addrC = (JSON.parse(readFileSync(`${VM_ROOT}/n2/qe-c/meta.json`, 'utf8')) as { address: string }).address;
    expect(addrB).not.toBe(addrC);

    // exec runs in the guest (its hostname is the workspace name), argv quoted once.
    const ex = await cli(['exec', 'qe-b', '--', 'sh', '-c', `echo "$(hostname) it's $1"`, 'sh', 'a b']);
    expect(ex.code, output(ex)).toBe(0);
    expect(ex.stdout).toContain("qe-b it's a b");

    // qe-c's disk is a qcow2 overlay on the base image: the guest writes to it, the base stays as it was.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', `${VM_ROOT}/n2/qe-c/disk.qcow2`], { encoding: 'utf8' })) as {
      'backing-filename'?: string;
    };
    expect(info['backing-filename']).toBe(qemu.image);
    const write = await cli(['exec', 'qe-c', '--', 'sh', '-c', 'echo written-by-guest > /dev/vda && sync && head -c 16 /dev/vda']);
    expect(write.code, output(write)).toBe(0);
    expect(write.stdout).toContain('written-by-guest');
    expect(sha256(qemu.image)).toBe(baseBefore);

    const del = await cli(['delete', '-f', pair]);
    expect(del.code, output(del)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n2/`)).toHaveLength(0);
    expect(existsSync(`${VM_ROOT}/n2/qe-b`)).toBe(false);
    expect(existsSync(`${VM_ROOT}/n2/qe-c`)).toBe(false);
  });

  it('qemu missing on one node and a guest that never answers SSH fail clearly; another node converges', async () => {
    const failures = manifest(
      'failures.yaml',
      // A second Node resource for n1's machine, whose qemu binary does not exist.
      qemuNode('qe-nobin', { providers: '{qemu: {binary: /nonexistent/qemu-system-x86_64}}', infraName: 'n1' }),
      vmYaml('qe-missing', 'qe-nobin'),
      qemuNode('n1'),
      vmYaml('qe-mute', 'n1', { append: `${qemu.append ?? 'console=ttyS0'} vendetta.no_ssh` }),
      qemuNode('n2'),
      vmYaml('qe-ok', 'n2', { ports: ['127.0.0.1:7101:7100'] }),
      ncYaml('qe-nc-ok', 'qe-ok', 7100),
    );
    const r = await cli(['apply', '-f', failures], { VENDETTA_QEMU_BOOT_TIMEOUT: '25s' });
    const out = output(r);
    expect(r.code, out).not.toBe(0);
    expect(out).toContain('install qemu-system-x86 on node qe-nobin');
    expect(out).toContain('stage "guest SSH reachable" failed');
    expect(out).toContain('vendetta-guest: vendetta.no_ssh given'); // the serial console tail
    expect(existsSync(`${VM_ROOT}/qe-nobin`)).toBe(false); // nothing left where qemu is missing
    // The node that works is unaffected.
    expect(qemuProcesses(`${VM_ROOT}/n2/qe-ok/`)).toHaveLength(1);
    const get = await cli(['get', 'workspace', 'qe-ok']);
    expect(output(get)).toMatch(/Ready/);
    // The failed create was undone (no process, no state dir); its console log is kept.
    expect(qemuProcesses(`${VM_ROOT}/n1/qe-mute/`)).toHaveLength(0);
    expect(existsSync(`${VM_ROOT}/n1/qe-mute`)).toBe(false);
    expect(readFileSync(`${VM_ROOT}/n1/qe-mute.failed-serial.log`, 'utf8')).toContain('vendetta.no_ssh given');
    rmSync(`${VM_ROOT}/n1/qe-mute.failed-serial.log`);

    // By name: `delete -f` would also forget nodes n1/n2, which qe-a still uses.
    const del = await cli(['delete', 'workspace', 'qe-ok', 'qe-mute', 'qe-missing']);
    expect(del.code, output(del)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n2/`)).toHaveLength(0);
    expect(existsSync(`${VM_ROOT}/n2/qe-ok`)).toBe(false);
  });

  it('delete leaves no qemu process, socket or disk', async () => {
    const del = await cli(['delete', '-f', a]);
    expect(del.code, output(del)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n1/`)).toHaveLength(0);
    expect(existsSync(`${VM_ROOT}/n1/qe-a`)).toBe(false);
  });
});
