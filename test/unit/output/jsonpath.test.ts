import { describe, expect, it } from 'vitest';
import { executeJsonPath, JsonPathError, parseJsonPath } from '../../../src/output/jsonpath.js';

const list = {
  kind: 'List',
  items: [
    { kind: 'Workspace', metadata: { name: 'api', labels: { app: 'web' } }, spec: { ports: ['8080:80', '9090:90'] }, status: { phase: 'Ready', restarts: 2 } },
    { kind: 'Workspace', metadata: { name: 'db', labels: { app: 'data' } }, spec: {}, status: { phase: 'Failed', restarts: 0 } },
    { kind: 'Service', metadata: { name: 'front' }, spec: { ports: [80] }, status: { phase: 'Ready', ok: true } },
  ],
};
const run = (t: string, data: unknown = list) => executeJsonPath(parseJsonPath(t), data);

describe('kubectl-style jsonpath', () => {
  it('joins several results with spaces', () => {
    expect(run('{.items[*].metadata.name}')).toBe('api db front');
  });

  it('reads fields of one object', () => {
    expect(run('{.metadata.name}', list.items[0])).toBe('api');
    expect(run('{.status.phase}', list.items[1])).toBe('Failed');
    expect(run('{metadata.name}', list.items[0])).toBe('api');
    expect(run("{.metadata.labels['app']}", list.items[0])).toBe('web');
  });

  it('ranges with literals and escapes', () => {
    expect(run('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}')).toBe('api\tReady\ndb\tFailed\nfront\tReady\n');
    expect(run('{range .items}[{.kind}]{end}')).toBe('[Workspace][Workspace][Service]');
  });

  it('keeps the text around expressions', () => {
    expect(run('name={.metadata.name}!', list.items[0])).toBe('name=api!');
  });

  it('indexes, slices and negative indexes', () => {
    expect(run('{.items[0].metadata.name}')).toBe('api');
    expect(run('{.items[-1].metadata.name}')).toBe('front');
    expect(run('{.items[1:].metadata.name}')).toBe('db front');
    expect(run('{.items[:1].metadata.name}')).toBe('api');
  });

  it('filters by value and by presence', () => {
    expect(run('{.items[?(@.status.phase=="Ready")].metadata.name}')).toBe('api front');
    expect(run('{.items[?(@.status.phase != "Ready")].metadata.name}')).toBe('db');
    expect(run('{.items[?(@.status.restarts > 1)].metadata.name}')).toBe('api');
    expect(run('{.items[?(@.metadata.labels)].metadata.name}')).toBe('api db');
    expect(run('{.items[?(@.status.ok == true)].metadata.name}')).toBe('front');
  });

  it('recursive descent and wildcards', () => {
    expect(run('{..phase}')).toBe('Ready Failed Ready');
    expect(run('{.items[0].metadata.labels.*}')).toBe('web');
  });

  it('prints non-strings as JSON and missing paths as nothing', () => {
    expect(run('{.items[0].spec.ports}')).toBe('["8080:80","9090:90"]');
    expect(run('{.items[0].status.restarts}')).toBe('2');
    expect(run('{.nope.nothing}')).toBe('');
    expect(run('{.items[7].metadata.name}')).toBe('');
    expect(run('{.}', { a: 1 })).toBe('{"a":1}');
  });

  it('rejects bad templates with where and what', () => {
    expect(() => parseJsonPath('{.metadata.name')).toThrow(/unclosed "\{" at column 1/);
    expect(() => parseJsonPath('{range .items[*]}{.x}')).toThrow(/without a matching \{end\}/);
    expect(() => parseJsonPath('{.x}{end}')).toThrow(/\{end\} at column 5 without a \{range\}/);
    expect(() => parseJsonPath('{.items[abc]}')).toThrow(/unsupported "\[abc\]"/);
    expect(() => parseJsonPath('{.a..}')).toThrow(JsonPathError);
    expect(() => parseJsonPath('{}')).toThrow(/empty expression/);
    expect(() => parseJsonPath('{"unterminated}')).toThrow(JsonPathError);
    expect(() => parseJsonPath('{.items[?(@.a == bare)]}')).toThrow(/quote strings/);
  });
});
