// The Compose converter (src/convert/compose.ts): mapping, warnings, errors at file:line, and the
// loader/planner pieces Compose projects rely on (network.mode ordering, commands from images).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ComposeError, convertCompose, isComposeFile, shellJoin } from '../../../src/convert/compose.js';
import { loadManifests } from '../../../src/manifest/index.js';
import { plan } from '../../../src/plan/plan.js';
import { imageCommandLabels, containerCreateOptions, networkName } from '../../../src/providers/docker/spec.js';
import { serviceCommand } from '../../../src/services/manager.js';
import { TEST_IDENTITY, converged, emptyNodes, loaded, service, workspace } from '../plan/builders.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/compose');
const fixture = (name: string) => join(FIXTURES, name);
const read = (name: string) => readFileSync(fixture(name), 'utf8');

type Doc = { kind: string; metadata: { name: string; labels: Record<string, string> }; spec: Record<string, any> };
function convert(name: string, opts: { node?: string; environ?: Record<string, string> } = {}) {
  const result = convertCompose(read(name), { file: fixture(name), ...opts });
  const docs = result.documents as Doc[];
  const get = (kind: string, n: string) => docs.find((d) => d.kind === kind && d.metadata.name === n)!.spec;
  return { ...result, docs, ws: (n: string) => get('Workspace', n), svc: (n: string) => get('Service', n) };
}
function errorsOf(text: string, file = '/p/app/docker-compose.yml'): string[] {
  try {
    convertCompose(text, { file });
  } catch (err) {
    if (err instanceof ComposeError) return err.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
    throw err;
  }
  throw new Error('expected errors');
}

