// checkCommand refuses up front what buildCommand could not quote, so that a batched exec (whose
// shell line is never built) fails alone, as it did when every exec built its line first.
import { describe, expect, it } from 'vitest';
import { buildCommand, checkCommand } from '../../../src/transport/ssh.js';

describe('checkCommand', () => {
  it('throws what buildCommand throws, for the same input', () => {
    const bad: [string[], { env?: Record<string, string>; cwd?: string }][] = [
      [[], {}],
      [['echo', 'a\0b'], {}],
      [['echo'], { env: { A: 'x\0' } }],
      [['echo'], { env: { 'A-B': 'x' } }],
      [['echo'], { cwd: '/tmp\0' }],
    ];
    for (const [argv, opts] of bad) {
      let want = '';
      try {
        buildCommand(argv, opts);
      } catch (err) {
        want = (err as Error).message;
      }
      expect(want).not.toBe('');
      expect(() => checkCommand(argv, opts)).toThrow(want);
    }
  });

  it('accepts what buildCommand quotes', () => {
    expect(() => checkCommand(['sh', '-c', "it's $HOME", ''], { env: { A: 'b c' }, cwd: '/a b' })).not.toThrow();
    expect(buildCommand(['echo', "it's"], { cwd: '/a b' })).toBe(`cd '/a b' && echo 'it'\\''s'`);
  });
});
