import { createServer as createTcpServer, type Server } from 'node:net';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalTransport } from '../../src/transport/local.js';
import { TransportError } from '../../src/transport/types.js';
import { isAlive, tempDir, until } from './helpers.js';

const t = new LocalTransport();
let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('transport');
});
afterEach(async () => {
  await dir.cleanup();
});

function listen(server: Server, options: { port?: number; host?: string; path?: string }): Promise<void> {
  return new Promise((resolve) => server.listen(options, resolve));
}

describe('LocalTransport.exec', () => {
  it('runs argv without a shell and returns code, stdout and stderr', async () => {
    const res = await t.exec(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(res).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    // No shell in between: metacharacters in argv are plain bytes.
    expect((await t.exec(['echo', '$HOME;', '`id`'])).stdout).toBe('$HOME; `id`\n');
  });

  it('feeds stdin, merges env and honours cwd', async () => {
    expect((await t.exec(['cat'], { stdin: 'hello\n' })).stdout).toBe('hello\n');
    const res = await t.exec(['/bin/sh', '-c', 'printf "%s|%s|%s" "$FOO" "$(pwd)" "${PATH:+has-path}"'], {
      env: { FOO: 'bar baz' },
      cwd: dir.path,
    });
    expect(res.stdout).toBe(`bar baz|${dir.path}|has-path`);
  });

  it('reports a missing program as exit 127 like a shell would', async () => {
    const res = await t.exec(['/nonexistent/program']);
    expect(res.code).toBe(127);
    expect(res.stderr).toMatch(/command not found/);
  });

  it('reports death by signal as 128+N', async () => {
    expect((await t.exec(['/bin/sh', '-c', 'kill -9 $$'])).code).toBe(137);
  });

  it('kills the command and rejects with a TransportError on timeout', async () => {
    const pidFile = join(dir.path, 'pid');
    // The shell forks sleep: the timeout must take the grandchild down too.
    const run = t.exec(['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], { timeoutMs: 300 });
    await expect(run).rejects.toBeInstanceOf(TransportError);
    await expect(run).rejects.toThrow(/timed out after 300ms/);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await until('sleep killed', () => !isAlive(pid), 2000);
  });

  it('rejects when aborted', async () => {
    const ac = new AbortController();
    const run = t.exec(['sleep', '30'], { signal: ac.signal });
    ac.abort();
    await expect(run).rejects.toThrow(/aborted/);
  });
});

describe('LocalTransport.spawn', () => {
  it('streams stdin/stdout and resolves wait() with the exit code', async () => {
    const p = await t.spawn(['/bin/sh', '-c', 'read line; echo "got $line"; exit 4']);
    const chunks: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => chunks.push(b));
    p.stdin.end('hi\n');
    expect(await p.wait()).toBe(4);
    expect(Buffer.concat(chunks).toString()).toBe('got hi\n');
  });

  it('with pty: a terminal of that size and TERM, which echoes what is typed (as over SSH)', async () => {
    const p = await t.spawn(['/bin/sh', '-c', '[ -t 0 ] && echo tty; stty size; read line; echo "got $line $TERM"; exit 4'], { pty: { rows: 24, cols: 80, term: 'vt100' } });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => chunks.push(b));
    p.stdin.end('hi\n');
    expect(await p.wait()).toBe(4);
    const out = Buffer.concat(chunks).toString().replace(/\r\n/g, '\n');
    expect(out).toContain('tty\n24 80\n');
    expect(out).toContain('hi\n'); // the terminal's echo
    expect(out).toContain('got hi vt100\n');
  });

  it('kill() ends the process', async () => {
    const p = await t.spawn(['sleep', '30']);
    p.kill();
    expect(await p.wait()).toBe(128 + 15);
  });
});

describe('LocalTransport files', () => {
  it('writeFile creates parents, sets the mode and replaces atomically', async () => {
    const target = join(dir.path, 'a', 'b', 'file');
    await t.writeFile(target, 'one', 0o600);
    expect(await readFile(target, 'utf8')).toBe('one');
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    await t.writeFile(target, Buffer.from('two'));
    expect((await t.readFile(target)).toString()).toBe('two');
  });

  it('readFile of a missing file is a TransportError naming the path', async () => {
    await expect(t.readFile(join(dir.path, 'missing'))).rejects.toThrow(/read .*missing failed/);
  });

  it('upload copies a tree and replaces what was there', async () => {
    const src = join(dir.path, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'x.txt'), 'x');
    const dest = join(dir.path, 'dest');
    await mkdir(dest);
    await writeFile(join(dest, 'stale'), 'old');
    await t.upload(src, dest);
    expect(await readFile(join(dest, 'sub', 'x.txt'), 'utf8')).toBe('x');
    await expect(stat(join(dest, 'stale'))).rejects.toThrow();
  });
});

describe('LocalTransport connections', () => {
  it('connectTcp reaches a listening port and fails clearly on a closed one', async () => {
    const server = createTcpServer((s) => s.end('pong'));
    await listen(server, { port: 0, host: '127.0.0.1' });
    const port = (server.address() as { port: number }).port;
    try {
      const sock = await t.connectTcp('127.0.0.1', port);
      const data = await new Promise<string>((resolve) => {
        let acc = '';
        sock.on('data', (b) => (acc += b));
        sock.on('end', () => resolve(acc));
      });
      expect(data).toBe('pong');
    } finally {
      await new Promise((r) => server.close(r));
    }
    await expect(t.connectTcp('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('connectUnix reaches a unix socket', async () => {
    const path = join(dir.path, 'sock');
    const server = createTcpServer((s) => s.end('unix'));
    await listen(server, { path });
    try {
      const sock = await t.connectUnix(path);
      const data = await new Promise<string>((resolve) => {
        let acc = '';
        sock.on('data', (b) => (acc += b));
        sock.on('end', () => resolve(acc));
      });
      expect(data).toBe('unix');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('home() is the user home', async () => {
    expect(await t.home()).toBe((await import('node:os')).homedir());
  });
});
