import { describe, expect, it } from 'vitest';
import { NODE_AGENT_SCRIPT } from '../../../src/services/node-agent.js';
import {
  installServiceArgv,
  parseServiceStatus,
  removeServiceArgv,
  renderEnvFile,
  serviceLogsArgv,
  serviceStatusArgv,
  startServiceArgv,
  stopAllServicesArgv,
  stopServiceArgv,
  SUPERVISOR_SCRIPT,
} from '../../../src/services/supervisor.js';
import { shellQuote } from '../../../src/transport/quote.js';

describe('argv builders', () => {
  it('pass paths and names as positional arguments, never inside the script', () => {
    const start = startServiceArgv('/w/state', 'web');
    expect(start.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    // No node agent: its prefix and source are empty.
    expect(start.slice(3)).toEqual(['sh', '/w/state/services/web', 'web', '/w/state', 'clean', 'lock', '', '']);
    expect(start[2]).not.toContain('/w/state');
    const viaAgent = startServiceArgv('/w/state', 'web', 'clean', 250, 'pid', '/r/.agent/agent-x');
    expect(viaAgent.slice(3)).toEqual(['sh', '/w/state/services/web', 'web', '/w/state', 'clean', 'pid', '/r/.agent/agent-x', NODE_AGENT_SCRIPT, '0.250', '250']);

    expect(stopServiceArgv('/w/state', 'web').slice(3)).toEqual(['sh', '/w/state/services/web']);
    expect(removeServiceArgv('/w/state', 'web').slice(3)).toEqual(['sh', '/w/state/services/web']);
    expect(stopAllServicesArgv('/w/state').slice(3)).toEqual(['sh', '/w/state']);
    expect(serviceStatusArgv('/w/state').slice(3)).toEqual(['sh', '/w/state', 'pid']);
  });

  it('install carries the files as arguments and leaves env for stdin', () => {
    const argv = installServiceArgv('/w/state', 'db', { command: 'echo "$X"', workdir: '/workspace', restart: 'on-failure', hash: 'h1' });
    expect(argv.slice(3)).toEqual(['sh', '/w/state', 'db', SUPERVISOR_SCRIPT, 'echo "$X"', '/workspace', 'on-failure', 'h1', '', '', '']);
    expect(argv[2]).toMatch(/umask 077; [^\n]*read -r[^\n]*> "\$e"/);
  });

  it('install carries the probe file as the tenth argument; none removes an old one', () => {
    const files = { command: 'x', workdir: '/w', restart: 'always' as const, hash: 'h' };
    const withProbe = installServiceArgv('/s', 'web', { ...files, probe: 'tcp 2000 1000 3 0 80\n' });
    expect(withProbe[13]).toBe('tcp 2000 1000 3 0 80\n');
    expect(withProbe[2]).toContain('> "$d/.probe.tmp" && mv -f "$d/.probe.tmp" "$d/probe"; } || exit 1\nelif [ -e "$d/probe" ]; then rm -f "$d/probe"');
    expect(installServiceArgv('/s', 'web', files)[13]).toBe('');
  });

  it('a (re)start removes the verdict of an earlier run', () => {
    expect(startServiceArgv('/s', 'web')[2]).toMatch(/rm_present [^\n]*"\$d\/health" "\$d\/prober.id"/);
  });

  it('logs read the rotated files too; follow tails the log by name', () => {
    const read = serviceLogsArgv('/s', 'web', 50, false);
    expect(read.slice(3)).toEqual(['sh', '/s/services/web', '50']);
    expect(shellQuote(serviceLogsArgv('/s', 'web', 10, true))).toBe('tail -n 10 -F /s/services/web/log');
  });

  it('refuse names that are not DNS-1123 labels', () => {
    for (const bad of ['../x', 'a/b', 'Web', '', '-a', 'a b']) {
      expect(() => startServiceArgv('/s', bad)).toThrow(/invalid service name/);
    }
  });
});

describe('renderEnvFile', () => {
  it('writes quoted export lines', () => {
    expect(renderEnvFile({ A: 'plain', B: "it's $x", C: '' })).toBe(`export A=plain\nexport B='it'\\''s $x'\nexport C=''\n`);
  });
  it('refuses keys that are not shell identifiers', () => {
    expect(() => renderEnvFile({ 'A-B': 'x' })).toThrow(/invalid environment variable name "A-B"/);
    expect(() => renderEnvFile({ '1A': 'x' })).toThrow(/invalid environment variable name/);
  });
});

describe('parseServiceStatus', () => {
  const record = (name: string, fields: Record<string, string>) =>
    [`service\t${name}`, ...Object.entries(fields).map(([k, v]) => `${k}\t${v}`)].join('\n') + '\n';

  it('reads running services with their pid', () => {
    const text = record('web', { hash: 'h1', state: 'running', pid: '42', exit: '', restarts: '2', started: '2025-01-01T00:00:00Z', alive: '1' });
    expect(parseServiceStatus(text)).toEqual([
      { name: 'web', specHash: 'h1', state: 'running', pid: 42, restarts: 2, startedAt: '2025-01-01T00:00:00Z' },
    ]);
  });

  it('says exited when the supervisor died while running or backing off', () => {
    const text =
      record('a', { hash: 'h', state: 'running', pid: '42', exit: '', restarts: '0', started: '', alive: '0' }) +
      record('b', { hash: 'h', state: 'backoff', pid: '43', exit: '1', restarts: '3', started: '', alive: '0' });
    expect(parseServiceStatus(text).map((s) => [s.name, s.state, s.pid, s.exitCode])).toEqual([
      ['a', 'exited', undefined, undefined],
      ['b', 'exited', undefined, 1],
    ]);
  });

  it('keeps backoff, exited and stopped as recorded', () => {
    const text =
      record('a', { hash: 'h', state: 'backoff', exit: '137', restarts: '1', alive: '1' }) +
      record('b', { hash: 'h', state: 'exited', exit: '0', restarts: '0', alive: '0' }) +
      record('c', { hash: 'h', state: 'stopped', exit: '143', restarts: '0', alive: '0' });
    expect(parseServiceStatus(text).map((s) => [s.state, s.exitCode])).toEqual([
      ['backoff', 137],
      ['exited', 0],
      ['stopped', 143],
    ]);
  });

  it('a child gone while the files still say running is not running', () => {
    const text = record('a', { hash: 'h', state: 'running', pid: '42', alive: '1', child: 'gone' });
    expect(parseServiceStatus(text).map((s) => [s.state, s.pid])).toEqual([['backoff', undefined]]);
  });

  it('treats a missing state as starting (alive) or never started (dead)', () => {
    const text = record('a', { hash: 'h', state: '', alive: '1' }) + record('b', { hash: 'h', state: '', alive: '0' });
    expect(parseServiceStatus(text).map((s) => s.state)).toEqual(['running', 'stopped']);
  });

  it('keeps the last output lines of a service that is not running, without the supervisor notes', () => {
    const text =
      record('a', { hash: 'h', state: 'backoff', exit: '127', restarts: '1', alive: '1' }) +
      ['log\tfirst', 'log\tsh: 1: nosuchcmd: not found', 'log\tvendetta-supervisor: exited with code 127; restarting in 1 s', 'log\t'].join('\n') +
      '\n' +
      record('b', { hash: 'h', state: 'running', pid: '7', alive: '1' });
    const [a, b] = parseServiceStatus(text);
    expect(a).toMatchObject({ state: 'backoff', exitCode: 127, logTail: ['first', 'sh: 1: nosuchcmd: not found'] });
    expect(b?.logTail).toBeUndefined();
  });

  it("reads the prober's verdict of a live supervisor", () => {
    const text =
      record('a', { hash: 'h', state: 'running', pid: '7', alive: '1', health: 'healthy\t0\t2026-01-02T03:04:05Z\ttcp 127.0.0.1:80: connected' }) +
      record('b', { hash: 'h', state: 'running', pid: '8', alive: '1', health: 'unhealthy\t3\t2026-01-02T03:04:05Z\thttp://127.0.0.1:80/ → 500' }) +
      record('c', { hash: 'h', state: 'running', pid: '9', alive: '1' });
    const [a, b, c] = parseServiceStatus(text);
    expect(a?.health).toEqual({ status: 'healthy', failures: 0, checkedAt: '2026-01-02T03:04:05Z', message: 'tcp 127.0.0.1:80: connected' });
    expect(b?.health).toEqual({ status: 'unhealthy', failures: 3, checkedAt: '2026-01-02T03:04:05Z', message: 'http://127.0.0.1:80/ → 500' });
    expect(c?.health).toBeUndefined();
  });

  it('drops the verdict of a dead supervisor (stale) and a malformed one', () => {
    const text =
      record('a', { hash: 'h', state: 'exited', exit: '1', alive: '0', health: 'healthy\t0\t2026-01-02T03:04:05Z\tok' }) +
      record('b', { hash: 'h', state: 'running', pid: '8', alive: '1', health: 'fine\t0\t2026-01-02T03:04:05Z\tok' });
    expect(parseServiceStatus(text).map((s) => s.health)).toEqual([undefined, undefined]);
  });

  it('returns nothing for empty output and ignores noise', () => {
    expect(parseServiceStatus('')).toEqual([]);
    expect(parseServiceStatus('garbage\nmore\n')).toEqual([]);
  });
});
