// get/describe output formats, label selectors and exec through the built CLI, on process
// workspaces of the built-in local node (no infra needed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuiltCli, runCli, tempHome } from './support/cli.js';

const MANIFEST = `
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata:
  name: clo-api
  labels: {app: web, tier: back}
spec:
  node: local
  provider: process
  env:
    GREETING: hello-from-ws
    TOKEN: {fromEnv: CLO_SECRET}
    FROMFILE: {fromFile: ./token.txt}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata:
  name: clo-front
  labels: {app: web, tier: front}
spec:
  node: local
  provider: process
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata:
  name: clo-db
spec:
  node: local
  provider: process
`;

describe('get/describe/exec on the local node', () => {
  const { home, cleanup } = tempHome();
  const work = mkdtempSync(join(tmpdir(), 'vendetta-clo-'));
  const file = join(work, 'ws.yaml');
  const env = { CLO_SECRET: 's3cret' };
  const cli = (...args: string[]) => runCli(args, { home, env, cwd: work });

  beforeAll(async () => {
    requireBuiltCli();
    writeFileSync(file, MANIFEST);
    writeFileSync(join(work, 'token.txt'), 'from-file\n');
    const r = await cli('apply', '-f', file);
    expect(r.stderr + r.stdout).toContain('converged');
  });

  afterAll(async () => {
    await cli('delete', '-f', file);
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('get nodes, get and describe node include the built-in local node', async () => {
    const nodes = await cli('get', 'nodes');
    expect(nodes.code).toBe(0);
    expect(nodes.stdout).toMatch(/^local\s+local\s+Ready/m);
    const all = await cli('get');
    expect(all.stdout).toMatch(/^NODE/m);
    expect(all.stdout).toMatch(/^local\s+local\s+Ready/m);
    expect(all.stdout).toMatch(/^clo-api\s+local\s+process/m);
    const described = await cli('describe', 'node', 'local');
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^Name:\s+local$/m);
    expect(described.stdout).toMatch(/^Phase:\s+Ready$/m);
    const phase = await cli('get', 'node', 'local', '-o', 'jsonpath={.status.phase}');
    expect(phase.stdout).toBe('Ready');
  });

  it('-o name and -o jsonpath', async () => {
    const names = await cli('get', 'workspaces', '-o', 'name');
    expect(names.code).toBe(0);
    expect(names.stdout).toBe('workspace/clo-api\nworkspace/clo-db\nworkspace/clo-front\n');
    const jp = await cli('get', 'ws', '-o', 'jsonpath={.items[*].metadata.name}');
    expect(jp.stdout).toBe('clo-api clo-db clo-front');
    const range = await cli('get', 'ws', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}');
    expect(range.stdout).toBe('clo-api\tReady\nclo-db\tReady\nclo-front\tReady\n');
    const one = await cli('get', 'ws', 'clo-api', '-o', 'jsonpath={.metadata.name}');
    expect(one.stdout).toBe('clo-api');
    // Existing formats still work.
    expect(JSON.parse((await cli('get', 'ws', '-o', 'json')).stdout).items).toHaveLength(3);
    expect((await cli('get', 'ws', '-o', 'wide')).stdout).toMatch(/^WORKSPACE\s+NODE\s+PROVIDER\s+STATUS\s+AGE\s+IMAGE/m);
  });

  it('-l selects by label', async () => {
    const web = await cli('get', 'ws', '-l', 'app=web', '-o', 'name');
    expect(web.stdout).toBe('workspace/clo-api\nworkspace/clo-front\n');
    const notFront = await cli('get', 'ws', '-l', 'app=web,tier!=front', '-o', 'name');
    expect(notFront.stdout).toBe('workspace/clo-api\n');
    const unlabelled = await cli('get', 'ws', '-l', '!app', '-o', 'name');
    expect(unlabelled.stdout).toBe('workspace/clo-db\n');
    const none = await cli('get', 'ws', '-l', 'app=nothing');
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('No resources found.\n');
  });

  it('bad selectors and templates are usage errors that say what is wrong', async () => {
    const sel = await cli('get', 'ws', '-l', 'app=web=x');
    expect(sel.code).toBe(2);
    expect(sel.stdout).toBe('');
    expect(sel.stderr).toContain('invalid label selector "app=web=x"');
    const tpl = await cli('get', 'ws', '-o', 'jsonpath={.items[*]');
    expect(tpl.code).toBe(2);
    expect(tpl.stderr).toContain('unclosed "{"');
    const fmt = await cli('get', 'ws', '-o', 'xml');
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('unknown output format "xml"');
    const del = await cli('delete', 'ws', '-l', 'bad key');
    expect(del.code).toBe(2);
    expect(del.stderr).toContain('bad label key');
    expect((await cli('get', 'ws', '-o', 'name')).stdout.split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('exec runs in the workspace directory with the workspace env', async () => {
    const r = await cli('exec', 'clo-api', '--', 'sh', '-c', 'echo "$GREETING|$TOKEN|$FROMFILE"; pwd');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [vars, pwd] = r.stdout.trim().split('\n');
    expect(vars).toBe('hello-from-ws|s3cret|from-file');
    expect(pwd).toBe(join(home, 'workspaces', 'clo-api', 'workspace'));
  });

  it('exec of a missing command prints the error and exits 127', async () => {
    const r = await cli('exec', 'clo-api', '--', 'clo-nosuchcmd');
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('clo-nosuchcmd: command not found');
    const viaShell = await cli('exec', 'clo-api', '--', 'sh', '-c', 'clo-nosuchcmd');
    expect(viaShell.code).toBe(127);
    expect(viaShell.stderr).toMatch(/clo-nosuchcmd: .*not found/);
  });

  it('delete KIND -l deletes only what matches', async () => {
    const r = await cli('delete', 'ws', '-l', 'tier=front');
    expect(r.code).toBe(0);
    expect((await cli('get', 'ws', '-o', 'name')).stdout).toBe('workspace/clo-api\nworkspace/clo-db\n');
    const nothing = await cli('delete', 'ws', '-l', 'tier=front');
    expect(nothing.code).toBe(0);
    expect(nothing.stderr).toContain('nothing to delete');
  });
});
