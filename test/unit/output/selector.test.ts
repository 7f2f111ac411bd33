import { describe, expect, it } from 'vitest';
import { matchesSelector, parseSelector, SelectorError } from '../../../src/output/selector.js';

const match = (sel: string, labels?: Record<string, string>) => matchesSelector(labels, parseSelector(sel));

describe('label selectors', () => {
  it('equality and inequality', () => {
    expect(match('app=web', { app: 'web' })).toBe(true);
    expect(match('app==web', { app: 'web' })).toBe(true);
    expect(match('app=web', { app: 'db' })).toBe(false);
    expect(match('app=web', undefined)).toBe(false);
    expect(match('app!=web', { app: 'db' })).toBe(true);
    expect(match('app!=web', {})).toBe(true);
    expect(match('app!=web', { app: 'web' })).toBe(false);
  });

  it('existence and absence', () => {
    expect(match('app', { app: '' })).toBe(true);
    expect(match('app', { tier: 'x' })).toBe(false);
    expect(match('!legacy', { app: 'web' })).toBe(true);
    expect(match('!legacy', { legacy: 'yes' })).toBe(false);
  });

  it('all comma-separated requirements must hold, set syntax keeps its commas', () => {
    expect(match('app=web,tier=front', { app: 'web', tier: 'front' })).toBe(true);
    expect(match('app=web,tier=front', { app: 'web', tier: 'back' })).toBe(false);
    expect(match('env in (dev,ci),app', { env: 'ci', app: 'x' })).toBe(true);
    expect(match('env in (dev, ci)', { env: 'prod' })).toBe(false);
    expect(match('env notin (prod)', { env: 'dev' })).toBe(true);
    expect(match('vendetta.dev/team=core', { 'vendetta.dev/team': 'core' })).toBe(true);
  });

  it('empty selects everything', () => {
    expect(parseSelector('')).toEqual([]);
    expect(match('', undefined)).toBe(true);
  });

  it('bad selectors name the part', () => {
    expect(() => parseSelector('a=b=c')).toThrow(/bad value "b=c" in "a=b=c"/);
    expect(() => parseSelector('app=web,')).toThrow(/empty requirement/);
    expect(() => parseSelector('=web')).toThrow(SelectorError);
    expect(() => parseSelector('env in ()')).toThrow(/bad value list/);
    expect(() => parseSelector('a b')).toThrow(/bad label key "a b"/);
  });
});
