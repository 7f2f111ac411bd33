// The keeper's wire format and socket naming (pure parts of src/transport/keeper/).
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keeperSocketPath, persistSeconds, DEFAULT_PERSIST_SECONDS } from '../../../src/transport/keeper/client.js';
import { Frame, FrameReader, LineReader, connectionKey, decodeBytes, decodeExecArgs, deserializeError, encodeBytes, encodeExecArgs, encodeFrame, serializeError } from '../../../src/transport/keeper/protocol.js';
import { HostKeyMismatchError, TransportError } from '../../../src/transport/types.js';
import { API_VERSION, type NodeResource } from '../../../src/model/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'vendetta-keeper-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('frames', () => {
  it('are split back whatever the chunking, one byte at a time included', () => {
    const stream = Buffer.concat([encodeFrame(Frame.stdout, 'hello'), encodeFrame(Frame.stderr, Buffer.from([0, 255])), encodeFrame(Frame.exit, '{"code":3}'), encodeFrame(Frame.stdinEnd)]);
    for (const size of [1, 2, 5, 7, stream.length]) {
      const got: [number, string][] = [];
      const r = new FrameReader((t, p) => got.push([t, p.toString('hex')]));
      for (let i = 0; i < stream.length; i += size) r.push(stream.subarray(i, i + size));
      expect(got).toEqual([
        [Frame.stdout, Buffer.from('hello').toString('hex')],
        [Frame.stderr, '00ff'],
        [Frame.exit, Buffer.from('{"code":3}').toString('hex')],
        [Frame.stdinEnd, ''],
      ]);
    }
  });

  it('the header line is split from the bytes that follow it', () => {
    const r = new LineReader();
    expect(r.push(Buffer.from('{"ok":'))).toBeUndefined();
    const got = r.push(Buffer.from('true}\nRAW\nbytes'));
    expect(got?.line).toBe('{"ok":true}');
    expect(got?.rest.toString()).toBe('RAW\nbytes');
  });
});

describe('errors and bytes cross the socket unchanged', () => {
  it('TransportError keeps node, message and hint; a host key mismatch keeps its class and fingerprints', () => {
    const t = deserializeError(serializeError(new TransportError('n1', 'cannot connect', 'is sshd running?')), 'x');
    expect(t).toBeInstanceOf(TransportError);
    expect([t.node, t.message, t.hint]).toEqual(['n1', 'cannot connect', 'is sshd running?']);
    const m = deserializeError(serializeError(new HostKeyMismatchError('n2', 'SHA256:a', 'SHA256:b', 'check it')), 'x');
    expect(m).toBeInstanceOf(HostKeyMismatchError);
    expect(m.message).toBe('host key for node n2 changed: expected SHA256:a, presented SHA256:b');
    expect([(m as HostKeyMismatchError).expectedFingerprint, (m as HostKeyMismatchError).presentedFingerprint, m.hint]).toEqual(['SHA256:a', 'SHA256:b', 'check it']);
    expect(deserializeError(serializeError(new Error('plain')), 'n3')).toMatchObject({ node: 'n3', message: 'plain' });
  });

  it('strings stay strings and buffers stay buffers', () => {
    expect(decodeBytes(encodeBytes('a\nb'))).toBe('a\nb');
    const b = decodeBytes(JSON.parse(JSON.stringify(encodeBytes(Buffer.from([0, 1, 254])))));
    expect(Buffer.isBuffer(b) && [...b]).toEqual([0, 1, 254]);
    expect(decodeBytes(encodeBytes(undefined))).toBeUndefined();
  });
});

