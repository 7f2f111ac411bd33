// A Compose file applied to a remote node (n2) through the built CLI, as a user runs it:
// `vendetta convert` and `apply -f docker-compose.yml`. Services reach each other by name on the
// project's network, a sidecar shares another's network namespace, depends_on service_healthy
// orders the start, a service without command runs its image's CMD, a service with build: is built
// on the node, and a named volume keeps its data across an apply that changes the image.
// Infra: test/infra/up.sh. Everything made here is prefixed cmp-.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { infraNode, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, nodeYaml } from './helpers/remote.js';
import { eventually, httpGet, requireBuiltCli, runCli } from './support/cli.js';

const execFileP = promisify(execFile);
const NODE = 'n2';
const PROJECT = 'cmp-e2e';
const PORT = 18691; // api's port, published on n2's address
const WEB_IMAGE = 'cmp-e2e/web:1'; // built on the node by this test (docker build), removed after
const DB_V2 = 'cmp-e2e/busybox:v2'; // a second tag of the infra image: the "changed image"
const NETWORK = `vendetta-net.${NODE}.${PROJECT}`;

function composeYaml(infra: Infra, dbImage: string): string {
  const addr = infraNode(infra, NODE).address;
  return `name: ${PROJECT}
services:
  db:
    image: ${dbImage}
    pull_policy: never
    # a fake database: httpd serving a file kept in the named volume (seeded only once)
    command: ["sh", "-c", "mkdir -p /data/www && { [ -f /data/www/index.html ] || echo fresh > /data/www/index.html; } && exec httpd -f -p 80 -h /data/www"]
    volumes: [dbdata:/data]
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:80/"]
      interval: 500ms
      timeout: 2s
      retries: 20
  api:
    # no command: the image's CMD runs (it fetches http://db/ once at start, then serves /www)
    image: ${WEB_IMAGE}
    pull_policy: never
    ports: ["${addr}:${PORT}:8080"]
    depends_on:
      db: {condition: service_healthy}
    restart: always
  sidecar:
    image: ${infra.image}
    pull_policy: never
    command: ["sh", "-c", "while :; do wget -qO- http://localhost:8080/ > /tmp/api.txt.new 2>/dev/null && mv /tmp/api.txt.new /tmp/api.txt; sleep 0.5; done"]
    network_mode: service:api
    depends_on: [api]
    stop_grace_period: 3s
  built:
    # built on the node by vendetta (spec.build); no command: the built image's CMD runs
    build: {context: ./built}
volumes:
  dbdata: {}
`;
}

