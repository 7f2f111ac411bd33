// schemas/vendetta.schema.json: every kind, per document. Checked with ajv and with the real
// yaml-language-server (what VS Code's YAML extension runs), over stdio, locally.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { compileSchema } from '../../../src/manifest/schema.js';
import { exampleYamlFiles, REPO } from './examples.js';
import { LspClient } from './lsp.js';

const COMBINED = join(REPO, 'schemas/vendetta.schema.json');
const combined = JSON.parse(readFileSync(COMBINED, 'utf8')) as object;

const API = 'apiVersion: vendetta.dev/v1alpha1';
// Three documents; the third has an unknown field on line 15 (0-based 14).
const MULTI = `${API}
kind: Node
metadata: {name: n1}
spec: {address: 127.0.0.1}
---
${API}
kind: Workspace
metadata: {name: api}
spec: {node: n1, provider: docker, image: "node:22"}
---
${API}
kind: Service
metadata: {name: web}
spec:
  imagee: oops
  workspace: api
  command: npm start
`;
const BAD_LINE = 14;


test('vendetta.schema.json is generated from the per-kind schemas and up to date', () => {
  // Throws (exit 1, "out of date") when someone edited a per-kind schema and did not regenerate.
  execFileSync(process.execPath, [join(REPO, 'scripts/build-schema.mjs'), '--check'], { cwd: REPO });
});

describe('with ajv', () => {
  const validate = compileSchema(combined);

  test('every document of the shipped examples validates', () => {
    const files = exampleYamlFiles();
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const value = doc.toJS();
        if (value?.apiVersion === undefined) continue; // examples/gitops/ci.yml is a CI workflow
        expect(validate(value) ? [] : validate.errors, file).toEqual([]);
      }
    }
  });

  test('each document is checked against its own kind, errors at the field', () => {
    const docs = parseAllDocuments(MULTI).map((d) => d.toJS());
    expect(validate(docs[0]) && validate(docs[1])).toBe(true);
    expect(validate(docs[2])).toBe(false);
    expect(validate.errors?.find((e) => e.keyword === 'additionalProperties')).toMatchObject({
      instancePath: '/spec',
      params: { additionalProperty: 'imagee' },
    });
    expect(validate({ apiVersion: 'vendetta.dev/v1alpha1', kind: 'Deployment' })).toBe(false);
  });
});

describe('with the yaml-language-server', () => {
  const require = createRequire(import.meta.url);
  const server = join(dirname(require.resolve('yaml-language-server/package.json')), 'bin/yaml-language-server');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-lsp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  type Diagnostics = { uri: string; diagnostics: { message: string; range: { start: { line: number; character: number } } }[] };

  async function diagnosticsFor(text: string, schemas: Record<string, string>): Promise<Diagnostics['diagnostics']> {
    // schemaStore off: the server must not fetch a catalog from the network.
    const settings = { yaml: { validate: true, schemas, schemaStore: { enable: false }, format: { enable: false } } };
    const client = new LspClient(process.execPath, [server, '--stdio'], settings);
    try {
      await client.request('initialize', {
        processId: process.pid,
        rootUri: pathToFileURL(dir).href,
        capabilities: { workspace: { configuration: true }, textDocument: { publishDiagnostics: {} } },
      });
      client.notify('initialized', {});
      client.notify('workspace/didChangeConfiguration', { settings });
      const uri = pathToFileURL(join(dir, 'set.yaml')).href;
      const published = client.waitFor<Diagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.diagnostics.length > 0);
      client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text } });
      return (await published).diagnostics;
    } finally {
      await client.close();
    }
  }

  test('yaml.schemas association: the unknown field in the THIRD document is reported at its line', async () => {
    const diagnostics = await diagnosticsFor(MULTI, { [pathToFileURL(COMBINED).href]: '*.yaml' });
    expect(diagnostics.map((d) => `${d.range.start.line}:${d.range.start.character} ${d.message}`)).toEqual([`${BAD_LINE}:2 Property imagee is not allowed.`]);
  }, 60_000);

  test('a modeline at the top of each document does the same', async () => {
    const modeline = `# yaml-language-server: $schema=${pathToFileURL(COMBINED).href}\n`;
    const text = MULTI.split('---\n').map((doc) => modeline + doc).join('---\n');
    const diagnostics = await diagnosticsFor(text, {});
    expect(diagnostics.map((d) => `${d.range.start.line}:${d.range.start.character} ${d.message}`)).toEqual([`${BAD_LINE + 3}:2 Property imagee is not allowed.`]);
  }, 60_000);
});
