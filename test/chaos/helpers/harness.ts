// One chaos "laptop": a throwaway VENDETTA_HOME (own known_hosts and ssh dir), a manifest dir, the
// built CLI run in it, and the invariant every scenario checks after its fault.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { makeTempHome, type Infra, type TempHome } from '../../e2e/helpers/infra.js';
import { CLI, runCli, type CliResult } from '../../e2e/support/cli.js';
import { observeWorld, renderManifests, sweep, worldProblems, type Decl } from './world.js';

export interface Laptop {
  infra: Infra;
  home: TempHome;
  /** Manifest directory (m.yaml). */
  dir: string;
  cli: (...args: string[]) => Promise<CliResult>;
  write: (decl: Decl) => void;
  /** The CLI as a child process the test can signal; output collects stdout + stderr. */
  start: (...args: string[]) => Running;
  /** delete -f the manifests (best effort) and remove the home and manifest dir. */
  dispose: () => Promise<CliResult | undefined>;
  /** Remove the home and manifest dir without deleting anything on the nodes. */
  forget: () => Promise<void>;
}

export interface Running {
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (signal?: NodeJS.Signals) => void;
}

export async function laptop(infra: Infra, prefix = 'vendetta-chaos-'): Promise<Laptop> {
  const home = await makeTempHome(infra);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let written = false;
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  return {
    infra,
    home,
    dir,
    cli,
    write: (decl) => {
      writeFileSync(join(dir, 'm.yaml'), renderManifests(infra, decl));
      written = true;
    },
    start: (...args) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, NO_COLOR: '1', ...home.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('close', (code, signal) => resolve({ code, signal })),
      );
      return { pid: child.pid!, output: () => out, exited, kill: (signal = 'SIGKILL') => child.kill(signal) };
    },
    dispose: async () => {
      const r = written ? await cli('delete', '-f', dir, '--ignore-not-found') : undefined;
      await home.cleanup();
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
    forget: async () => {
      await home.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The invariant after every fault: the next apply converges (exit 0); the nodes hold exactly one
 * object per declared resource and nothing orphaned (see worldProblems); the store loads
 * (`get -o json` works and lists what was applied). Returns the apply's JSON result.
 */
export async function expectConverges(l: Laptop, decl: Decl, applyArgs: string[] = [], context = ''): Promise<{ operationsRun: number }> {
  const r = await l.cli('apply', '-f', l.dir, '-o', 'json', '--timeout', '90s', ...applyArgs);
  expect(r.code, `${context}\napply after the fault:\n${r.stdout}\n${r.stderr}`).toBe(0);
  const result = JSON.parse(r.stdout) as { converged: boolean; operationsRun: number };
  expect(result.converged).toBe(true);
  await expectWorld(l.infra, decl, context);
  await expectStoreLoads(l, decl);
  return result;
}

/** The nodes match decl exactly (no apply). */
export async function expectWorld(infra: Infra, decl: Decl, context = ''): Promise<void> {
  expect(worldProblems(decl, await observeWorld(infra)), `objects on the nodes vs. the manifests ${context}`).toEqual([]);
}

export async function expectStoreLoads(l: Laptop, decl: Decl): Promise<void> {
  const get = await l.cli('get', '-o', 'json');
  expect(get.code, `get -o json: ${get.stderr}`).toBe(0);
  const items = (JSON.parse(get.stdout) as { items: Array<{ kind: string; metadata: { name: string } }> }).items;
  const names = new Set(items.map((i) => `${i.kind}/${i.metadata.name}`));
  for (const ws of decl.workspaces) {
    expect(names.has(`Workspace/${ws.name}`), `store lists workspace ${ws.name}`).toBe(true);
    for (const s of ws.services) expect(names.has(`Service/${s.name}`), `store lists service ${s.name}`).toBe(true);
  }
}

/** Delete through the CLI, then verify nothing chaos-… is left; removes leftovers either way. */
export async function disposeAndVerify(...laptops: Array<Laptop | undefined>): Promise<void> {
  const deletes: string[] = [];
  for (const l of laptops) {
    if (!l) continue;
    const r = await l.dispose();
    if (r && r.code !== 0) deletes.push(`delete -f exited ${r.code}: ${r.stdout}${r.stderr}`);
  }
  const infra = laptops.find(Boolean)?.infra;
  const left = infra ? await sweep(infra) : [];
  expect({ deletes, left }, 'delete removes everything the test created').toEqual({ deletes: [], left: [] });
}
