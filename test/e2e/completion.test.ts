// `vendetta completion bash|zsh|fish` through the built CLI, loaded into the real shells.
// Resource names come live from `vendetta get KIND -o name`, so `vendetta` must be on PATH:
// a temp bin dir links to the built CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, requireBuiltCli, runCli, tempHome } from './support/cli.js';

const execFileP = promisify(execFile);

describe('shell completion', () => {
  const { home, cleanup } = tempHome();
  const bin = mkdtempSync(join(tmpdir(), 'vendetta-compl-bin-'));
  const scripts: Record<string, string> = {};
  const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH}`, VENDETTA_HOME: home, NO_COLOR: '1' });
  const sh = async (shell: string, script: string) => (await execFileP(shell, ['-c', script], { env: env() })).stdout;

  beforeAll(async () => {
    requireBuiltCli();
    chmodSync(CLI, 0o755);
    symlinkSync(CLI, join(bin, 'vendetta'));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await runCli(['completion', shell], { home });
      expect(r.code, r.stderr).toBe(0);
      scripts[shell] = join(bin, `completion.${shell}`);
      writeFileSync(scripts[shell]!, r.stdout);
    }
  });

  afterAll(() => {
    cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('bash: the script registers a completion function', async () => {
    expect(await sh('bash', 'source <(vendetta completion bash); complete -p vendetta')).toBe('complete -o default -F _vendetta vendetta\n');
  });

  /** COMPREPLY for a command line, the way bash calls the function on TAB. */
  const bashComplete = async (...words: string[]) =>
    (await sh('bash', `source ${scripts.bash}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vendetta; printf '%s\\n' "\${COMPREPLY[@]}"`))
      .split('\n').filter(Boolean);

  it('bash: commands, subcommands, flags and their values', async () => {
    expect(await bashComplete('vendetta', 'ge')).toEqual(['get']);
    expect(await bashComplete('vendetta', 'node', 'st')).toEqual(['status']);
    expect(await bashComplete('vendetta', 'workspace', '')).toEqual(['up', 'down', 'connect']);
    expect(await bashComplete('vendetta', 'get', '')).toEqual(['nodes', 'workspaces', 'services']);
    expect(await bashComplete('vendetta', 'get', '--sel')).toEqual(['--selector']);
    expect(await bashComplete('vendetta', 'get', '-o', 'j')).toEqual(['json', 'jsonpath=']);
    expect(await bashComplete('vendetta', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
    // After a flag's value, back to arguments.
    expect(await bashComplete('vendetta', 'get', '-o', 'json', 'w')).toEqual(['workspaces']);
  });

  it('bash: resource names come from the CLI (the built-in local node)', async () => {
    expect(await bashComplete('vendetta', 'get', 'nodes', '')).toEqual(['local']);
    expect(await bashComplete('vendetta', 'describe', 'node', 'l')).toEqual(['local']);
    expect(await bashComplete('vendetta', 'node', 'status', '')).toEqual(['local']);
    expect(await bashComplete('vendetta', 'exec', '')).toEqual([]);
  });

  it('zsh: the script parses, registers with compdef and completes with the same core', async () => {
    await execFileP('zsh', ['-n', scripts.zsh!]);
    expect(await sh('zsh', `autoload -Uz compinit && compinit -u -D; source ${scripts.zsh}; print $_comps[vendetta]`)).toBe('_vendetta\n');
    const cands = async (cword: number, ...words: string[]) =>
      (await sh('zsh', `source ${scripts.zsh} 2>/dev/null; _vendetta_candidates ${cword} ${words.map((w) => `'${w}'`).join(' ')}`)).split('\n').filter(Boolean);
    expect(await cands(1, 'vendetta', 'ge')).toContain('get');
    expect(await cands(2, 'vendetta', 'node', '')).toEqual(['add', 'list', 'status', 'test', 'disconnect', 'remove']);
    expect(await cands(3, 'vendetta', 'get', 'nodes', '')).toEqual(['local']);
  });

  it('fish: the script parses and completes', async () => {
    await execFileP('fish', ['-n', scripts.fish!]);
    const complete = async (line: string) =>
      (await sh('fish', `source ${scripts.fish}; complete -C'${line}'`)).split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    expect(await complete('vendetta ge')).toEqual(['get']);
    expect(await complete('vendetta node st')).toEqual(['status']);
    expect(await complete('vendetta get -o j')).toEqual(['json', 'jsonpath=']);
    expect(await complete('vendetta get nodes ')).toEqual(['local']);
  });

  it('an unknown shell is a usage error', async () => {
    const r = await runCli(['completion', 'tcsh'], { home });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish");
  });
});
