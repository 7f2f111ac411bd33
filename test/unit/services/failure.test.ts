import { describe, expect, it } from 'vitest';
import { classifyServiceFailure, logTailText } from '../../../src/services/failure.js';
import type { ObservedService } from '../../../src/model/types.js';

const obs = (o: Partial<ObservedService>): ObservedService => ({ name: 'web', specHash: 'h', state: 'backoff', restarts: 0, ...o });

describe('classifyServiceFailure', () => {
  it('exit 127 and 126 are permanent at once', () => {
    expect(classifyServiceFailure(obs({ exitCode: 127 }))).toEqual({ permanent: true, summary: 'command not found (exit 127)' });
    expect(classifyServiceFailure(obs({ state: 'exited', exitCode: 126 }))?.permanent).toBe(true);
  });

  it.each([
    ['Error: listen EADDRINUSE: address already in use :::3000', 'port 3000 already in use'],
    ['Error: listen EADDRINUSE: address already in use 127.0.0.1:8080', 'port 8080 already in use'],
    ['listen tcp :9090: bind: address already in use', 'port 9090 already in use'],
    ['listen tcp [::1]:7070: bind: address already in use', 'port 7070 already in use'],
    ['OSError: [Errno 98] Address already in use', 'port 5000 already in use'],
  ])('address in use: %s', (line, summary) => {
    expect(classifyServiceFailure(obs({ exitCode: 1, logTail: ['starting', line] }), [5000])).toEqual({ permanent: true, summary, evidence: line });
  });

  it('says "address already in use" when it cannot tell the port', () => {
    expect(classifyServiceFailure(obs({ exitCode: 1, logTail: ['nc: bind: Address already in use'] }), [1, 2])?.summary).toBe('address already in use');
  });

  it('other exits are not permanent; running services are not failures', () => {
    expect(classifyServiceFailure(obs({ exitCode: 1, logTail: ['boom'] }))).toBeUndefined();
    expect(classifyServiceFailure(obs({ state: 'running', exitCode: 127 }))).toBeUndefined();
  });

  it('finds the sentence in a stack trace and shows it above the last lines', () => {
    const trace = [
      'node:events:502',
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:38111',
      '    at Server.setupListenHandle [as _listen2] (node:net:1908:16)',
      "  code: 'EADDRINUSE',",
      "  address: '127.0.0.1',",
      '  port: 38111',
      '}',
      'Node.js v20.20.2',
    ];
    const o = obs({ exitCode: 1, logTail: trace });
    const failure = classifyServiceFailure(o);
    expect(failure).toMatchObject({ permanent: true, summary: 'port 38111 already in use', evidence: trace[1] });
    expect(logTailText(o, failure!.evidence).split('\n').slice(1, 3)).toEqual([`    ${trace[1]}`, '    …']);
  });

  it('formats the log tail indented under the reason', () => {
    expect(logTailText(obs({ logTail: ['a', 'b'] }))).toBe('; last log lines:\n    a\n    b');
    expect(logTailText(obs({}))).toBe('');
  });
});
