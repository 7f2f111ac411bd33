import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quoteArg, shellQuote } from '../../../src/transport/quote.js';

/** What a real /bin/sh hands to a program after parsing our quoted text. */
function roundTrip(args: string[]): string[] {
  const script = `printf '%s\\0' ${shellQuote(args)}`;
  const res = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  expect(res.status).toBe(0);
  return res.stdout.split('\0').slice(0, -1);
}

describe('quoteArg', () => {
  it('leaves safe words bare and quotes everything else', () => {
    expect(quoteArg('abc-DEF_1.2/x@y%z+w=v:u,t')).toBe('abc-DEF_1.2/x@y%z+w=v:u,t');
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg("it's")).toBe(`'it'\\''s'`);
    expect(quoteArg('~')).toBe("'~'");
  });

  it('rejects NUL bytes', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => shellQuote(['ok', 'x\0'])).toThrow(/NUL/);
  });

  it('joins argv with spaces', () => {
    expect(shellQuote(['echo', "it's", ''])).toBe(`echo 'it'\\''s' ''`);
  });
});

describe('shellQuote through a real /bin/sh', () => {
  const nasty = [
    '',
    ' ',
    "'",
    "''",
    '"',
    `it's "quoted"`,
    '$HOME',
    '${PATH}',
    '$(id)',
    '`id`',
    'a;b',
    'a && b || c',
    'line1\nline2\n',
    '\n',
    '*',
    '/*',
    '?[a-z]',
    '~root',
    '-n',
    '--help',
    '-',
    'tab\there',
    '\\',
    '\\n',
    'ünïcødé ✓ 日本',
    '#comment',
    'a=b c',
    '!',
    '%s',
    '>out <in | pipe &',
  ];

  it('passes every nasty string through unchanged', () => {
    expect(roundTrip(nasty)).toEqual(nasty);
  });

  it('passes each one alone too', () => {
    for (const s of nasty) expect(roundTrip([s])).toEqual([s]);
  });
});
