// spec.build on a remote node, through the built CLI as a user runs it: the context goes over the
// node's SSH connection (honouring .dockerignore), the image is built by the node's dockerd
// (classic builder, docker.io 20.10), an unchanged context is not built again, an edited file
// shows in `diff` as a build-context-changed replace, and a broken Dockerfile fails clearly.
// Infra: test/infra/up.sh (sshd n1..n3 with their own dockerd). Checks on the node are made with
// the docker CLI against its dockerd, outside the vendetta process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextBuildHash } from '../../src/build/context.js';
import { buildTag } from '../../src/model/build.js';
import { API_VERSION } from '../../src/model/types.js';
import { dockerApiCalls, resetDockerApiCalls } from '../../src/providers/docker/client.js';
import { createDockerDriver } from '../../src/providers/docker/driver.js';
import type { DesiredWorkspace, DriverContext } from '../../src/providers/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import type { Transport } from '../../src/transport/types.js';
import { infraNode, loadInfra, makeKnownHosts, makeTempHome, nodeResource, type Infra, type TempDir, type TempHome } from './helpers/infra.js';
import { dockerEvents, dockerOn, dockerTime, mutatingEvents, nodeYaml } from './helpers/remote.js';
import { eventually, freePort, httpGet, requireBuiltCli, runCli } from './support/cli.js';

const NODE = 'n2';
// Names unique to this suite (other suites share the nodes).
const WS = 'bld-web';
const REPO = `vendetta-build/${WS}`;

function dockerfile(infra: Infra, extra = ''): string {
  return `FROM ${infra.image}
ARG GREETING=unset
RUN echo "greeting=$GREETING" > /greeting
${extra}COPY . /ctx/
COPY site/ /site/
`;
}

describe('docker image builds on a remote node (built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  let port: number;
  let address: string;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-bld-'));
  const context = join(dir, 'app');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env, timeoutMs: 180_000 });

  /** Tags of this workspace's built images on the node. */
  const builtTags = async () =>
    (await dockerOn(infra, NODE, ['images', REPO, '--format', '{{.Repository}}:{{.Tag}}'])).trim().split('\n').filter(Boolean);

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    address = infraNode(infra, NODE).address;
    port = await freePort(address);
    mkdirSync(join(context, 'site'), { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), dockerfile(infra));
    writeFileSync(join(context, 'site', 'index.html'), 'built v1\n');
    writeFileSync(join(context, 'secret.txt'), 'must not reach the node\n');
    mkdirSync(join(context, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(context, 'node_modules', 'x', 'big.js'), 'ignored\n');
    writeFileSync(join(context, '.dockerignore'), '# not sent\nsecret.txt\nnode_modules\n');
    writeFileSync(
      join(dir, 'build.yaml'),
      `${nodeYaml(infra, NODE)}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec:
  node: ${NODE}
  provider: docker
  build:
    context: ./app
    args: {GREETING: "hello from ARG"}
  ports: ["${address}:${port}:80"]
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: bld-httpd}
spec:
  workspace: ${WS}
  command: exec httpd -f -p 80 -h /site
  ports: [80]
  healthcheck: {http: {port: 80, path: /}, interval: 500ms, timeout: 2s, retries: 10}
`,
    );
    // A leftover of an interrupted earlier run of this suite.
    for (const tag of await builtTags().catch(() => [])) await dockerOn(infra, NODE, ['rmi', tag]).catch(() => undefined);
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply builds the image on the node (ARG, COPY) and the service runs from it', async () => {
    const r = await cli('apply', '-f', dir, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).converged).toBe(true);
    const tags = await builtTags();
    expect(tags).toHaveLength(1);
    expect(tags[0]).toMatch(new RegExp(`^${REPO}:[0-9a-f]{12}$`));
    const labels = JSON.parse(await dockerOn(infra, NODE, ['image', 'inspect', tags[0]!, '--format', '{{json .Config.Labels}}']));
    expect(labels).toMatchObject({ 'vendetta.dev/managed': 'true', 'vendetta.dev/kind': 'Image', 'vendetta.dev/workspace': WS, 'vendetta.dev/node': NODE });

    const page = await eventually(async () => {
      const p = await httpGet(`http://${address}:${port}/`).catch(() => undefined);
      return p?.status === 200 ? p : undefined;
    }, 30_000, 'the built site to answer');
    expect(page.body).toBe('built v1\n');
    const greeting = await cli('exec', WS, '--', 'cat', '/greeting');
    expect(greeting.stdout.trim()).toBe('greeting=hello from ARG');
  });

  it('.dockerignore: ignored files never reach the image, the Dockerfile and the rest do', async () => {
    const listing = await cli('exec', WS, '--', 'sh', '-c', 'cd /ctx && find . | sort');
    expect(listing.code, listing.stderr).toBe(0);
    const files = listing.stdout.trim().split('\n');
    expect(files).toContain('./site/index.html');
    expect(files).toContain('./Dockerfile');
    expect(files).not.toContain('./secret.txt');
    expect(files.some((f) => f.startsWith('./node_modules'))).toBe(false);
  });

  it('a second apply builds nothing and changes nothing on the node; an ignored file changing plans nothing', async () => {
    writeFileSync(join(context, 'secret.txt'), 'changed, still ignored\n');
    const since = dockerTime();
    const r = await cli('apply', '-f', dir, '-o', 'json');
    const until = dockerTime();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.operationsRun).toBe(0);
    // A build (even a fully cached one) tags an image and makes containers for its steps.
    expect(mutatingEvents(await dockerEvents(infra, NODE, since, until))).toEqual([]);
    const diff = await cli('diff', '-f', dir);
    expect(diff.stdout).toMatch(/No changes/);
  });

  it('an edited COPY\'d file: diff shows the build-context-changed replace, apply rebuilds and drops the old tag', async () => {
    const [before] = await builtTags();
    writeFileSync(join(context, 'site', 'index.html'), 'built v2\n');
    const diff = await cli('diff', '-f', dir);
    expect(diff.code, diff.stderr).toBe(1); // 1: there are changes
    expect(diff.stdout).toMatch(new RegExp(`-/\\+ workspace/${WS}\\s+recreate\\s+on ${NODE} \\(docker\\): build context changed`));

    const since = dockerTime();
    const r = await cli('apply', '-f', dir, '-o', 'json');
    const until = dockerTime();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = await dockerEvents(infra, NODE, since, until);
    expect(events.some((e) => e.Type === 'image' && e.Action === 'tag')).toBe(true);
    const after = await builtTags();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    const page = await eventually(async () => {
      const p = await httpGet(`http://${address}:${port}/`).catch(() => undefined);
      return p?.body === 'built v2\n' ? p : undefined;
    }, 30_000, 'the rebuilt site to answer');
    expect(page.status).toBe(200);
  });

  it('a Dockerfile whose step fails: a clear error with the failing step and its last output, not retried', async () => {
    writeFileSync(join(context, 'Dockerfile'), dockerfile(infra, 'RUN echo about to fail; exit 3\n'));
    const started = Date.now();
    const r = await cli('apply', '-f', dir, '--timeout', '120s');
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/image build of workspace bld-web on node n2 failed at Step 4\/\d+ : RUN echo about to fail; exit 3/);
    expect(out).toMatch(/returned a non-zero code: 3/);
    expect(out).toMatch(/about to fail/);
    expect(out).not.toMatch(/retrying/);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a Dockerfile that does not parse: the error says so', async () => {
    writeFileSync(join(context, 'Dockerfile'), `FROM ${infra.image}\nNOSUCHINSTRUCTION x\n`);
    const r = await cli('apply', '-f', dir, '--timeout', '120s');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/image build of workspace bld-web on node n2 failed.*(unknown instruction|NOSUCHINSTRUCTION)/i);
  });

  it('delete removes the workspace and its built images', async () => {
    writeFileSync(join(context, 'Dockerfile'), dockerfile(infra));
    const r = await cli('apply', '-f', dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await builtTags()).toHaveLength(1);
    const d = await cli('delete', '-f', dir);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(await builtTags()).toEqual([]);
  });
});

