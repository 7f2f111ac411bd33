// Bad input through the built CLI: a clear file:line error, a non-zero exit, nothing changed.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuiltCli, runCli, tempHome } from './support/cli.js';

const WS = (name: string, extra = '') => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec: {node: local, provider: process${extra}}
`;
const SVC = (name: string, spec: string) => `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${JSON.stringify(name)}}
spec: {workspace: ws, command: "sleep 60"${spec}}
`;

const cases: { name: string; yaml: string; expect: RegExp }[] = [
  { name: 'malformed YAML', yaml: 'kind: Workspace\nmetadata: {name: ws\n', expect: /bad\.yaml:\d+:\d+: / },
  { name: 'unknown field', yaml: WS('ws', ', imagee: x'), expect: /bad\.yaml:4:\d+: .*unknown field "imagee"/ },
  { name: 'unknown kind', yaml: WS('ws').replace('kind: Workspace', 'kind: Deployment'), expect: /bad\.yaml:2:\d+: .*Deployment/ },
  { name: 'unknown apiVersion', yaml: WS('ws').replace('v1alpha1', 'v9'), expect: /bad\.yaml:1:\d+: .*apiVersion/ },
  { name: 'duplicate names', yaml: WS('ws') + '---\n' + WS('ws'), expect: /bad\.yaml:8:\d+: .*already declared at .*bad\.yaml:3/ },
  { name: 'dangling reference', yaml: WS('ws') + '---\n' + SVC('web', ', dependsOn: {db: {condition: healthy}}'), expect: /bad\.yaml:\d+:\d+: .*"db"/ },
  {
    name: 'dependency cycle',
    yaml: WS('ws') + '---\n' + SVC('a', ', dependsOn: [b]') + '---\n' + SVC('b', ', dependsOn: [a]'),
    expect: /bad\.yaml:\d+:\d+: .*cycle.*(a → b → a|b → a → b)/,
  },
  { name: 'shell metacharacters in a name', yaml: WS('ws') + '---\n' + SVC('web;rm -rf /', ''), expect: /bad\.yaml:8:\d+: .*not a valid name/ },
  { name: 'bad port', yaml: WS('ws') + '---\n' + SVC('web', ', ports: [99999]'), expect: /bad\.yaml:\d+:\d+: .*port/i },
  {
    name: 'bad duration',
    yaml: WS('ws') + '---\n' + SVC('web', ', healthcheck: {tcp: {port: 80}, interval: soon}'),
    expect: /bad\.yaml:\d+:\d+: .*interval/,
  },
];

describe('bad input changes nothing', () => {
  const { home, cleanup } = tempHome();
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-bad-'));
  afterAll(() => {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`${c.name}: validate and apply fail with file:line, nothing applied`, async () => {
      requireBuiltCli();
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, c.yaml);
      const validate = await runCli(['validate', '-f', file], { home });
      expect(validate.code).toBe(1);
      expect(validate.stderr).toMatch(c.expect);
      const apply = await runCli(['apply', '-f', file], { home });
      expect(apply.code).toBe(1);
      expect(apply.stderr).toMatch(c.expect);
      expect(apply.stderr).toMatch(/nothing was changed/);
      const diff = await runCli(['diff', '-f', file], { home });
      expect(diff.code).toBe(2);
      expect(existsSync(join(home, 'workspaces'))).toBe(false);
      expect(existsSync(join(home, 'resources'))).toBe(false);
    });
  }
});

describe('flags that cannot go together', () => {
  const { home, cleanup } = tempHome();
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-bad-flags-'));
  afterAll(() => {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply --adopt --watch is refused before anything runs: it would fight the other owner forever', async () => {
    requireBuiltCli();
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, WS('ws'));
    const r = await runCli(['apply', '--adopt', '--watch', '-f', file], { home, timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--adopt cannot be combined with --watch; take the workspaces over once with apply --adopt, then watch');
    expect(existsSync(join(home, 'resources'))).toBe(false);
    expect(existsSync(join(home, 'identity.json'))).toBe(false);
  });

  it('diff never creates the store identity (read-only)', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, WS('ws'));
    const r = await runCli(['diff', '-f', file], { home, timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(existsSync(join(home, 'identity.json'))).toBe(false);
  });
});
