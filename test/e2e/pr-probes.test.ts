// Health checks run on the node, in the workspace, by the service supervisor: against a real
// dockerd on node n1 (the suite's busybox image: no curl, no bash) and the process provider on
// node n2, over SSH. Nothing here probes the services: the verdicts are read back as
// ObservedService.health (through the service manager and the driver's observe) and from the
// health file itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type HealthcheckSpec, type ObservedHealth, type ServiceSpec, type WorkspaceResource } from '../../src/model/types.js';
import { createDockerDriver } from '../../src/providers/docker/driver.js';
import { createProcessDriver } from '../../src/providers/process/driver.js';
import type { DesiredWorkspace, DriverContext, ProviderDriver, WorkspaceRuntime } from '../../src/providers/types.js';
import { createServiceManager } from '../../src/services/manager.js';
import type { DesiredService, ServiceManager } from '../../src/services/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { infraNode, loadInfra, makeKnownHosts, nodeResource, type TempDir } from './helpers/infra.js';
import { eventually } from './support/cli.js';

const infra = loadInfra();
const OWNER = { id: 'fedcba9876543210', name: 'e2e@pr-probes:/tmp/home' };

function workspace(name: string, node: string, spec: Partial<WorkspaceResource['spec']>): DesiredWorkspace {
  return {
    resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node, provider: 'docker', ...spec } },
    specHash: `hash-of-${name}`,
    env: {},
    owner: OWNER,
  };
}

function service(name: string, workdir: string, spec: Partial<ServiceSpec>, env: Record<string, string> = {}): DesiredService {
  return {
    resource: { apiVersion: API_VERSION, kind: 'Service', metadata: { name }, spec: { workspace: 'w', command: 'true', restart: 'always', ...spec } },
    specHash: `hash-of-${name}`,
    env,
    workdir,
  };
}

/** Each distinct verdict, as ObservedService.health, until `done` accepts one. */
async function watchHealth(manager: ServiceManager, name: string, done: (h: ObservedHealth) => boolean, timeoutMs = 60_000): Promise<ObservedHealth[]> {
  const seen: ObservedHealth[] = [];
  await eventually(
    async () => {
      const h = (await manager.observe()).find((s) => s.name === name)?.health;
      if (h && JSON.stringify(seen.at(-1)) !== JSON.stringify(h)) seen.push(h);
      return h !== undefined && done(h);
    },
    timeoutMs,
    `${name} health`,
  );
  return seen;
}

interface Target {
  title: string;
  node: string;
  driver: ProviderDriver;
  ws: string;
  spec: Partial<WorkspaceResource['spec']>;
  /** A base port free on the node for this suite (process workspaces share the node's network). */
  port: number;
}

const targets: Target[] = [
  { title: 'docker workspace (busybox image) on node n1', node: 'n1', driver: createDockerDriver(), ws: 'pr-probe-dock', spec: { image: infra.image, pull: 'never' }, port: 8080 },
  { title: 'process workspace on node n2', node: 'n2', driver: createProcessDriver(), ws: 'pr-probe-proc', spec: { provider: 'process' }, port: 0 },
];