describe('convertCompose', () => {
  it('maps each service to a docker Workspace and a Service, named <project>-<service>', () => {
    const r = convert('full/docker-compose.yml', { node: 'n1' });
    expect(r.project).toBe('shop');
    expect(r.docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Workspace/shop-db', 'Service/shop-db', 'Workspace/shop-api', 'Service/shop-api',
      'Workspace/shop-sidecar', 'Service/shop-sidecar', 'Workspace/shop-worker', 'Service/shop-worker',
    ]);
    expect(r.docs[0]!.metadata.labels).toEqual({ 'vendetta.dev/compose-project': 'shop', 'vendetta.dev/compose-service': 'db' });
    expect(r.ws('shop-db')).toEqual({
      node: 'n1',
      provider: 'docker',
      image: 'postgres:16',
      env: { POSTGRES_PASSWORD: 'secret', POSTGRES_DB: 'shop' },
      volumes: [{ name: 'dbdata', path: '/var/lib/postgresql/data' }],
      network: { name: 'shop', aliases: ['db'] },
    });
    // No command: the image's own ENTRYPOINT + CMD (resolved by the docker driver).
    expect(r.svc('shop-db')).toEqual({
      workspace: 'shop-db',
      healthcheck: { exec: { command: 'pg_isready -U postgres' }, interval: '5s', timeout: '3s', startPeriod: '10s', retries: 5 },
      restart: 'always', // unless-stopped, through a YAML merge key
    });
  });

  it('maps build, list commands, env (list, env_file, from the applying machine), ports, depends_on, restart', () => {
    const r = convert('full/docker-compose.yml');
    expect(r.ws('shop-api')).toMatchObject({
      node: 'local',
      build: { context: './api', dockerfile: 'Dockerfile.dev', target: 'dev', args: { NODE_VERSION: '20' } },
      env: { LOG_LEVEL: 'debug', QUOTED: 'a b', DATABASE_URL: 'postgres://postgres:secret@db/shop', API_TOKEN: { fromEnv: 'API_TOKEN' } },
      ports: ['3000:3000', '127.0.0.1:19229:9229'],
    });
    expect(r.ws('shop-api').image).toBeUndefined();
    expect(r.svc('shop-api')).toEqual({
      workspace: 'shop-api',
      // command without entrypoint: arguments to the image's ENTRYPOINT (Kubernetes' args)
      args: ['npm', 'run', 'dev', '--', '--port=3000'],
      workdir: '/app',
      dependsOn: { 'shop-db': { condition: 'healthy' } },
      restart: 'on-failure',
    });
  });

  it('shares a network namespace with network_mode: service:x, and joins entrypoint and command', () => {
    const r = convert('full/docker-compose.yml');
    expect(r.ws('shop-sidecar').network).toEqual({ mode: 'service:shop-api' });
    expect(r.svc('shop-sidecar')).toMatchObject({
      command: '/bin/sh -c',
      args: ['while :; do wget -qO- http://localhost:3000/health; sleep 5; done'],
      dependsOn: { 'shop-api': { condition: 'started' } },
      restart: 'never',
    });
  });

  it('maps CMD healthchecks (quoted) and deploy limits; names every unsupported key in one warning', () => {
    const r = convert('full/docker-compose.yml');
    expect(r.svc('shop-worker').healthcheck).toEqual({ exec: { command: `worker --check 'it'\\''s fine'` } });
    expect(r.ws('shop-worker').resources).toEqual({ cpus: 0.5, memory: '512Mi' });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('unsupported keys, ignored: services.worker.deploy.replicas (line 54)');
  });

  it('maps user: to spec.user (a number is a uid); a value that is no user is warned about by name', () => {
    expect(convert('full/docker-compose.yml').ws('shop-api').user).toBe('node');
    const r = convertCompose('services:\n  a:\n    image: busybox\n    user: "1000:1000"\n  b:\n    image: busybox\n    user: 1000\n  c:\n    image: busybox\n    user: "$$(id -u)"\n', {
      file: '/p/app/compose.yaml',
      environ: {},
    });
    const spec = (n: string) => (r.documents as Doc[]).find((d) => d.kind === 'Workspace' && d.metadata.name === n)!.spec;
    expect(spec('app-a').user).toBe('1000:1000');
    expect(spec('app-b').user).toBe('1000');
    expect(spec('app-c').user).toBeUndefined();
    expect(r.warnings.join('\n')).toContain('unsupported keys, ignored: services.c.user (line 10)');
  });

  it('takes the project from the directory when there is no name:, and interpolates ${VAR}', () => {
    const r = convertCompose('services:\n  web:\n    image: "nginx:${TAG:-1.27}"\n    environment: {A: "$X", B: "$${X}"}\n', { file: '/p/My_App/compose.yaml', environ: { X: 'x' } });
    expect(r.project).toBe('my-app');
    expect(r.documents[0]).toMatchObject({ metadata: { name: 'my-app-web' }, spec: { image: 'nginx:1.27', env: { A: 'x', B: '${X}' } } });
    expect(r.warnings).toEqual([]);
  });

  it('rejects bad input at file:line, converting nothing', () => {
    expect(() => convertCompose(read('bad/cycle.yml'), { file: fixture('bad/cycle.yml') })).toThrow(ComposeError);
    expect(errorsOf(read('bad/cycle.yml'))).toEqual(['2:3: services depend on each other in a cycle: a → b → a (depends_on / network_mode: service:); break the cycle']);
    expect(errorsOf(read('bad/unknown-dep.yml'))).toEqual(['5:9: depends_on: there is no service "dbb" (services: api, db)']);
    expect(errorsOf(read('bad/broken.yml'))[0]).toMatch(/^4:1: invalid YAML/);
    expect(errorsOf(read('bad/bind.yml'))[0]).toMatch(/^5:9: service api: bind mount "\.\/src" → \/app is not supported/);
    expect(errorsOf('services:\n  a:\n    image: x\n    network_mode: "service:b"\n')).toEqual(['4:19: network_mode "service:b": there is no service "b" (services: a)']);
    expect(errorsOf('services:\n  a:\n    command: x\n')).toEqual(['2:3: service "a" has neither image: nor build:; add one']);
    expect(errorsOf('services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_healthy}\n  b:\n    image: y\n')).toEqual([
      '5:7: depends_on b: condition service_healthy, but service "b" has no healthcheck (with a test); add one, or use service_started',
    ]);
    expect(errorsOf('version: "3"\n')).toEqual(['1:1: not a Compose file: expected a map with a non-empty "services:" map']);
  });

  it('detects Compose files by name or by content', () => {
    expect(isComposeFile('/x/docker-compose.yml', '')).toBe(true);
    expect(isComposeFile('/x/compose.override.yaml', '')).toBe(true);
    expect(isComposeFile('/x/stack.yaml', 'services:\n  a: {}\n')).toBe(true);
    expect(isComposeFile('/x/stack.yaml', 'apiVersion: vendetta.dev/v1alpha1\nservices:\n')).toBe(false);
    expect(isComposeFile('/x/app.yaml', 'kind: Workspace\n')).toBe(false);
  });

  it('maps entrypoint and command as Kubernetes does (command and args), splitting strings into words', () => {
    const svc = (body: string) => (convertCompose(`services:\n  a:\n    image: x\n${body}`, { file: '/p/q/compose.yaml' }).documents[1] as Doc).spec;
    expect(svc('    command: echo "a b" c\n')).toEqual({ workspace: 'q-a', args: ['echo', 'a b', 'c'], restart: 'never' });
    expect(svc('    entrypoint: ["/init"]\n')).toEqual({ workspace: 'q-a', command: '/init', restart: 'never' });
    expect(svc('    entrypoint: ""\n    command: ["run", "it"]\n')).toEqual({ workspace: 'q-a', command: 'run it', restart: 'never' });
  });

  it('quotes words for the shell', () => {
    expect(shellJoin(['echo', 'a b', "it's", ''])).toBe(`echo 'a b' 'it'\\''s' ''`);
  });
});

