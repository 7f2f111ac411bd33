import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTHCHECK, parseHealthLine, PROBER_SHELL, probeSpec, renderProbeFile } from '../../../src/services/probe-script.js';

describe('probeSpec', () => {
  it('applies the defaults of the engine (interval 2s, timeout 1s, retries 3, no start period)', () => {
    expect(DEFAULT_HEALTHCHECK).toEqual({ interval: '2s', timeout: '1s', retries: 3, startPeriod: '0s' });
    expect(probeSpec({ tcp: { port: 5432 } })).toEqual({ kind: 'tcp', port: 5432, intervalMs: 2000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 });
  });

  it('takes the timing as written and normalizes the http path', () => {
    expect(probeSpec({ http: { port: 80, path: 'health' }, interval: '500ms', timeout: '1.5s', retries: 1, startPeriod: '1m' })).toEqual({
      kind: 'http',
      port: 80,
      path: '/health',
      intervalMs: 500,
      timeoutMs: 1500,
      retries: 1,
      startPeriodMs: 60_000,
    });
    expect(probeSpec({ http: { port: 80 } })?.path).toBe('/');
    expect(probeSpec({ exec: { command: 'pg_isready' } })).toMatchObject({ kind: 'exec', command: 'pg_isready' });
  });

  it('is undefined without a check', () => {
    expect(probeSpec(undefined)).toBeUndefined();
    expect(probeSpec({ interval: '1s' })).toBeUndefined();
  });
});

describe('renderProbeFile', () => {
  it('writes a header of numbers, then the path or the command verbatim', () => {
    expect(renderProbeFile(probeSpec({ tcp: { port: 8080 } }))).toBe('tcp 2000 1000 3 0 8080\n');
    expect(renderProbeFile(probeSpec({ http: { port: 80, path: '/a?b=1' }, startPeriod: '5s' }))).toBe('http 2000 1000 3 5000 80\n/a?b=1');
    expect(renderProbeFile(probeSpec({ exec: { command: "test -f x &&\n  echo 'ok\tdone'" } }))).toBe("exec 2000 1000 3 0 0\ntest -f x &&\n  echo 'ok\tdone'");
    expect(renderProbeFile(undefined)).toBe('');
  });

  it('refuses a port out of range and a path with white space', () => {
    expect(() => renderProbeFile({ kind: 'tcp', port: 0, intervalMs: 1, timeoutMs: 1, retries: 1, startPeriodMs: 0 })).toThrow(/port 0 is not a port number: use 1-65535/);
    expect(() => renderProbeFile(probeSpec({ http: { port: 80, path: '/a b' } }))).toThrow(/white space: percent-encode it/);
  });
});

describe('parseHealthLine', () => {
  it('reads the four fields; a message may hold tabs (kept as spaces)', () => {
    expect(parseHealthLine('starting\t0\t2026-11-30T07:10:11Z\twaiting for the first check')).toEqual({
      status: 'starting',
      failures: 0,
      checkedAt: '2026-11-30T07:10:11Z',
      message: 'waiting for the first check',
    });
    expect(parseHealthLine('unknown\t0\t2026-11-30T07:10:11Z\t')).toMatchObject({ status: 'unknown', message: '' });
    expect(parseHealthLine('unhealthy\t12\t2026-11-30T07:10:11Z\ta\tb\n')).toMatchObject({ failures: 12, message: 'a b' });
  });

  it('is strict: no verdict from an unknown status, a bad count or time, or missing fields', () => {
    for (const bad of [
      '',
      'healthy',
      'healthy\t0\t2026-11-30T07:10:11Z',
      'ok\t0\t2026-11-30T07:10:11Z\tm',
      'healthy\t-1\t2026-11-30T07:10:11Z\tm',
      'healthy\tx\t2026-11-30T07:10:11Z\tm',
      'healthy\t0\tyesterday\tm',
      'Healthy\t0\t2026-11-30T07:10:11Z\tm',
    ]) {
      expect(parseHealthLine(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe('PROBER_SHELL', () => {
  it('holds no template leftovers and passes no timeout flag to wget (busybox 1.35 crashes on -T)', () => {
    expect(PROBER_SHELL).not.toContain('\\${');
    expect(PROBER_SHELL).not.toMatch(/wget[^\n]* -T/);
  });
});