// The driver in this process, so the Engine API requests it makes can be counted (client.ts).
describe('docker driver builds: POST /build only when the tag is missing', () => {
  const WS_DRIVER = 'bld-drv';
  let infra: Infra;
  let transport: Transport;
  let ctx: DriverContext;
  let knownHosts: (TempDir & { path: string }) | undefined;
  const driver = createDockerDriver();
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-bld-drv-'));
  const progress: string[] = [];

  const desired = (hash: string, ports?: string[]): DesiredWorkspace => ({
    resource: {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: WS_DRIVER },
      spec: { node: 'n3', provider: 'docker', build: { context: dir, args: { V: '1' } }, ...(ports ? { ports } : {}) },
    },
    specHash: `hash-${hash}-${ports?.join(',') ?? ''}`,
    env: {},
    owner: { id: '0123456789abcdef', name: 'e2e@docker-build' },
    build: { hash, tag: buildTag(WS_DRIVER, hash) },
  });
  const posts = () => dockerApiCalls.mutations.filter((m) => m === 'POST /build').length;

  beforeAll(async () => {
    infra = loadInfra();
    const n = infraNode(infra, 'n3');
    knownHosts = await makeKnownHosts(infra, ['n3']);
    const node = nodeResource(infra, 'n3', { hostKey: n.hostKeyPub, providers: { docker: { socket: n.dockerSocket } } });
    transport = new SshTransport(node, { knownHostsPath: knownHosts.path, strictHostKeys: true });
    ctx = { node, transport, applySet: 'bld-e2e', progress: (m) => progress.push(m) };
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${infra.image}\nARG V\nRUN echo "v=$V" > /v\n`);
    await driver.delete(ctx, WS_DRIVER);
  });

  afterAll(async () => {
    await driver.delete(ctx, WS_DRIVER).catch(() => undefined);
    await transport?.close();
    await knownHosts?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds once (progress shows the steps), then a recreate for another reason sends no build', async () => {
    const hash = contextBuildHash({ context: dir, args: { V: '1' } });
    resetDockerApiCalls();
    await driver.create(ctx, desired(hash));
    expect(posts()).toBe(1);
    expect(progress.some((l) => /^build: Step 3\/\d+ : RUN echo "v=\$V" > \/v$/.test(l))).toBe(true);

    resetDockerApiCalls();
    await driver.delete(ctx, WS_DRIVER, { replacing: true });
    await driver.create(ctx, desired(hash, [`${infraNode(infra, 'n3').address}:${await freePort(infraNode(infra, 'n3').address)}:80`]));
    expect(posts()).toBe(0);
    expect(dockerApiCalls.mutations).toContain('POST /containers/create');
    const [ws] = (await driver.observe(ctx)).filter((w) => w.name === WS_DRIVER);
    expect(ws?.buildHash).toBe(hash);

    // A plain delete removes the built image too.
    await driver.delete(ctx, WS_DRIVER);
    expect((await dockerOn(infra, 'n3', ['images', `vendetta-build/${WS_DRIVER}`, '-q'])).trim()).toBe('');
  });
});
