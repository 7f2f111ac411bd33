// `get` selection and rendering against a real file store in a temp dir.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/store/file-store.js';
import type { Store } from '../../../src/store/types.js';
import { API_VERSION, type Resource } from '../../../src/model/types.js';
import { renderRecords, selectRecords } from '../../../src/cli/get.js';
import { parseListFormat } from '../../../src/output/format.js';
import { parseSelector } from '../../../src/output/selector.js';

const ws = (name: string, labels?: Record<string, string>): Resource => ({
  apiVersion: API_VERSION,
  kind: 'Workspace',
  metadata: { name, ...(labels ? { labels } : {}) },
  spec: { node: 'local', provider: 'process' },
});

describe('get', () => {
  let home: string;
  let store: Store;
  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'vendetta-get-'));
    store = await openStore(home);
    await store.putApplied(ws('api', { app: 'web', tier: 'back' }), 'default');
    await store.putApplied(ws('front', { app: 'web', tier: 'front' }), 'default');
    await store.putApplied(ws('db'), 'default');
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('lists the built-in local node with the nodes, Ready', async () => {
    const nodes = await selectRecords(store, 'nodes');
    expect(nodes.map((r) => [r.name, r.status?.phase, r.applySet])).toEqual([['local', 'Ready', 'builtin']]);
    const all = await selectRecords(store);
    expect(all.map((r) => r.id)).toEqual(['node/local', 'workspace/api', 'workspace/db', 'workspace/front']);
    expect((await selectRecords(store, 'node', 'local')).length).toBe(1);
    const table = renderRecords(nodes, parseListFormat('table'), { single: false });
    expect(table).toMatch(/^NODE\s+ADDRESS\s+STATUS\s+AGE\nlocal\s+local\s+Ready\s+-\n$/);
  });

  it('a node added under the name local replaces the built-in one', async () => {
    await store.putApplied({ apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'local' }, spec: { address: 'local' } }, 'node-cli');
    await store.putApplied({ apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.11', port: 2222 } }, 'node-cli');
    const nodes = await selectRecords(store, 'no');
    expect(nodes.map((r) => [r.name, r.applySet])).toEqual([['local', 'node-cli'], ['n1', 'node-cli']]);
  });

  it('selects by label', async () => {
    const names = async (sel: string, kind?: string) => (await selectRecords(store, kind, undefined, parseSelector(sel))).map((r) => r.id);
    expect(await names('app=web')).toEqual(['workspace/api', 'workspace/front']);
    expect(await names('app=web,tier!=front', 'ws')).toEqual(['workspace/api']);
    expect(await names('!app', 'ws')).toEqual(['workspace/db']);
    expect(await names('app')).toEqual(['workspace/api', 'workspace/front']);
    expect(await names('nope=1')).toEqual([]);
  });

  it('a missing name is an error naming it', async () => {
    await expect(selectRecords(store, 'ws', 'nope')).rejects.toThrow('workspace "nope" not found');
    await expect(selectRecords(store, 'node', 'nope')).rejects.toThrow('node "nope" not found');
  });

  it('-o name, -o jsonpath, -o json', async () => {
    const records = await selectRecords(store, 'ws');
    expect(renderRecords(records, parseListFormat('name'), { single: false })).toBe('workspace/api\nworkspace/db\nworkspace/front\n');
    expect(renderRecords(records, parseListFormat('jsonpath={.items[*].metadata.name}'), { single: false })).toBe('api db front');
    expect(renderRecords(records, parseListFormat('jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'), { single: false })).toBe('api\ndb\nfront\n');
    const one = await selectRecords(store, 'ws', 'api');
    expect(renderRecords(one, parseListFormat('jsonpath={.metadata.name}/{.status.phase}'), { single: true })).toBe('api/Pending');
    expect(JSON.parse(renderRecords(one, parseListFormat('json'), { single: true })).metadata.labels).toEqual({ app: 'web', tier: 'back' });
  });

  it('bad -o values say what is accepted', () => {
    expect(() => parseListFormat('xml')).toThrow(/unknown output format "xml"; use one of table, wide, json, yaml, name, jsonpath=TEMPLATE/);
    expect(() => parseListFormat('jsonpath=')).toThrow(/needs a template/);
    expect(() => parseListFormat('jsonpath={.a')).toThrow(/unclosed/);
  });
});
