// The docker workspace agent's two scripts, run for real on this machine: the agent (the
// container's main process, here with its state dir pointed at a temp dir) and the node-side
// request. Docker itself is not needed for the protocol; the e2e suites run it in containers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentExec, agentRequestArgv, MAKE_AGENT_FILES, NO_AGENT_EXIT } from '../../src/providers/docker/agent.js';
import { AGENT_SCRIPT, STATE_DIR } from '../../src/providers/docker/spec.js';
import { LocalTransport } from '../../src/transport/local.js';
import { until } from './helpers.js';

const t = new LocalTransport();

describe('docker workspace agent', () => {
  let dir: string;
  let agent: ChildProcess | undefined;

  const startAgent = () => {
    agent = spawn('/bin/sh', ['-c', AGENT_SCRIPT.replace(`d=${STATE_DIR}`, `d='${dir}'`)], { stdio: 'ignore' });
  };
  const request = (argv: string[]) => t.exec(agentRequestArgv(dir, argv)!);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vendetta-agent-'));
    expect((await t.exec(['/bin/sh', '-c', MAKE_AGENT_FILES, 'sh', dir])).code).toBe(0);
  });
  afterEach(() => {
    agent?.kill('SIGTERM');
    agent = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a request inside and relays its stdout, stderr and exit code, arguments literal', async () => {
    startAgent();
    const nasty = `a'b "c" $HOME \`id\` ; echo pwned\nline2`;
    const argv = ['/bin/sh', '-c', 'printf "%s|" "$@"; echo to-stderr >&2; exit 3', 'sh', nasty, ''];
    const res = await until('the agent answers', async () => {
      const r = await request(argv);
      return r.code === NO_AGENT_EXIT ? undefined : r;
    });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe(`${nasty}||\n`);
    expect(res.stderr).toBe('to-stderr\n');
    // The request ran in a process of the agent's, not the requester's: its files are cleaned up.
    expect(readdirSync(join(dir, '.req'))).toEqual([]);
  });

  it('a node command before the request runs first in the same exec, with its stdin; its failure stops there', async () => {
    startAgent();
    await until('the agent answers', async () => ((await request(['/bin/sh', '-c', 'true', 'sh'])).code === 0 ? true : undefined));
    const exec = agentExec(t, dir, async () => ({ code: 99, stdout: 'docker exec', stderr: '' }));
    const mark = join(dir, 'installed');
    const before = ['/bin/sh', '-c', 'read -r v; printf "%s" "$v" > "$1"', 'sh', mark];
    const ok = await exec(['/bin/sh', '-c', 'cat "$1"', 'sh', mark], { stdin: 'from-stdin\n' }, before);
    expect(ok).toMatchObject({ code: 0, stdout: 'from-stdin\n' });
    const failed = await exec(['/bin/sh', '-c', 'echo should-not-run', 'sh'], undefined, ['/bin/sh', '-c', 'echo install failed >&2; exit 4']);
    expect(failed).toMatchObject({ code: 4, stdout: '' });
    expect(failed.stderr).toContain('install failed');
  });

  it('serves requests side by side, and a request name it cannot trust does not stop it', async () => {
    startAgent();
    await until('the agent answers', async () => ((await request(['/bin/sh', '-c', 'true', 'sh'])).code === 0 ? true : undefined));
    await t.exec(['/bin/sh', '-c', 'printf "%s\\n" "../../etc/x" "" 1<>"$1/.agent"', 'sh', dir]);
    const all = await Promise.all(
      Array.from({ length: 8 }, (_, i) => request(['/bin/sh', '-c', 'sleep 0.2; echo "$1"', 'sh', String(i)])),
    );
    expect(all.map((r) => r.stdout.trim())).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
  });

  it('without an agent the request does nothing and says so with its own exit code; agentExec then uses the docker exec', async () => {
    const res = await request(['/bin/sh', '-c', 'touch "$1"', 'sh', join(dir, 'ran')]);
    expect(res.code).toBe(NO_AGENT_EXIT);
    expect(readdirSync(dir).sort()).toEqual(['.agent', '.agent.alive']);
    const fallbacks: string[][] = [];
    const exec = agentExec(t, dir, async (argv) => {
      fallbacks.push(argv);
      return { code: 0, stdout: 'docker exec', stderr: '' };
    });
    expect((await exec(['/bin/sh', '-c', 'echo agent', 'sh'])).stdout).toBe('docker exec');
    // Anything that needs the caller's side (stdin, env) never goes to the agent at all.
    startAgent();
    await until('the agent answers', async () => ((await request(['/bin/sh', '-c', 'true', 'sh'])).code === 0 ? true : undefined));
    expect((await exec(['/bin/sh', '-c', 'echo agent', 'sh'])).stdout).toBe('agent\n');
    expect((await exec(['/bin/sh', '-c', 'cat', 'sh'], { stdin: 'x' })).stdout).toBe('docker exec');
    expect((await exec(['ls', '/'])).stdout).toBe('docker exec');
    expect(fallbacks).toHaveLength(3);
  });

  it('TERM ends the agent at once', async () => {
    startAgent();
    await until('the agent answers', async () => ((await request(['/bin/sh', '-c', 'true', 'sh'])).code === 0 ? true : undefined));
    const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));
    agent!.kill('SIGTERM');
    expect(await exited).toBe(0);
    agent = undefined;
    // ...and its FIFO has no reader left: the next request falls back.
    expect((await request(['/bin/sh', '-c', 'true', 'sh'])).code).toBe(NO_AGENT_EXIT);
  });
});