describe('which keeper, which connection', () => {
  const node = (spec: Partial<NodeResource['spec']> = {}): NodeResource => ({
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { address: '127.0.0.11', port: 2222, user: 'u', ...spec },
  });

  it('a connection is shared only by identical ways of reaching and trusting a node', () => {
    expect(connectionKey(node())).toBe(connectionKey(node()));
    expect(connectionKey(node())).not.toBe(connectionKey(node({ user: 'other' })));
    expect(connectionKey(node())).not.toBe(connectionKey(node({ identityFile: '/k' })));
    expect(connectionKey(node())).not.toBe(connectionKey(node(), { strictHostKeys: true }));
    expect(connectionKey(node())).not.toBe(connectionKey(node(), { knownHostsPath: '/other' }));
    // the keeper's transport decides forwarding from its Node: a changed opt-in is a new transport
    expect(connectionKey(node())).not.toBe(connectionKey(node({ forwardAgent: true })));
    expect(connectionKey(node({ forwardAgent: false }))).not.toBe(connectionKey(node({ forwardAgent: true })));
  });

  it('VENDETTA_SSH_PERSIST: default, off, seconds', () => {
    expect(persistSeconds({})).toBe(DEFAULT_PERSIST_SECONDS);
    expect(persistSeconds({ VENDETTA_SSH_PERSIST: '0' })).toBe(0);
    expect(persistSeconds({ VENDETTA_SSH_PERSIST: 'no' })).toBe(0);
    expect(persistSeconds({ VENDETTA_SSH_PERSIST: '60' })).toBe(60);
  });

  it('the socket differs by credentials environment, and no keeper in a directory others can write', () => {
    const base = { XDG_RUNTIME_DIR: join(tmp, 'run'), HOME: '/home/a' };
    const a = keeperSocketPath('/no/such/cli.js', base);
    expect(a).toMatch(new RegExp(`^${join(tmp, 'run', 'vendetta')}/ssh-[0-9a-f]{16}\\.sock$`));
    expect(keeperSocketPath('/no/such/cli.js', base)).toBe(a);
    expect(keeperSocketPath('/no/such/cli.js', { ...base, VENDETTA_SSH_DIR: '/keys' })).not.toBe(a);
    expect(keeperSocketPath('/no/such/cli.js', { ...base, SSH_AUTH_SOCK: '/agent' })).not.toBe(a);
    expect(keeperSocketPath('/other/cli.js', base)).not.toBe(a);
    const open = join(tmp, 'open');
    mkdirSync(join(open, 'vendetta'), { recursive: true });
    chmodSync(join(open, 'vendetta'), 0o777);
    expect(keeperSocketPath('/no/such/cli.js', { XDG_RUNTIME_DIR: open })).toBeUndefined();
  });
});

describe('exec over the keeper', () => {
  const wire = (a: Record<string, unknown>) => JSON.parse(JSON.stringify(a)) as Record<string, unknown>;

  it('carries forwardAgent only when asked for, and back into ExecOptions', () => {
    const asked = wire(encodeExecArgs(['git', 'fetch'], { stdin: 'tok\n', timeoutMs: 5, forwardAgent: true }));
    expect(asked.forwardAgent).toBe(true);
    const signal = new AbortController().signal;
    const { argv, opts } = decodeExecArgs(asked, signal);
    expect(argv).toEqual(['git', 'fetch']);
    expect(opts).toMatchObject({ stdin: 'tok\n', timeoutMs: 5, forwardAgent: true });
    // The keeper's abort signal only for an exec its caller can abort: one without is batched.
    expect(opts.signal).toBeUndefined();
    const abortable = wire(encodeExecArgs(['sleep', '9'], { signal: new AbortController().signal }));
    expect(abortable.abortable).toBe(true);
    expect(decodeExecArgs(abortable, signal).opts.signal).toBe(signal);

    const plain = wire(encodeExecArgs(['true'], { env: { A: '1' }, cwd: '/w', stdin: Buffer.from([0, 1]) }));
    expect('forwardAgent' in plain).toBe(false);
    const back = decodeExecArgs(plain).opts;
    expect(back.forwardAgent).toBeUndefined();
    expect(back).toMatchObject({ env: { A: '1' }, cwd: '/w' });
    expect(Buffer.isBuffer(back.stdin) && [...back.stdin]).toEqual([0, 1]);
    // false, or anything but true, is not a request
    expect(decodeExecArgs({ argv: ['x'], forwardAgent: 'yes' }).opts.forwardAgent).toBeUndefined();
    expect(wire(encodeExecArgs(['x'], { forwardAgent: false })).forwardAgent).toBeUndefined();
  });
});
