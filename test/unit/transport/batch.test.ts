// The batch script (src/transport/batch.ts) run by a real /bin/sh, as `sh -s` runs it on a node:
// every member gets exactly its own stdout, stderr, exit status and stdin, whatever they print.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchableStdin, batchScript, newNonce, parseBatchOutput, type BatchMember } from '../../../src/transport/batch.js';

function run(members: BatchMember[]) {
  const nonce = newNonce();
  const script = batchScript(members, nonce);
  const r = spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });
  return { results: parseBatchOutput(r.stdout, nonce, members.length), script, status: r.status };
}

describe('exec batches', () => {
  it('gives each member its own output, errors, status and input', () => {
    const { results, status } = run([
      { argv: ['sh', '-c', 'printf "no newline"'] },
      { argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] },
      { argv: ['cat'], stdin: "it's\n$HOME `x`\n\nlast" },
      { argv: ['sh', '-c', 'cat; echo " read"'], stdin: '' },
      { argv: ['sh', '-c', 'kill -TERM $$'] },
      { argv: ['sh', '-c', 'pwd; echo "$A"'], cwd: '/', env: { A: 'b c' } },
      { argv: ['sh', '-c', 'cat'] },
    ]);
    expect(status).toBe(0);
    expect(results).toEqual([
      { code: 0, stdout: 'no newline', stderr: '' },
      { code: 3, stdout: 'out\n', stderr: 'err\n' },
      { code: 0, stdout: "it's\n$HOME `x`\n\nlast", stderr: '' },
      { code: 0, stdout: ' read\n', stderr: '' },
      { code: 143, stdout: '', stderr: '' },
      { code: 0, stdout: '/\nb c\n', stderr: '' },
      // no stdin: end of input at once, as a single exec's closed channel
      { code: 0, stdout: '', stderr: '' },
    ]);
  });

  it('sends a long word once, however many members carry it', () => {
    const lib = `echo ${'x'.repeat(2000)} >/dev/null; echo "$1"`;
    const members = Array.from({ length: 20 }, (_, i) => ({ argv: ['/bin/sh', '-c', lib, 'sh', `m${i}`] }));
    const { results, script } = run(members);
    expect(results.map((r) => r?.stdout)).toEqual(members.map((_, i) => `m${i}\n`));
    expect(script.split('x'.repeat(2000)).length - 1).toBe(1);
  });

  it('prints every member\'s output with one cat, not one per member', () => {
    // A `cat` first on PATH that logs each run: the batch's own cat is the only one here.
    const bin = mkdtempSync(join(tmpdir(), 'vd-batch-'));
    try {
      writeFileSync(join(bin, 'cat'), `#!/bin/sh\necho run >> "${bin}/runs"\nexec /bin/cat "$@"\n`, { mode: 0o755 });
      const members = Array.from({ length: 20 }, (_, i) => ({ argv: ['/bin/sh', '-c', 'echo "$1"; echo "e$1" >&2', 'sh', `m${i}`] }));
      const nonce = newNonce();
      const r = spawnSync('/bin/sh', ['-s'], { input: batchScript(members, nonce), encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      const results = parseBatchOutput(r.stdout, nonce, members.length);
      expect(results).toEqual(members.map((_, i) => ({ code: 0, stdout: `m${i}\n`, stderr: `em${i}\n` })));
      expect(readFileSync(join(bin, 'runs'), 'utf8')).toBe('run\n');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('reports a member whose status never came as missing', () => {
    const nonce = newNonce();
    const out = `\n${nonce} 0 o\nhi\n${nonce} 0 e\n\n${nonce} 0 x 0\n\n${nonce} 1 o\npartial`;
    expect(parseBatchOutput(out, nonce, 2)).toEqual([{ code: 0, stdout: 'hi', stderr: '' }, undefined]);
  });

  it('keeps binary stdin out of batches', () => {
    expect(batchableStdin('text')).toBe(true);
    expect(batchableStdin(undefined)).toBe(true);
    expect(batchableStdin(Buffer.from([0x61, 0x00]))).toBe(false);
    expect(batchableStdin(Buffer.from([0xff, 0xfe]))).toBe(false);
    expect(batchableStdin(Buffer.from('ok'))).toBe(true);
  });
});
