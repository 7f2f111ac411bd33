// The developer's inner loop on the local node (process provider), through the built CLI and a
// real terminal (tmux): data that survives an env rotation, the plan's data-loss warning and
// apply's question on a terminal, and `vendetta shell` with a real PTY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO, freePort, requireBuiltCli, runCli, tempHome } from './support/cli.js';
import { TmuxTerminal } from './support/tmux.js';

async function todos(port: number): Promise<Array<{ title: string }>> {
  const res = await fetch(`http://127.0.0.1:${port}/todos`, { signal: AbortSignal.timeout(3000) });
  return (await res.json()) as Array<{ title: string }>;
}

async function addTodo(port: number, title: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/todos`, { method: 'POST', body: JSON.stringify({ title }), signal: AbortSignal.timeout(3000) });
  expect(res.status).toBe(201);
}

describe('examples/todo-process across an env rotation and a replacement', () => {
  const { home, cleanup } = tempHome('vendetta-inner-');
  const work = mkdtempSync(join(tmpdir(), 'vendetta-todo-'));
  const dir = join(work, 'todo');
  const manifest = join(dir, 'todo.yaml');
  let apiPort = 0;
  const cli = (token: string, ...args: string[]) => runCli(args, { home, env: { TODO_TOKEN: token } });
  const terminals: TmuxTerminal[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    apiPort = await freePort();
    const webPort = await freePort();
    cpSync(join(REPO, 'examples/todo-process'), dir, { recursive: true });
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replaceAll('18091', String(apiPort)).replaceAll('18090', String(webPort)));
  });

  afterAll(async () => {
    for (const t of terminals) t.close();
    await cli('x', 'delete', '--volumes', '-f', dir);
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps its todos when the token rotates: the workspace is updated in place, its services restart', async () => {
    const first = await cli('s3cret', 'apply', '-f', dir);
    expect(first.stdout + first.stderr).toContain('converged');
    expect(first.code).toBe(0);
    await addTodo(apiPort, 'survive the rotation');

    const diff = await cli('rotated', 'diff', '-f', dir);
    expect(diff.stdout).toMatch(/~ workspace\/todo +update +on local \(process\): env changed/);
    expect(diff.stdout).not.toContain('warning:');

    const rotated = await cli('rotated', 'apply', '-f', dir);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/~ service\/todo-api +restart +in workspace todo: workspace env changed/);
    expect((await todos(apiPort)).map((t) => t.title)).toContain('survive the rotation');
  });

  it('warns before a replacement; on a terminal apply asks, and "n" changes nothing', async () => {
    // A file outside the data volume: what a replacement loses.
    const scratch = await cli('rotated', 'exec', 'todo', '--', 'sh', '-c', 'echo draft > scratch.txt');
    expect(scratch.code, scratch.stderr).toBe(0);
    // A changed source path replaces a process workspace (its directory is made from it).
    cpSync(join(dir, 'app'), join(dir, 'app2'), { recursive: true });
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('source: {path: ./app}', 'source: {path: ./app2}'));

    const diff = await cli('rotated', 'diff', '-f', dir);
    expect(diff.stdout).toMatch(/-\/\+ workspace\/todo +recreate/);
    expect(diff.stdout).toMatch(/\n +warning: replaced, files outside volumes are lost\n/);
    expect(diff.stdout).toContain('Data loss: 1 workspace replaced or removed (todo).');

    const term = new TmuxTerminal(`${process.execPath} ${CLI} apply -f ${dir}`, { cwd: work, env: { VENDETTA_HOME: home, TODO_TOKEN: 'rotated', NO_COLOR: '1' } });
    terminals.push(term);
    await term.waitFor(/Replace or remove 1 workspace \(todo\), losing files outside volumes\? \[y\/N\] $/m);
    expect(term.screen()).toContain('warning: replaced, files outside volumes are lost');
    term.type('n');
    await term.waitFor(/nothing was changed[\s\S]*EXITED:1/);
    expect((await todos(apiPort)).map((t) => t.title)).toContain('survive the rotation');

    expect((await cli('rotated', 'exec', 'todo', '--', 'cat', 'scratch.txt')).stdout).toBe('draft\n');

    // Not on a terminal (a pipeline): the manifests are the intent. The plan still says it.
    const piped = await cli('rotated', 'apply', '-f', dir);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('warning: replaced, files outside volumes are lost');
    // The todos are in the data volume; the scratch file was not.
    expect((await todos(apiPort)).map((t) => t.title)).toContain('survive the rotation');
    expect((await cli('rotated', 'exec', 'todo', '--', 'cat', 'scratch.txt')).code).not.toBe(0);
  });

  it('--yes on a terminal does not ask', async () => {
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('source: {path: ./app2}', 'source: {path: ./app}'));
    const term = new TmuxTerminal(`${process.execPath} ${CLI} apply --yes -f ${dir}`, { cwd: work, env: { VENDETTA_HOME: home, TODO_TOKEN: 'rotated', NO_COLOR: '1' } });
    terminals.push(term);
    await term.waitFor(/EXITED:0/, 120_000);
    expect(term.screen()).toContain('warning: replaced');
    expect(term.screen()).not.toContain('[y/N]');
  });
});

describe('vendetta shell on the local node, in a real terminal', () => {
  const { home, cleanup } = tempHome('vendetta-shell-');
  const work = mkdtempSync(join(tmpdir(), 'vendetta-shell-'));
  let term: TmuxTerminal | undefined;

  beforeAll(async () => {
    requireBuiltCli();
    writeFileSync(
      join(work, 'ws.yaml'),
      ['apiVersion: vendetta.dev/v1alpha1', 'kind: Workspace', 'metadata: {name: shell-local}', 'spec:', '  node: local', '  provider: process', '  env: {GREETING: from-the-workspace}', ''].join('\n'),
    );
    const r = await runCli(['apply', '-f', work], { home });
    expect(r.code).toBe(0);
  });

  afterAll(async () => {
    term?.close();
    await runCli(['delete', '-f', work], { home });
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('gets a prompt, echoes and runs what is typed, with the workspace env and directory; Ctrl-C and resize reach it', async () => {
    term = new TmuxTerminal(`${process.execPath} ${CLI} shell shell-local`, { cwd: work, env: { VENDETTA_HOME: home, NO_COLOR: '1' }, cols: 100, rows: 30 });
    await term.waitFor(/[$#] $/m);
    term.type('echo hi');
    await term.waitFor(/^hi$/m);
    term.type('echo "$GREETING in $PWD"');
    const m = await term.waitFor(/^from-the-workspace in (\S+)$/m);
    expect(m[1]).toBe(join(home, 'workspaces', 'shell-local', 'workspace'));
    term.type('stty size');
    await term.waitFor(/^30 100$/m);
    term.resize(90, 25);
    term.type('stty size');
    await term.waitFor(/^25 90$/m);
    term.type('sleep 300');
    term.key('C-c');
    term.type('echo after-interrupt');
    await term.waitFor(/^after-interrupt$/m);
    term.type('exit 3');
    await term.waitFor(/EXITED:3/);
  });
});
