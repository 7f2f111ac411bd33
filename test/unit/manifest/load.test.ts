import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatManifestError, formatManifestErrorFrom, loadManifests, type LoadResult } from '../../../src/manifest/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-manifest-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

async function load(paths: string[] = ['.'], environ: NodeJS.ProcessEnv = {}): Promise<Extract<LoadResult, { ok: true }>> {
  const result = await loadManifests(paths, { cwd: dir, environ });
  if (!result.ok) throw new Error(`expected success, got:\n${result.errors.map((e) => formatManifestErrorFrom(dir, e)).join('\n')}`);
  return result;
}

async function errors(paths: string[] = ['.'], environ: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const result = await loadManifests(paths, { cwd: dir, environ });
  if (result.ok) throw new Error('expected errors, but the manifests loaded');
  return result.errors.map((e) => formatManifestErrorFrom(dir, e));
}

const API = 'apiVersion: vendetta.dev/v1alpha1';

describe('errors, each at file:line:col', () => {
  test('malformed YAML', async () => {
    write({ 'bad.yaml': `${API}\nkind: Node\nmetadata:\n  name: [a\nspec: {address: x}\n` });
    expect(await errors()).toEqual([
      'bad.yaml:5:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  test('unknown field, with a suggestion, pointing at the key', async () => {
    write({
      'ws.yaml': `${API}
kind: Workspace
metadata: {name: api}
spec:
  provider: docker
  image: node:22
  imagee: node:20
  healthcheck: {}
`,
    });
    expect(await errors()).toEqual([
      'ws.yaml:7:3: unknown field "imagee" in Workspace "api" spec (did you mean "image"?)',
      'ws.yaml:8:3: unknown field "healthcheck" in Workspace "api" spec (allowed: node, provider, image, pull, build, resources, source, dotfiles, env, ports, state, volumes, user, network, vm, lifecycle, devcontainer)',
    ]);
  });

  test('unknown kind and unknown apiVersion say what is supported', async () => {
    write({
      'k.yaml': `${API}\nkind: Deployment\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Servce\nmetadata: {name: y}\n---\nkind: Node\nmetadata: {name: z}\nspec: {address: x}\n`,
    });
    expect(await errors()).toEqual([
      'k.yaml:2:7: unknown kind "Deployment": supported kinds are Node, Workspace, Service',
      'k.yaml:5:13: unsupported apiVersion "v1": use vendetta.dev/v1alpha1',
      'k.yaml:6:7: unknown kind "Servce": supported kinds are Node, Workspace, Service (did you mean "Service"?)',
      'k.yaml:9:1: missing apiVersion: add "apiVersion: vendetta.dev/v1alpha1"',
    ]);
  });

  test('wrong types, enums and missing fields', async () => {
    write({
      'w.yaml': `${API}
kind: Workspace
metadata: {name: api}
spec:
  provider: dokcer
  state: paused
  resources: {cpus: two, memory: 2GB}
  env: {PORT: 3000, MY-VAR: x, B: {fromEnv: X, fromFile: y}}
---
${API}
kind: Workspace
metadata: {name: box}
spec:
  provider: docker
---
${API}
kind: Workspace
metadata: {name: vm}
spec: {provider: qemu, vm: {append: console=ttyS0}}
---
${API}
kind: Service
metadata: {name: web}
`,
    });
    expect(await errors()).toEqual([
      'w.yaml:5:13: Workspace "api" spec.provider must be one of process, docker, lxc, qemu, got "dokcer" (did you mean "docker"?)',
      'w.yaml:6:10: Workspace "api" spec.state must be one of running, stopped, got "paused"',
      'w.yaml:7:21: Workspace "api" spec.resources.cpus must be a number, got "two"',
      'w.yaml:7:34: Workspace "api" spec.resources.memory "2GB" is not a valid quantity: use a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti), e.g. "512Mi", "2Gi", "1G"',
      'w.yaml:8:15: Workspace "api" spec.env.PORT must be a string (quote numbers: "3000"), {fromEnv: NAME} or {fromFile: path}, got the number 3000',
      'w.yaml:8:21: Workspace "api" spec.env: "MY-VAR" is not a valid variable name: use letters, digits and "_", not starting with a digit',
      'w.yaml:8:35: Workspace "api" spec.env.B must be either {fromEnv: NAME} or {fromFile: path}',
      'w.yaml:13:1: Workspace "box" spec needs "image" (an image reference) or "build" (a Dockerfile to build on the node) for provider docker',
      'w.yaml:19:1: Workspace "vm" spec needs "image" (a disk image) or "vm.kernel" (a kernel to boot) for provider qemu',
      'w.yaml:21:1: Service "web" is missing required field "spec"',
    ]);
  });

  test('names with shell metacharacters or uppercase are rejected', async () => {
    write({
      'n.yaml': `${API}\nkind: Node\nmetadata: {name: "a;b"}\nspec: {address: x}\n---\n${API}\nkind: Node\nmetadata: {name: $(x)}\nspec: {address: x}\n---\n${API}\nkind: Node\nmetadata: {name: Web}\nspec: {address: x}\n---\n${API}\nkind: Workspace\nmetadata: {name: api}\nspec: {provider: process, node: "../etc"}\n`,
    });
    const hint = 'is not a valid name: use lowercase letters, digits and "-" (max 63)';
    expect(await errors()).toEqual([
      `n.yaml:3:18: metadata.name "a;b" ${hint}`,
      `n.yaml:8:18: metadata.name "$(x)" ${hint}`,
      `n.yaml:13:18: metadata.name "Web" ${hint}`,
      `n.yaml:19:33: Workspace "api" spec.node "../etc" ${hint}`,
    ]);
  });

  test('bad ports', async () => {
    write({
      'p.yaml': `${API}
kind: Workspace
metadata: {name: api}
spec:
  provider: docker
  image: x
  ports: ["99999", "abc:80", "8080:3000"]
---
${API}
kind: Service
metadata: {name: web}
spec: {workspace: api, command: x, ports: [3000, 70000]}
`,
    });
    expect(await errors()).toEqual([
      'p.yaml:7:11: Workspace "api" spec.ports[0] "99999" is not a valid port mapping: host port 99999 is out of range 1-65535',
      'p.yaml:7:20: Workspace "api" spec.ports[1] "abc:80" is not a valid port mapping: host port "abc" is not a number; use "[ip:]hostPort:containerPort[/tcp|udp]", e.g. "127.0.0.1:8080:3000"',
      'p.yaml:12:50: Service "web" spec.ports[1] must be at most 65535, got the number 70000',
    ]);
  });

  test('bad durations and health checks', async () => {
    write({
      'h.yaml': `${API}
kind: Service
metadata: {name: web}
spec:
  workspace: local-ws
  command: npm start
  healthcheck:
    http: {port: 3000, path: health}
    interval: 2 seconds
    timeout: 1d
---
${API}
kind: Service
metadata: {name: db}
spec:
  workspace: local-ws
  command: postgres
  healthcheck: {tcp: {port: 5432}, exec: {command: pg_isready}}
`,
    });
    const hint = 'use a number and a unit (ms, s, m, h), e.g. "500ms", "2s", "1h30m"';
    expect(await errors()).toEqual([
      'h.yaml:8:30: Service "web" spec.healthcheck.http.path "health" is not a valid path: start it with "/" and write white space as %20, e.g. "/health"',
      `h.yaml:9:15: Service "web" spec.healthcheck.interval "2 seconds" is not a valid duration: ${hint}`,
      `h.yaml:10:14: Service "web" spec.healthcheck.timeout "1d" is not a valid duration: ${hint}`,
      'h.yaml:18:3: Service "db" spec.healthcheck needs exactly one check: "exec", "tcp" or "http"',
    ]);
  });

  test('an http check path with white space (the supervisor sends it as is)', async () => {
    write({ 'w.yaml': `${API}\nkind: Service\nmetadata: {name: web}\nspec:\n  workspace: api\n  command: x\n  healthcheck: {http: {port: 80, path: /a b}}\n` });
    expect(await errors()).toEqual([
      'w.yaml:7:40: Service "web" spec.healthcheck.http.path "/a b" is not a valid path: start it with "/" and write white space as %20, e.g. "/health"',
    ]);
  });

  test('duplicate names point at the second declaration and mention the first', async () => {
    write({
      'a.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec: {provider: process}\n`,
      'b.yaml': `${API}\nkind: Node\nmetadata: {name: api}\nspec: {address: x}\n---\n${API}\nkind: Workspace\nmetadata:\n  name: api\nspec: {provider: process}\n`,
    });
    expect(await errors()).toEqual([
      'b.yaml:9:9: Workspace "api" is already declared at a.yaml:3:18; names must be unique per kind',
    ]);
  });

  test('dangling node, workspace and dependsOn references', async () => {
    write({
      'r.yaml': `${API}
kind: Node
metadata: {name: node-a}
spec: {address: 127.0.0.2}
---
${API}
kind: Workspace
metadata: {name: api}
spec: {node: nodea, provider: process}
---
${API}
kind: Workspace
metadata: {name: other}
spec: {node: far-away, provider: process}
---
${API}
kind: Service
metadata: {name: web}
spec:
  workspace: apii
  command: x
  dependsOn:
    dbb: {condition: healthy}
    web: {}
`,
    });
    expect(await errors()).toEqual([
      'r.yaml:9:14: Workspace "api" spec.node: no Node named "nodea" (did you mean "node-a"?)',
      'r.yaml:14:14: Workspace "other" spec.node: no Node named "far-away" (declared: local, node-a)',
      'r.yaml:20:14: Service "web" spec.workspace: no Workspace named "apii" (did you mean "api"?)',
      'r.yaml:23:5: Service "web" spec.dependsOn: no Service named "dbb" (declared: web)',
      'r.yaml:24:5: Service "web" spec.dependsOn: a service cannot depend on itself',
    ]);
  });

  test('a 3-service dependency cycle is shown as a path', async () => {
    const svc = (name: string, deps: string) =>
      `${API}\nkind: Service\nmetadata: {name: ${name}}\nspec:\n  workspace: ws\n  command: run\n  dependsOn: ${deps}\n`;
    write({
      'ws.yaml': `${API}\nkind: Workspace\nmetadata: {name: ws}\nspec: {provider: process}\n`,
      'svc.yaml': [svc('web', '[api]'), svc('api', '{db: {condition: healthy}}'), svc('db', '[web]'), svc('cli', '[web]')].join('---\n'),
    });
    expect(await errors()).toEqual([
      'svc.yaml:7:15: Service "web" spec.dependsOn: dependency cycle web → api → db → web; remove one of these dependencies',
    ]);
  });

  test('two services in one workspace cannot declare the same port', async () => {
    write({
      'ws.yaml': `${API}\nkind: Workspace\nmetadata: {name: ws}\nspec: {provider: process}\n`,
      'svc.yaml': `${API}\nkind: Service\nmetadata: {name: a}\nspec: {workspace: ws, command: x, ports: [3000]}\n---\n${API}\nkind: Service\nmetadata: {name: b}\nspec: {workspace: ws, command: x, ports: [4000, 3000]}\n`,
    });
    expect(await errors()).toEqual([
      'svc.yaml:9:49: Service "b" spec.ports[1]: port 3000 is already used by Service "a" in Workspace "ws" (svc.yaml:4:43)',
    ]);
  });

  test('env references: missing variable and missing file', async () => {
    write({
      'e.yaml': `${API}
kind: Workspace
metadata: {name: api}
spec:
  provider: process
  env:
    TOKEN: {fromEnv: API_TOKEN}
    KEY: {fromFile: secrets/key.pem}
`,
    });
    expect(await errors()).toEqual([
      'e.yaml:7:5: Workspace "api" spec.env.TOKEN: environment variable API_TOKEN is not set; export it before running vendetta',
      `e.yaml:8:5: Workspace "api" spec.env.KEY: cannot read "secrets/key.pem" (${join(dir, 'secrets/key.pem')}): it does not exist; create it or fix the path`,
    ]);
  });

  test('an onSync action that does not exist', async () => {
    write({ 'o.yaml': `${API}\nkind: Service\nmetadata: {name: web}\nspec: {workspace: nope, command: x, onSync: reload}\n` });
    expect(await errors()).toContain('o.yaml:4:45: Service "web" spec.onSync must be one of sync, restart, rebuild, got "reload"');
  });

  test('a missing source directory', async () => {
    write({ 's.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  provider: process\n  source: {path: ./app}\n` });
    expect(await errors()).toEqual([
      `s.yaml:6:18: Workspace "api" spec.source.path: directory "./app" does not exist (resolved to ${join(dir, 'app')}); create it or fix the path`,
    ]);
  });

  test('source.onNode: an absolute path on the node, kept as written and not looked for here; a relative one is an error', async () => {
    write({ 'n.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  provider: lxc\n  image: x\n  source: {path: /srv/nowhere-here, onNode: true}\n` });
    const { set } = await load(['n.yaml']);
    expect(set.desired.workspaces.get('api')!.spec.source).toEqual({ path: '/srv/nowhere-here', onNode: true });
    write({ 'n.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  provider: lxc\n  image: x\n  source: {path: ./app, onNode: true}\n` });
    expect(await errors()).toEqual([
      'n.yaml:7:18: Workspace "api" spec.source.path: "./app" must be an absolute path on the node with onNode: true (it is not resolved against the manifest\'s directory)',
    ]);
  });

  test('several errors in several files are all reported, sorted by file and line', async () => {
    write({
      'b.yaml': `${API}\nkind: Service\nmetadata: {name: web}\nspec: {workspace: nope, command: x, restart: sometimes}\n`,
      'a.yaml': `${API}\nkind: Workspace\nmetadata: {name: "a;b"}\nspec: {provider: process, imagee: x}\n---\n${API}\nkind: Service\nmetadata: {name: api}\nspec: {workspace: nope, command: x}\n`,
      'c.json': '{\n  "apiVersion": "vendetta.dev/v1alpha1",\n  "kind": "Node",\n  "metadata": {"name": "n1"},\n  "spec": {"address": "x", "port": 0}\n}\n',
    });
    expect(await errors()).toEqual([
      'a.yaml:3:18: metadata.name "a;b" is not a valid name: use lowercase letters, digits and "-" (max 63)',
      'a.yaml:4:27: unknown field "imagee" in Workspace spec (did you mean "image"?)',
      'a.yaml:9:19: Service "api" spec.workspace: no Workspace named "nope"',
      'b.yaml:4:46: Service "web" spec.restart must be one of always, on-failure, never, got "sometimes"',
      'c.json:5:36: Node "n1" spec.port must be at least 1, got the number 0',
    ]);
  });

  test('a Workspace with a schema error still counts as declared (no follow-on reference errors)', async () => {
    write({
      'x.yaml': `${API}\nkind: Workspace\nmetadata: {name: ws}\nspec: {provider: docker}\n---\n${API}\nkind: Service\nmetadata: {name: web}\nspec: {workspace: ws, command: x}\n`,
    });
    expect(await errors()).toEqual(['x.yaml:4:1: Workspace "ws" spec needs "image" (an image reference) or "build" (a Dockerfile to build on the node) for provider docker']);
  });

  test('missing paths, empty directories, non-manifest documents', async () => {
    mkdirSync(join(dir, 'empty'));
    write({ 'list.yaml': '- a\n- b\n' });
    expect(await errors(['nope.yaml', 'empty', 'list.yaml'])).toEqual([
      'nope.yaml: no such file or directory',
      'empty: no manifests found in this directory (looked for *.yaml, *.yml, *.json)',
      'list.yaml:1:1: expected a manifest (a map with apiVersion, kind, metadata and spec), got a list',
    ]);
  });
});

describe('loading', () => {
  test('directories recursively in sorted order, multi-document YAML and JSON', async () => {
    write({
      'm/b.yaml': `${API}\nkind: Service\nmetadata: {name: web}\nspec: {workspace: api, command: npm start}\n---\n---\n${API}\nkind: Service\nmetadata: {name: worker}\nspec: {workspace: api, command: node worker.js}\n`,
      'm/a/ws.yml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec: {provider: process}\n`,
      'm/c.json': JSON.stringify({ apiVersion: 'vendetta.dev/v1alpha1', kind: 'Node', metadata: { name: 'box' }, spec: { address: '127.0.0.2' } }, null, 2),
      'm/notes.txt': 'not a manifest',
      'm/.git/config.yaml': 'not: [valid',
      'm/node_modules/x/package.yaml': 'also: ignored',
    });
    const { resources, set } = await load(['m']);
    expect(resources.map((r) => `${r.kind}/${r.metadata.name}`)).toEqual(['Workspace/api', 'Service/web', 'Service/worker', 'Node/box']);
    expect(resources.map((r) => r.source)).toEqual([
      { file: join(dir, 'm/a/ws.yml'), line: 1, col: 1 },
      { file: join(dir, 'm/b.yaml'), line: 1, col: 1 },
      { file: join(dir, 'm/b.yaml'), line: 7, col: 1 },
      { file: join(dir, 'm/c.json'), line: 1, col: 1 },
    ]);
    expect([...set.desired.nodes.keys()]).toEqual(['local', 'box']);
    expect(set.desired.nodes.get('local')!.spec).toEqual({ address: 'local' });
  });

  test('defaults', async () => {
    write({
      'd.yaml': `${API}
kind: Node
metadata: {name: n1}
spec: {address: 127.0.0.2}
---
${API}
kind: Workspace
metadata: {name: api}
spec: {provider: docker, image: node:22}
---
${API}
kind: Service
metadata: {name: web}
spec:
  workspace: api
  command: npm start
  healthcheck: {http: {port: 3000}, retries: 5}
`,
    });
    const { set } = await load();
    expect(set.desired.nodes.get('n1')!.spec).toEqual({ address: '127.0.0.2' });
    expect(set.desired.workspaces.get('api')!.spec).toEqual({
      provider: 'docker',
      image: 'node:22',
      node: 'local',
      state: 'running',
      pull: 'missing',
    });
    expect(set.desired.services.get('web')!.spec).toEqual({
      workspace: 'api',
      command: 'npm start',
      restart: 'on-failure',
      healthcheck: { http: { port: 3000 }, interval: '2s', timeout: '1s', retries: 5, startPeriod: '0s' },
    });
  });

  test('dependsOn list shorthand becomes the map form; services may depend across workspaces', async () => {
    write({
      'x.yaml': `${API}
kind: Workspace
metadata: {name: front}
spec: {provider: process}
---
${API}
kind: Workspace
metadata: {name: back}
spec: {provider: process}
---
${API}
kind: Service
metadata: {name: db}
spec: {workspace: back, command: postgres}
---
${API}
kind: Service
metadata: {name: api}
spec: {workspace: back, command: x, dependsOn: {db: {condition: healthy}, cache: {}}}
---
${API}
kind: Service
metadata: {name: cache}
spec: {workspace: back, command: redis-server}
---
${API}
kind: Service
metadata: {name: web}
spec: {workspace: front, command: x, dependsOn: [api, cache]}
`,
    });
    const { set } = await load();
    expect(set.desired.services.get('web')!.spec.dependsOn).toEqual({ api: { condition: 'started' }, cache: { condition: 'started' } });
    expect(set.desired.services.get('api')!.spec.dependsOn).toEqual({ db: { condition: 'healthy' }, cache: { condition: 'started' } });
  });

  test('env resolution: literals, fromEnv and fromFile; an entry for every workspace and service', async () => {
    write({
      'conf/app.yaml': `${API}
kind: Workspace
metadata: {name: api}
spec:
  provider: process
  env: {NODE_ENV: development, TOKEN: {fromEnv: MY_TOKEN}}
---
${API}
kind: Service
metadata: {name: web}
spec:
  workspace: api
  command: x
  env: {KEY: {fromFile: ../secrets/key.txt}, EMPTY: ""}
---
${API}
kind: Service
metadata: {name: bare}
spec: {workspace: api, command: x}
`,
      'secrets/key.txt': 'line one\nline two\n',
    });
    const { set } = await load(['conf'], { MY_TOKEN: 's3cret' });
    expect(Object.fromEntries(set.env)).toEqual({
      'workspace/api': { NODE_ENV: { value: 'development', secret: false }, TOKEN: { value: 's3cret', secret: true } },
      'service/web': { KEY: { value: 'line one\nline two', secret: true }, EMPTY: { value: '', secret: false } },
      'service/bare': {},
    });
    // The resource keeps the reference, never the secret.
    expect(set.desired.workspaces.get('api')!.spec.env!.TOKEN).toEqual({ fromEnv: 'MY_TOKEN' });
  });

  test('source.path is stored as an absolute path, resolved against the manifest directory', async () => {
    write({
      'proj/manifests/ws.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec: {provider: process, source: {path: ../app}}\n`,
      'proj/app/index.js': '',
    });
    const { set } = await load(['proj/manifests/ws.yaml']);
    expect(set.desired.workspaces.get('api')!.spec.source).toEqual({ path: join(dir, 'proj/app') });
  });

  test('dotfiles.path and a git token fromFile become absolute; missing ones and unset fromEnv are errors at their line', async () => {
    write({
      'm/ws.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  provider: docker\n  image: busybox\n  source: {git: {url: "https://x.invalid/r.git", token: {fromFile: ../tok}}}\n  dotfiles: {path: ../dots}\n`,
      'tok': 'secret\n',
      'dots/install.sh': '',
    });
    const { set } = await load(['m/ws.yaml']);
    const spec = set.desired.workspaces.get('api')!.spec;
    expect(spec.dotfiles).toEqual({ path: join(dir, 'dots') });
    expect(spec.source?.git?.token).toEqual({ fromFile: join(dir, 'tok') });

    write({
      'bad/ws.yaml': `${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  provider: process\n  source: {git: {url: "https://x.invalid/r.git", token: {fromEnv: NO_SUCH_TOKEN}}}\n  dotfiles: {path: ./nope}\n`,
    });
    expect(await errors(['bad/ws.yaml'])).toEqual([
      `bad/ws.yaml:6:67: Workspace "api" spec.source.git.token.fromEnv: environment variable NO_SUCH_TOKEN is not set; export it before running vendetta`,
      `bad/ws.yaml:7:20: Workspace "api" spec.dotfiles.path: directory "./nope" does not exist (resolved to ${join(dir, 'bad/nope')}); create it or fix the path`,
    ]);
  });

  test('a declared Node "local" replaces the implicit one; the same file twice is read once', async () => {
    write({ 'n.yaml': `${API}\nkind: Node\nmetadata: {name: local}\nspec: {address: 127.0.0.1, port: 2222, user: dev}\n` });
    const { set, resources } = await load(['n.yaml', '.', join(dir, 'n.yaml')]);
    expect(resources).toHaveLength(1);
    expect([...set.desired.nodes.values()].map((n) => n.spec)).toEqual([{ address: '127.0.0.1', port: 2222, user: 'dev' }]);
  });
});

describe('formatManifestError', () => {
  test('shows files inside cwd relative, others absolute; 0:0 means the whole file', () => {
    expect(formatManifestErrorFrom('/work', { file: '/work/m/a.yaml', line: 3, col: 9, message: 'oops' })).toBe('m/a.yaml:3:9: oops');
    expect(formatManifestErrorFrom('/work', { file: '/elsewhere/a.yaml', line: 1, col: 1, message: 'oops' })).toBe('/elsewhere/a.yaml:1:1: oops');
    expect(formatManifestErrorFrom('/work', { file: '/work/a.yaml', line: 0, col: 0, message: 'unreadable' })).toBe('a.yaml: unreadable');
    // Without a cwd: relative to the process's working directory; safe to pass to Array.map.
    const errors = [{ file: join(process.cwd(), 'x.yaml'), line: 2, col: 1, message: 'm' }];
    expect(errors.map(formatManifestError)).toEqual(['x.yaml:2:1: m']);
  });
});
