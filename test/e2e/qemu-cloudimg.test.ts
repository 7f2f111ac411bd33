// The QEMU provider's disk-image path (a) end to end: `image:` a Debian cloud image built locally
// by test/infra/cloudimg.sh (own bootloader, cloud-init, openssh), configured at first boot by
// the NoCloud seed the driver builds on the node (user, SSH key, hostname). Booted under TCG on
// node n1 by the built CLI, with an isolated guest network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, httpGet, requireBuiltCli, runCli, type CliResult } from './support/cli.js';
import { infraDir, loadInfra, makeTempHome, type TempHome } from './helpers/infra.js';
import { qemuProcesses, sha256 } from './helpers/qemu.js';
import { nodeYaml } from './helpers/remote.js';

const infra = loadInfra();
const IMAGE = join(infraDir(), 'qemu', 'debian-cloud.qcow2');
const VM_ROOT = `/home/${infra.user}/.vendetta/qemu`;
const WS = 'qe-cloud';
const GUEST_USER = 'dev';
let home: TempHome;

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, {
    home: home.dir,
    // A full Debian boot with cloud-init under TCG on a busy 2-core machine.
    env: { ...home.env, VENDETTA_QEMU_BOOT_TIMEOUT: '240s', VENDETTA_QEMU_POWERDOWN_TIMEOUT: '2s' },
    timeoutMs: 290_000,
  });
}

function output(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

function manifest(published: number, source: string): string {
  const path = join(home.dir, 'cloud.yaml');
  writeFileSync(
    path,
    `---
${nodeYaml(infra, 'n1', { pinHostKey: true, providers: '{}' })}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec:
  node: n1
  provider: qemu
  image: ${IMAGE}
  resources: {cpus: 1, memory: 512Mi}
  source: {path: ${source}}
  ports: ["127.0.0.1:${published}:8080"]
  vm:
    network: isolated          # tests never give a guest a way out
    user: ${GUEST_USER}        # created by cloud-init from the seed, with the guest key
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: qe-cloud-web}
spec:
  workspace: ${WS}
  command: exec python3 -m http.server 8080 --directory /workspace
  ports: [8080]
  healthcheck: {http: {port: 8080, path: /}, interval: 1s, timeout: 2s, retries: 60}
`,
  );
  return path;
}

/**
 * up.sh may leave the cloud image building in the background (VENDETTA_CLOUDIMG_WAIT=0, as
 * scripts/test-all.sh does, so the other suites need not wait ~3 min for it): wait for its result.
 */
async function waitForCloudImage(): Promise<void> {
  const rcFile = join(infraDir(), 'cloudimg.rc');
  const building = existsSync(join(infraDir(), 'cloudimg.pid'));
  const deadline = Date.now() + 15 * 60_000;
  while (building && !existsSync(rcFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2000));
  if (building && !existsSync(rcFile)) throw new Error(`the cloud image build did not finish in 15 min; see ${join(infraDir(), 'cloudimg.log')}`);
  if (existsSync(rcFile) && readFileSync(rcFile, 'utf8').trim() !== '0') {
    throw new Error(`the cloud image build failed; see ${join(infraDir(), 'cloudimg.log')}`);
  }
  if (!existsSync(IMAGE)) {
    throw new Error(`the cloud image ${IMAGE} is missing: build it with sudo bash test/infra/cloudimg.sh (test/infra/qemu.sh up runs it)`);
  }
}

beforeAll(async () => {
  requireBuiltCli();
  await waitForCloudImage();
  home = await makeTempHome(infra);
}, 16 * 60_000);

afterAll(async () => {
  await cli(['delete', 'workspace', WS]);
  await home?.cleanup();
});

describe('qemu provider: cloud image + cloud-init NoCloud seed (TCG)', () => {
  it('boots the image, cloud-init sets user, key and hostname; Ready, exec, overlay, delete', { timeout: 600_000 }, async () => {
    const baseBefore = sha256(IMAGE);
    const published = await freePort();
    const source = join(home.dir, 'site');
    mkdirSync(source);
    writeFileSync(join(source, 'index.html'), 'hello from the cloud image\n');
    const file = manifest(published, source);

    const apply = await cli(['apply', '-f', file]);
    expect(apply.code, output(apply)).toBe(0);
    console.log(`[qemu cloud image e2e] boot to Ready (apply): ${/converged in ([0-9.]+)s/.exec(output(apply))?.[1]}s`);
    expect(qemuProcesses(`${VM_ROOT}/n1/${WS}/`)).toHaveLength(1);
    expect(output(await cli(['get', 'workspace', WS]))).toMatch(/Ready/);
    expect((await httpGet(`http://127.0.0.1:${published}/index.html`)).body).toContain('hello from the cloud image');

    // The seed's hostname and user: cloud-init applied them (the image ships "localhost", no "dev").
    const ex = await cli(['exec', WS, '--', 'sh', '-c', 'echo "$(hostname) $(id -un) $(cloud-init status)"']);
    expect(ex.code, output(ex)).toBe(0);
    expect(ex.stdout).toContain(`${WS} ${GUEST_USER} status: done`);
    // The seed really was the NoCloud source.
    const ds = await cli(['exec', WS, '--', 'cat', '/run/cloud-init/result.json']);
    expect(ds.stdout).toMatch(/DataSourceNoCloud/);

    // The VM writes to its qcow2 overlay only.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', `${VM_ROOT}/n1/${WS}/disk.qcow2`], { encoding: 'utf8' })) as {
      'backing-filename'?: string;
    };
    expect(info['backing-filename']).toBe(IMAGE);
    const write = await cli(['exec', WS, '--', 'sh', '-c', 'echo written-by-guest > /workspace/new.txt && sync && cat /workspace/new.txt']);
    expect(write.stdout).toContain('written-by-guest');

    const del = await cli(['delete', '-f', file]);
    expect(del.code, output(del)).toBe(0);
    expect(qemuProcesses(`${VM_ROOT}/n1/`)).toHaveLength(0);
    expect(existsSync(`${VM_ROOT}/n1/${WS}`)).toBe(false);
    expect(sha256(IMAGE)).toBe(baseBefore);
  });
});
