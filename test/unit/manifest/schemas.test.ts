import { describe, expect, test } from 'vitest';
import { SCHEMAS } from '../../../src/manifest/index.js';

type Json = Record<string, unknown>;

/** Paths of properties (and $defs entries) without a description: the schemas are the reference. */
function undocumented(schema: unknown, path = '#'): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const out: string[] = [];
  const node = schema as Json;
  for (const [name, child] of Object.entries((node.properties as Json | undefined) ?? {})) {
    if (typeof (child as Json).description !== 'string') out.push(`${path}/properties/${name}`);
  }
  for (const [name, child] of Object.entries((node.$defs as Json | undefined) ?? {})) {
    if (typeof (child as Json).description !== 'string') out.push(`${path}/$defs/${name}`);
  }
  for (const [key, child] of Object.entries(node)) {
    // Conditions ("if provider is docker…") restate fields declared elsewhere; they are not fields.
    if (key === 'if' || key === 'anyOf' || key === 'oneOf') continue;
    out.push(...undocumented(child, `${path}/${key}`));
  }
  return out;
}

describe('schemas', () => {
  test.each(Object.entries(SCHEMAS))('%s: every property has a description', (_kind, schema) => {
    expect(undocumented(schema)).toEqual([]);
  });

  test.each(Object.entries(SCHEMAS))('%s: $id and draft 2020-12', (kind, schema) => {
    expect((schema as Json).$id).toBe(`https://vendetta.dev/schemas/${kind.toLowerCase()}.schema.json`);
    expect((schema as Json).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  // Each schema is self-contained for editors, so shared definitions are copied: keep them equal.
  test('shared definitions are identical across schemas', () => {
    const defs = (kind: keyof typeof SCHEMAS) => (SCHEMAS[kind] as { $defs: Json }).$defs;
    for (const name of ['name', 'metadata']) {
      expect(defs('Workspace')[name]).toEqual(defs('Node')[name]);
      expect(defs('Service')[name]).toEqual(defs('Node')[name]);
    }
    for (const name of ['env', 'envName', 'envValue']) expect(defs('Service')[name]).toEqual(defs('Workspace')[name]);
  });
});
