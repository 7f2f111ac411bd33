// The local transport's spawn reports a missing program on stderr, like a shell (and SSH) does.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LocalTransport } from '../../../src/transport/local.js';

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

describe('LocalTransport.spawn', () => {
  const t = new LocalTransport('local');

  it('a missing program: exit 127 and "command not found" on stderr', async () => {
    const p = await t.spawn(['vendetta-no-such-command-xyz']);
    const [err, code] = await Promise.all([text(p.stderr), p.wait()]);
    expect(code).toBe(127);
    expect(err).toBe('vendetta-no-such-command-xyz: command not found\n');
  });

  it('a missing working directory is named as such', async () => {
    const p = await t.spawn(['true'], { cwd: '/nonexistent/vendetta-dir' });
    const [err, code] = await Promise.all([text(p.stderr), p.wait()]);
    expect(code).toBe(127);
    expect(err).toContain('cd: /nonexistent/vendetta-dir: No such file or directory');
  });

  it('passes the program\'s own stderr, env and cwd through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vendetta-spawn-'));
    try {
      const p = await t.spawn(['sh', '-c', 'echo "$V $(pwd)"; echo oops >&2; exit 3'], { cwd: dir, env: { V: 'x1' } });
      p.stdin.end();
      const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.wait()]);
      expect(out).toBe(`x1 ${dir}\n`);
      expect(err).toBe('oops\n');
      expect(code).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