for (const target of targets) {
  describe(`health checks run by the supervisor: ${target.title}`, () => {
    let knownHosts: (TempDir & { path: string }) | undefined;
    let transport: SshTransport;
    let ctx: DriverContext;
    let rt: WorkspaceRuntime;
    let manager: ServiceManager;
    let base = target.port;
    const cgi = (dir: string) =>
      `mkdir -p ${dir}/cgi-bin && printf '#!/bin/sh\\nprintf "Status: 500 Boom\\\\r\\\\n\\\\r\\\\n"\\n' > ${dir}/cgi-bin/fail && chmod +x ${dir}/cgi-bin/fail && echo ok > ${dir}/index.html`;

    beforeAll(async () => {
      const n = infraNode(infra, target.node);
      knownHosts = await makeKnownHosts(infra, [target.node]);
      const node = nodeResource(infra, target.node, { hostKey: n.hostKeyPub, providers: { docker: { socket: n.dockerSocket } } });
      transport = new SshTransport(node, { knownHostsPath: knownHosts.path, strictHostKeys: true });
      ctx = { node, transport, applySet: 'pr-probes-e2e' };
      await target.driver.delete(ctx, target.ws).catch(() => undefined);
      await target.driver.create(ctx, workspace(target.ws, target.node, target.spec));
      rt = await target.driver.runtime(ctx, target.ws);
      manager = createServiceManager(rt);
      if (!base) {
        // The node's own network: ports nobody listens on there, found from the node itself.
        const r = await rt.exec(['/bin/sh', '-c', 'p=$(( 20000 + $$ % 20000 )); echo $p']);
        base = Number(r.stdout.trim());
      }
    });

    afterAll(async () => {
      if (ctx) await target.driver.delete(ctx, target.ws).catch(() => undefined);
      await transport?.close();
      await knownHosts?.cleanup();
    });

    it('tcp and http checks become healthy on their own, and the health file holds the verdict', async () => {
      const www = `${rt.workspaceDir}/www`;
      await rt.exec(['/bin/sh', '-c', cgi(www)]);
      const web = `exec httpd -f -p 127.0.0.1:${base} -h ${www}`;
      const http: HealthcheckSpec = { http: { port: base, path: '/' }, interval: '300ms' };
      await manager.start(service('pr-web', rt.workspaceDir, { command: target.node === 'n1' ? web : `exec busybox ${web.slice(5)}`, healthcheck: http }));
      await manager.start(service('pr-tcp', rt.workspaceDir, { command: 'exec sleep 3000', healthcheck: { tcp: { port: base }, interval: '300ms' } }));
      const [h, t] = await Promise.all([
        watchHealth(manager, 'pr-web', (x) => x.status === 'healthy'),
        watchHealth(manager, 'pr-tcp', (x) => x.status === 'healthy'),
      ]);
      expect(h.at(-1)).toMatchObject({ failures: 0, message: `http://127.0.0.1:${base}/ → 200` });
      expect(t.at(-1)).toMatchObject({ failures: 0, message: `tcp 127.0.0.1:${base}: connected` });
      // The same verdict in the driver's observation of the workspace, and in the file.
      const observed = (await target.driver.observe(ctx)).find((w) => w.name === target.ws);
      expect(observed?.services.find((s) => s.name === 'pr-web')?.health?.status).toBe('healthy');
      const file = await rt.exec(['/bin/sh', '-c', `cat ${rt.stateDir}/services/pr-web/health`]);
      expect(file.stdout).toMatch(new RegExp(`^healthy\\t0\\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\thttp://127\\.0\\.0\\.1:${base}/ → 200\\n$`));
    });

    it('an http 500 becomes unhealthy after `retries` counted failures', async () => {
      const port = base + 1;
      const www = `${rt.workspaceDir}/www`;
      const cmd = `exec ${target.node === 'n1' ? '' : 'busybox '}httpd -f -p 127.0.0.1:${port} -h ${www}`;
      await manager.start(service('pr-500', rt.workspaceDir, { command: cmd, healthcheck: { http: { port, path: '/cgi-bin/fail' }, interval: '300ms', retries: 3 } }));
      const seen = await watchHealth(manager, 'pr-500', (x) => x.status === 'unhealthy');
      expect(seen.filter((x) => x.status === 'healthy')).toEqual([]);
      expect(seen.filter((x) => x.status !== 'unhealthy').every((x) => x.failures < 3)).toBe(true);
      expect(seen.at(-1)!.failures).toBeGreaterThanOrEqual(3);
      expect(seen.at(-1)!.message).toBe(`http://127.0.0.1:${port}/cgi-bin/fail → 500`);
    });

    it('failures within startPeriod do not count', async () => {
      const [slowPort, closed] = [base + 2, base + 3];
      const bb = target.node === 'n1' ? '' : 'busybox ';
      // Start periods far longer than this test: within them, whatever the machine's load.
      const timing = { interval: '300ms', retries: 1 };
      const slow = `sleep 3; exec ${bb}httpd -f -p 127.0.0.1:${slowPort} -h ${rt.workspaceDir}/www`;
      await manager.start(service('pr-graced', rt.workspaceDir, { command: slow, healthcheck: { tcp: { port: slowPort }, ...timing, startPeriod: '5m' } }));
      await manager.start(service('pr-grace-down', rt.workspaceDir, { command: 'exec sleep 3000', healthcheck: { tcp: { port: closed }, ...timing, startPeriod: '5m' } }));
      await manager.start(service('pr-plain-down', rt.workspaceDir, { command: 'exec sleep 3000', healthcheck: { tcp: { port: closed }, ...timing } }));
      const [g, plain] = await Promise.all([
        watchHealth(manager, 'pr-graced', (x) => x.status === 'healthy'),
        watchHealth(manager, 'pr-plain-down', (x) => x.status === 'unhealthy'),
      ]);
      expect(g.filter((x) => x.status === 'unhealthy' || x.failures > 0)).toEqual([]);
      expect(g.at(-1)).toMatchObject({ status: 'healthy', failures: 0 });
      expect(plain.at(-1)!.message).toBe(`tcp 127.0.0.1:${closed}: connection refused`);
      expect(plain.filter((x) => x.status === 'unhealthy').every((x) => x.failures >= 1)).toBe(true);
      // The same failing check, inside its start period: checked, failed, not counted.
      const down = (await manager.observe()).find((x) => x.name === 'pr-grace-down')?.health;
      expect(down).toMatchObject({ status: 'starting', failures: 0, message: `tcp 127.0.0.1:${closed}: connection refused` });
    });

    it('an exec check runs in the workspace with the service env', async () => {
      await manager.start(
        service('pr-exec', rt.workspaceDir, { command: 'exec sleep 3000', healthcheck: { exec: { command: 'test -f "$MARK"' }, interval: '300ms', retries: 1 } }, { MARK: 'pr-ready' }),
      );
      const before = await watchHealth(manager, 'pr-exec', (x) => x.status === 'unhealthy');
      expect(before.at(-1)!.message).toBe('exec "test -f "$MARK"" → exit 1');
      await rt.exec(['/bin/sh', '-c', `touch ${rt.workspaceDir}/pr-ready`]);
      const after = await watchHealth(manager, 'pr-exec', (x) => x.status === 'healthy');
      expect(after.at(-1)).toMatchObject({ failures: 0, message: 'exec "test -f "$MARK"" → exit 0' });
    });

    if (target.node === 'n1') {
      it('the busybox image has no curl and no bash: the checks above used busybox wget and nc', async () => {
        const r = await rt.exec(['/bin/sh', '-c', 'for t in curl bash wget nc; do command -v $t >/dev/null && echo "$t yes" || echo "$t no"; done']);
        expect(r.stdout).toBe('curl no\nbash no\nwget yes\nnc yes\n');
      });
    }
  });
}