describe('Compose files through the loader', () => {
  it('loads a Compose file as manifests, with errors at the Compose file', async () => {
    const result = await loadManifests([fixture('valid/compose.yaml')], { environ: {}, composeNode: 'local' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect([...result.set.desired.workspaces.keys()].sort()).toEqual(['valid-cache', 'valid-probe', 'valid-web']);
    expect(result.set.desired.services.get('valid-cache')!.spec.command).toBeUndefined();
    const bad = await loadManifests([fixture('bad/unknown-dep.yml')], { environ: {} });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors[0]).toMatchObject({ line: 5, col: 9 });
  });

  it('still requires a command outside docker workspaces', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join((await import('node:os')).tmpdir(), 'vendetta-cmp-'));
    writeFileSync(
      join(dir, 'm.yaml'),
      'apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: p}\nspec: {provider: process}\n---\napiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec: {workspace: p}\n',
    );
    const r = await loadManifests([join(dir, 'm.yaml')], { environ: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.message).toContain('missing required field "command"');
  });
});

describe('network.mode service:<workspace> in the plan', () => {
  const ws = (name: string, spec = {}) => workspace(name, { node: 'n1', provider: 'docker', image: 'busybox', ...spec });
  it('creates the sharing workspace after its target', () => {
    const set = loaded([ws('api', { network: { name: 'p', aliases: ['api'] } }), ws('a-side', { network: { mode: 'service:api' } })]);
    const p = plan({ set, observed: emptyNodes('n1'), applied: [], applySet: 'default', prune: false, identity: TEST_IDENTITY });
    const side = p.operations.find((o) => o.id === 'create-workspace:a-side')!;
    expect(side.dependsOn).toContain('create-workspace:api');
  });

  it('recreates the sharing workspace (and restarts its services) when its target is recreated', () => {
    const before = loaded([ws('api'), ws('side', { network: { mode: 'service:api' } }), service('s', 'side')]);
    const observed = converged(before);
    const after = loaded([ws('api', { image: 'busybox:v2' }), ws('side', { network: { mode: 'service:api' } }), service('s', 'side')]);
    const p = plan({ set: after, observed, applied: [], applySet: 'default', prune: false, identity: TEST_IDENTITY });
    expect(p.operations.map((o) => o.id)).toEqual(['recreate-workspace:api', 'recreate-workspace:side', 'start-service:s']);
    const side = p.operations.find((o) => o.id === 'recreate-workspace:side')!;
    expect(side.cause).toBe('shares the network of workspace api, which is recreated');
    expect(side.dependsOn).toContain('recreate-workspace:api');
  });

  it('leaves it alone when the target is unchanged', () => {
    const set = loaded([ws('api'), ws('side', { network: { mode: 'service:api' } })]);
    const p = plan({ set, observed: converged(set), applied: [], applySet: 'default', prune: false, identity: TEST_IDENTITY });
    expect(p.operations).toEqual([]);
  });
});

