// SourceSync against the real /bin/sh and tar of this machine (the local node's transport):
// one exec per batch, incremental, deletions, ignore rules, and a full push after a recreate.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, readlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SourceSync, pushArgv, type SyncTarget } from '../../src/sync/push.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { ExecOptions } from '../../src/transport/types.js';

const base = mkdtempSync(join(tmpdir(), 'vendetta-sync-push-'));
const src = join(base, 'src');
const ws = join(base, 'node', 'workspace');
const state = join(base, 'node', 'state');
afterAll(() => rmSync(base, { recursive: true, force: true }));

const t = new LocalTransport();
let execs = 0;
const target: SyncTarget = {
  workspaceDir: ws,
  stateDir: state,
  exec: (argv: string[], opts?: ExecOptions) => {
    execs++;
    return t.exec(argv, opts);
  },
};
const put = (rel: string, text: string) => {
  mkdirSync(join(src, rel, '..'), { recursive: true });
  writeFileSync(join(src, rel), text);
};
const onNode = (rel: string) => (existsSync(join(ws, rel)) ? readFileSync(join(ws, rel), 'utf8') : undefined);
const record = join(base, 'home', 'sync', 'w.json');

describe('SourceSync (local node)', () => {
  put('app/web.mjs', 'v1');
  put('-rf weird name.txt', 'odd');
  put('.gitignore', 'node_modules/\n');
  put('.vendettaignore', '*.secret\n');
  put('node_modules/big/index.js', 'x');
  put('api.secret', 'token');
  put('.git/HEAD', 'ref');
  symlinkSync('app/web.mjs', join(src, 'entry'));
  let sync = new SourceSync(src, target, record, 'workspace w');

  it('a fresh push sends the tree in one exec, without ignored files or .git', async () => {
    mkdirSync(ws, { recursive: true });
    writeFileSync(join(ws, 'leftover'), 'from an interrupted create');
    execs = 0;
    const r = await sync.run({ fresh: true });
    expect(execs).toBe(1);
    expect(r).toMatchObject({ sent: 5, deleted: 0, full: true, unchanged: false }); // .gitignore, .vendettaignore, web.mjs, the odd name, the link
    expect(onNode('app/web.mjs')).toBe('v1');
    expect(onNode('-rf weird name.txt')).toBe('odd');
    expect(readlinkSync(join(ws, 'entry'))).toBe('app/web.mjs');
    for (const gone of ['leftover', 'node_modules', 'api.secret', '.git']) expect(existsSync(join(ws, gone))).toBe(false);
    expect(readFileSync(join(state, 'sync-id'), 'utf8').trim()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('nothing changed: no exec at all, unless asked to verify', async () => {
    execs = 0;
    expect(await sync.run()).toMatchObject({ unchanged: true });
    expect(execs).toBe(0);
    expect(await sync.run({ verify: true })).toMatchObject({ unchanged: true, full: false });
    expect(execs).toBe(1);
  });

  it('an edit and a deletion go in one exec; an ignored new file does not', async () => {
    put('app/web.mjs', 'v2 longer');
    unlinkSync(join(src, '-rf weird name.txt'));
    put('more.secret', 'no');
    execs = 0;
    expect(await sync.run()).toMatchObject({ sent: 1, deleted: 1, full: false });
    expect(execs).toBe(1);
    expect(onNode('app/web.mjs')).toBe('v2 longer');
    expect(existsSync(join(ws, '-rf weird name.txt'))).toBe(false);
    expect(existsSync(join(ws, 'more.secret'))).toBe(false);
  });

  it('a same-size edit with a new mtime is sent; a removed directory is removed', async () => {
    put('app/web.mjs', 'v3 longer');
    utimesSync(join(src, 'app/web.mjs'), new Date(), new Date(Date.now() + 5000));
    put('tmp/a/b.txt', 'b');
    await sync.run();
    expect(onNode('tmp/a/b.txt')).toBe('b');
    rmSync(join(src, 'tmp'), { recursive: true });
    expect(await sync.run()).toMatchObject({ deleted: 1 });
    expect(onNode('app/web.mjs')).toBe('v3 longer');
    expect(existsSync(join(ws, 'tmp'))).toBe(false);
  });

  it('a new session resumes from the record on the controller: incremental', async () => {
    sync = new SourceSync(src, target, record, 'workspace w');
    put('new.txt', 'n');
    expect(await sync.run()).toMatchObject({ sent: 1, full: false });
  });

  it('a recreated workspace (no sync id on the node) gets a full push', async () => {
    rmSync(join(base, 'node'), { recursive: true });
    execs = 0;
    expect(await sync.run({ verify: true })).toMatchObject({ sent: 5, full: true });
    expect(execs).toBe(2); // the stale attempt changed nothing, then the full push
    expect(onNode('new.txt')).toBe('n');
    expect(onNode('app/web.mjs')).toBe('v3 longer');
  });

  it('refuses a deletion that is not a plain relative path', () => {
    expect(() => pushArgv(target, '', 'x', false, ['../etc'])).toThrow(/refusing to delete/);
  });
});
