// src/manifest/validators.generated.js answers "valid?" for every apply; ajv (verbose, in
// schema.ts) explains failures. They must agree, and the generated file must match schemas/.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { compileSchema, SCHEMAS } from '../../../src/manifest/schema.js';
import * as generated from '../../../src/manifest/validators.generated.js';
import { KINDS, type Kind } from '../../../src/model/types.js';
import { exampleYamlFiles, REPO } from './examples.js';



test('validators.generated.js is up to date with schemas/', () => {
  // Exit 1 ("out of date") when a schema was edited and `npm run gen:validators` not run.
  execFileSync(process.execPath, [join(REPO, 'scripts/gen-validators.mjs'), '--check'], { cwd: REPO });
});

describe('the generated check and ajv agree', () => {
  const full = Object.fromEntries(KINDS.map((k) => [k, compileSchema(SCHEMAS[k])])) as unknown as Record<Kind, (v: unknown) => boolean>;
  const docs = exampleYamlFiles()
    .flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Record<string, unknown>))
    .filter((d) => KINDS.includes(d?.kind as Kind));
  const clone = <T>(v: T): T => structuredClone(v);
  // Each turns a valid document into one that should fail (or, for a few, still pass).
  const mutations: [string, (d: Record<string, unknown>) => void][] = [
    ['unknown top-level field', (d) => (d.extra = 1)],
    ['unknown spec field', (d) => ((d.spec as Record<string, unknown>).imagee = 'x')],
    ['bad name', (d) => ((d.metadata as Record<string, unknown>).name = 'Bad_Name')],
    ['spec a list', (d) => (d.spec = [])],
    ['no spec', (d) => delete d.spec],
    ['restart policy', (d) => ((d.spec as Record<string, unknown>).restart = 'sometimes')],
    ['onSync action', (d) => ((d.spec as Record<string, unknown>).onSync = 'rebuild')],
    ['duration over 24h', (d) => ((d.spec as Record<string, unknown>).healthcheck = { exec: { command: 'true' }, interval: '25h' })],
    ['duration at 24h', (d) => ((d.spec as Record<string, unknown>).healthcheck = { exec: { command: 'true' }, interval: '23h60m' })],
    ['two checks', (d) => ((d.spec as Record<string, unknown>).healthcheck = { exec: { command: 'true' }, tcp: { port: 80 } })],
    ['ports not a list', (d) => ((d.spec as Record<string, unknown>).ports = '80')],
    ['duplicate ports', (d) => ((d.spec as Record<string, unknown>).ports = ['8080:80', '8080:80'])],
  ];

  test('on every shipped example and its mutations', () => {
    expect(docs.length).toBeGreaterThan(5);
    let failing = 0;
    for (const doc of docs) {
      const kind = doc.kind as Kind;
      expect(generated[kind](doc), `${kind} ${JSON.stringify(doc.metadata)}`).toBe(true);
      for (const [what, mutate] of mutations) {
        const changed = clone(doc);
        mutate(changed);
        const verdict = full[kind](changed);
        if (!verdict) failing++;
        expect(generated[kind](changed), `${what} on ${kind} ${JSON.stringify(doc.metadata)}`).toBe(verdict);
      }
    }
    expect(failing).toBeGreaterThan(docs.length * 5); // the mutations do break documents
  });
});