describe('docker container options for Compose workspaces', () => {
  const desired = (spec: object) => ({
    resource: workspace('w', { node: 'n1', provider: 'docker', image: 'busybox', ...spec }),
    specHash: 'h',
    env: {},
    owner: { id: 'o', name: 'o' },
  });
  it('joins the named network with aliases, or shares a container namespace without a hostname', () => {
    const joined = containerCreateOptions(desired({ network: { name: 'p', aliases: ['db'] } }), 'default', 'busybox');
    expect(joined.HostConfig!.NetworkMode).toBe(networkName('n1', 'p'));
    expect(joined.NetworkingConfig).toEqual({ EndpointsConfig: { 'vendetta-net.n1.p': { Aliases: ['db'] } } });
    expect(joined.Labels!['vendetta.dev/network']).toBe('p');
    expect(joined.Hostname).toBe('w');
    const shared = containerCreateOptions(desired({ network: { mode: 'service:api' } }), 'default', 'busybox');
    expect(shared.HostConfig!.NetworkMode).toBe('container:vendetta-api');
    expect(shared.Hostname).toBeUndefined();
    const plain = containerCreateOptions(desired({}), 'default', 'busybox');
    expect(plain.HostConfig!.NetworkMode).toBeUndefined();
    expect('NetworkingConfig' in plain).toBe(false);
  });
  it('records what the image runs by itself, and a Service without command runs it (args replace CMD)', () => {
    const labels = imageCommandLabels({ Entrypoint: ['/docker-entrypoint.sh'], Cmd: ['nginx', '-g', 'daemon off;'], WorkingDir: '/srv' });
    expect(labels).toEqual({
      'vendetta.dev/image-entrypoint': '/docker-entrypoint.sh',
      'vendetta.dev/image-cmd': `nginx -g 'daemon off;'`,
      'vendetta.dev/image-workdir': '/srv',
    });
    expect(imageCommandLabels({ Entrypoint: null, Cmd: null, WorkingDir: '' })).toEqual({});
    const image = { entrypoint: '/docker-entrypoint.sh', cmd: `nginx -g 'daemon off;'` };
    expect(serviceCommand({}, image)).toBe(`/docker-entrypoint.sh nginx -g 'daemon off;'`);
    expect(serviceCommand({ args: ['postgres', '-c', 'a b'] }, image)).toBe(`/docker-entrypoint.sh postgres -c 'a b'`);
    expect(serviceCommand({ args: ['sh', '-c', 'echo hi'] }, { cmd: 'sh' })).toBe(`sh -c 'echo hi'`);
    expect(serviceCommand({ command: 'run', args: ["it's"] }, image)).toBe(`run 'it'\\''s'`);
    expect(serviceCommand({ command: 'npm start' }, image)).toBe('npm start');
    expect(serviceCommand({}, undefined)).toBe('');
  });
});