describe('Compose file on a remote node (built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'cmp-e2e-'));
  const compose = join(dir, 'docker-compose.yml');
  const nodes = join(dir, 'nodes.yaml');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  const files = ['-f', nodes, '-f', compose, '--node', NODE];

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    writeFileSync(nodes, nodeYaml(infra, NODE));
    writeFileSync(compose, composeYaml(infra, infra.image));
    // The api image, built on the node's dockerd from the infra image (no registry).
    const ctx = join(dir, 'web');
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM ${infra.image}\nRUN mkdir -p /www && echo api > /www/index.html\nCMD ["sh", "-c", "wget -qO- http://db/ > /www/db.txt; exec httpd -f -p 8080 -h /www"]\n`,
    );
    await execFileP('docker', ['-H', `unix://${infraNode(infra, NODE).dockerSocket}`, 'build', '-q', '-t', WEB_IMAGE, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    await dockerOn(infra, NODE, ['tag', infra.image, DB_V2]);
    mkdirSync(join(dir, 'built'));
    writeFileSync(join(dir, 'built', 'Dockerfile'), `FROM ${infra.image}\nRUN mkdir -p /www && echo built-by-vendetta > /www/index.html\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n`);
  }, 120_000);

  afterAll(async () => {
    if (home) {
      await cli('delete', ...files, '--volumes');
      await home.cleanup();
    }
    if (infra) {
      for (const image of [WEB_IMAGE, DB_V2]) await dockerOn(infra, NODE, ['rmi', image]).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('convert prints the manifests, and names the unsupported key in one warning', async () => {
    const r = await cli('convert', '-f', compose, '--node', NODE);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# Converted from .*docker-compose\.yml/);
    expect(r.stdout).toContain('name: cmp-e2e-db');
    expect(r.stdout).toContain('mode: service:cmp-e2e-api');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/warning: .*unsupported keys, ignored: services\.sidecar\.stop_grace_period \(line \d+\)/);
  });

  it('apply converges: services reach each other by name, the sidecar shares api\'s network, api started after db was healthy', async () => {
    const r = await cli('apply', ...files, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.converged).toBe(true);
    for (const s of ['db', 'api', 'sidecar', 'built']) {
      expect(result.statuses[`service/${PROJECT}-${s}`].phase, s).toBe('Ready');
    }
    // api's image CMD ran (no command in the Compose file) and, at its start, db answered by name.
    const dbSeen = await cli('exec', `${PROJECT}-api`, '--', 'cat', '/www/db.txt');
    expect(dbSeen.code, dbSeen.stderr).toBe(0);
    expect(dbSeen.stdout.trim()).toBe('fresh');
    const byName = await cli('exec', `${PROJECT}-api`, '--', 'wget', '-qO-', 'http://db/');
    expect(byName.stdout.trim()).toBe('fresh');
    // The sidecar reaches api on localhost: one network namespace.
    const side = await eventually(async () => {
      const out = await cli('exec', `${PROJECT}-sidecar`, '--', 'cat', '/tmp/api.txt');
      return out.code === 0 && out.stdout.trim() === 'api' ? out.stdout : undefined;
    }, 30_000, 'sidecar reaching api on localhost');
    expect(side.trim()).toBe('api');
    // The published port answers on the node.
    const page = await httpGet(`http://${infraNode(infra, NODE).address}:${PORT}/`);
    expect(page.body.trim()).toBe('api');
    // One network for the project, ours by label.
    const labels = JSON.parse(await dockerOn(infra, NODE, ['network', 'inspect', NETWORK, '--format', '{{json .Labels}}']));
    expect(labels).toMatchObject({ 'vendetta.dev/managed': 'true', 'vendetta.dev/kind': 'Network', 'vendetta.dev/network': PROJECT, 'vendetta.dev/node': NODE });
    // The service with build: its image was built on the node, and its CMD runs (no command).
    const built = await cli('exec', `${PROJECT}-built`, '--', 'wget', '-qO-', 'http://127.0.0.1/');
    expect(built.stdout.trim()).toBe('built-by-vendetta');
    // …and it is on the project network too.
    const fromApi = await cli('exec', `${PROJECT}-api`, '--', 'wget', '-qO-', 'http://built/');
    expect(fromApi.stdout.trim()).toBe('built-by-vendetta');
  });

  it('a second apply changes nothing', async () => {
    const diff = await cli('diff', ...files);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);
  });

  it('the named volume keeps its data across an apply that changes db\'s image; db is found by name again', async () => {
    const write = await cli('exec', `${PROJECT}-db`, '--', 'sh', '-c', 'echo kept-across-recreate > /data/www/index.html');
    expect(write.code, write.stderr).toBe(0);
    writeFileSync(compose, composeYaml(infra, DB_V2));
    const r = await cli('apply', ...files, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.plan.operations.map((o: { id: string }) => o.id)).toContain(`recreate-workspace:${PROJECT}-db`);
    const image = await dockerOn(infra, NODE, ['inspect', `vendetta-${PROJECT}-db`, '--format', '{{.Config.Image}}']);
    expect(image.trim()).toBe(DB_V2);
    const byName = await eventually(async () => {
      const out = await cli('exec', `${PROJECT}-api`, '--', 'wget', '-qO-', 'http://db/');
      return out.code === 0 ? out.stdout.trim() : undefined;
    }, 30_000, 'api reaching the recreated db by name');
    expect(byName).toBe('kept-across-recreate');
  });

  it('recreating api recreates the sidecar that shares its network, which then reaches the new api', async () => {
    // An env change recreates api's container (a docker workspace's env is its container's).
    writeFileSync(compose, composeYaml(infra, DB_V2).replace('    restart: always\n', '    restart: always\n    environment: {CMP_GEN: "2"}\n'));
    const r = await cli('apply', ...files, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const ids = JSON.parse(r.stdout).plan.operations.map((o: { id: string }) => o.id);
    expect(ids).toContain(`recreate-workspace:${PROJECT}-api`);
    expect(ids).toContain(`recreate-workspace:${PROJECT}-sidecar`);
    await cli('exec', `${PROJECT}-sidecar`, '--', 'rm', '-f', '/tmp/api.txt');
    const side = await eventually(async () => {
      const out = await cli('exec', `${PROJECT}-sidecar`, '--', 'cat', '/tmp/api.txt');
      return out.code === 0 && out.stdout.trim() === 'api' ? out.stdout : undefined;
    }, 30_000, 'sidecar reaching the new api on localhost');
    expect(side.trim()).toBe('api');
  });

  it('delete -f docker-compose.yml removes the workspaces and the project network; --volumes the volume', async () => {
    const r = await cli('delete', ...files, '--volumes');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const containers = await dockerOn(infra, NODE, ['ps', '-a', '--filter', `label=vendetta.dev/network=${PROJECT}`, '--format', '{{.Names}}']);
    expect(containers.trim()).toBe('');
    const networks = await dockerOn(infra, NODE, ['network', 'ls', '--filter', `name=${NETWORK}`, '--format', '{{.Name}}']);
    expect(networks.trim()).toBe('');
    const volumes = await dockerOn(infra, NODE, ['volume', 'ls', '--filter', `name=vendetta-${PROJECT}-db.dbdata`, '--format', '{{.Name}}']);
    expect(volumes.trim()).toBe('');
  });
});
