// Chaos 6: hostile and huge manifests. A YAML alias bomb, a huge document and a 10 MB unknown key
// are refused with an error that names the file, in bounded memory and with bounded output; a
// large valid set (300 process workspaces on the local node) validates and diffs in bounded
// memory. Peak RSS comes from GNU time (loose bounds, never wall-clock).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli, tempHome } from '../e2e/support/cli.js';
import { peakRssKiB } from './helpers/world.js';

/** Loose bound: node itself takes ~60 MB; a parser that expands a bomb takes gigabytes. */
const RSS_LIMIT_KIB = 400 * 1024;
/** An error that echoes a 10 MB key back is not a "clear error". */
const OUTPUT_LIMIT = 64 * 1024;

interface Measured {
  code: number | null;
  out: string;
  rssKiB: number;
}

/**
 * Runs the CLI under /usr/bin/time -v. The V8 heap is capped (above RSS_LIMIT) so that a run that
 * would exhaust memory fails fast instead of starving the shared machine.
 */
function measured(args: string[], home: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', process.execPath, '--max-old-space-size=1024', CLI, ...args], {
      env: { ...process.env, VENDETTA_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A bounded implementation answers in seconds; this only keeps a runaway from eating the suite.
    // The CLI is time's child: kill it (by PID) so that time still reports and exits.
    const timer = setTimeout(() => {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of kids) process.kill(Number(pid), 'SIGKILL');
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // GNU time appends its report to stderr: split it off the CLI's own output.
      const at = stderr.lastIndexOf('\tCommand being timed:');
      const report = at >= 0 ? stderr.slice(at) : '';
      // …and its own one-line verdict just before the report.
      const cliErr = (at >= 0 ? stderr.slice(0, at) : stderr).replace(/^Command (exited with non-zero status|terminated by signal) \d+\n/m, '');
      const exit = /Exit status: (\d+)/.exec(report);
      const killed = /Command terminated by signal (\d+)/.exec(stderr);
      resolve({
        code: killed ? 128 + Number(killed[1]) : exit ? Number(exit[1]) : code,
        out: stdout + cliErr,
        rssKiB: peakRssKiB(report) ?? Number.NaN,
      });
    });
  });
}

const HEADER = 'apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\n';

/** Billion laughs: 9 levels of 9 aliases = 387 million strings once expanded. */
function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
  return `${HEADER}metadata: {name: chaos-bomb}\nspec:\n  node: local\n  provider: process\n  env: {BOMB: "x"}\nx-bomb:\n  ${lines.join('\n  ')}\n`;
}

/** One document of ~24 MB: a workspace whose env has half a million entries. */
function hugeDocument(): string {
  const env = Array.from({ length: 500_000 }, (_, i) => `    K${i}: "${'v'.repeat(32)}"`).join('\n');
  return `${HEADER}metadata: {name: chaos-huge}\nspec:\n  node: local\n  provider: process\n  env:\n${env}\n`;
}

/** A valid workspace with one unknown key whose name is 10 MB long. */
function hugeUnknownKey(): string {
  return `${HEADER}metadata: {name: chaos-key}\nspec:\n  node: local\n  provider: process\n  ${'k'.repeat(10 * 1024 * 1024)}: 1\n`;
}

function manyWorkspaces(n: number): string {
  return Array.from({ length: n }, (_, i) => {
    const name = `chaos-many-${String(i).padStart(3, '0')}`;
    return `${HEADER}metadata: {name: ${name}}\nspec: {node: local, provider: process, env: {INDEX: "${i}"}}\n---\napiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: ${name}-svc}\nspec: {workspace: ${name}, command: exec sleep 100000, ports: [${20000 + i}]}\n`;
  }).join('---\n');
}

describe('chaos: YAML bombs and a very large valid set', () => {
  let dir: string;
  let home: { home: string; cleanup: () => void };
  beforeAll(() => {
    requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'vendetta-chaos-bombs-'));
    home = tempHome('vendetta-chaos-bombs-home-');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    home?.cleanup();
  });

  const hostile: Array<[string, () => string]> = [
    ['an alias bomb (billion laughs)', aliasBomb],
    ['a huge document (~24 MB)', hugeDocument],
    ['a 10 MB unknown key', hugeUnknownKey],
  ];
  for (const [what, make] of hostile) {
    it(`${what}: validate and apply refuse it naming the file, in bounded memory and output`, async () => {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, make());
      for (const cmd of [['validate', '-f', file], ['apply', '-f', file]]) {
        const r = await measured(cmd, home.home);
        const shown = r.out.length > 2000 ? `${r.out.slice(0, 2000)}… (${r.out.length} chars)` : r.out;
        expect(r.code, `${cmd[0]}: ${shown}`).toBe(1);
        expect(r.out, `${cmd[0]} names the file`).toContain(file);
        expect(r.out.length, `${cmd[0]} output size`).toBeLessThan(OUTPUT_LIMIT);
        expect(r.rssKiB, `${cmd[0]} peak RSS (KiB)`).toBeLessThan(RSS_LIMIT_KIB);
      }
      // Refused means nothing happened: no process workspace was made on the local node.
      expect(existsSync(join(home.home, 'workspaces'))).toBe(false);
    });
  }

  it('300 process workspaces with a service each: validate passes, diff plans 300 creates, memory bounded', async () => {
    const file = join(dir, 'many.yaml');
    writeFileSync(file, manyWorkspaces(300));
    const v = await measured(['validate', '-f', file], home.home);
    expect(v.code, v.out).toBe(0);
    expect(v.rssKiB, 'validate peak RSS (KiB)').toBeLessThan(RSS_LIMIT_KIB);
    const d = await measured(['diff', '-f', file], home.home);
    expect(d.code, d.out.slice(0, 4000)).toBe(1);
    expect(d.out.match(/^\s*\+ workspace\/chaos-many-\d{3}\b/gm)?.length).toBe(300);
    expect(d.out.match(/^\s*\+ service\/chaos-many-\d{3}-svc\b/gm)?.length).toBe(300);
    expect(d.rssKiB, 'diff peak RSS (KiB)').toBeLessThan(RSS_LIMIT_KIB);
    expect(existsSync(join(home.home, 'workspaces'))).toBe(false);
  });
});
