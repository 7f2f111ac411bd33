// The batch script (src/transport/batch.ts) run by a real /bin/sh, as `sh -s` runs it on a node:
// every member gets exactly its own stdout, stderr, exit status and stdin, whatever they print.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchableStdin, batchScript, INLINE_SHELL, newNonce, parseBatchOutput, type BatchMember } from '../../../src/transport/batch.js';

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

  it('runs a body marked INLINE_SHELL in the member\'s own subshell, with its own arguments, status, output and input', () => {
    const inline = (body: string, ...args: string[]) => ['/bin/sh', '-c', `${INLINE_SHELL}${body}`, 'sh', ...args];
    const { results, script } = run([
      // $$ is the batch's shell: no shell of its own was started for it
      { argv: inline('tr "\\000" " " < /proc/$$/cmdline') },
      { argv: inline('printf "%s|" "$#" "$@"; echo oops >&2; exit 3', 'a b', "it's", '', '$HOME') },
      { argv: inline('while IFS= read -r l; do echo "<$l>"; done', 'x'), stdin: 'one\ntwo\n' },
      { argv: inline('cat'), stdin: 'no newline at the end' },
      { argv: inline('cat'), stdin: '' },
      // temporary names: each member its own vd_self
      { argv: inline('echo "$vd_self"') },
      { argv: inline('echo "$vd_self"') },
      { argv: inline('f() { return 4; }; f') },
      { argv: inline('pwd'), cwd: '/' },
      // not inline: a name other than "sh" ($0 is read), or an environment
      { argv: ['/bin/sh', '-c', `${INLINE_SHELL}echo "$0"`, 'vdsup-0'] },
      { argv: inline('echo "$A"'), env: { A: 'b' } },
    ]);
    expect(results[0]!.stdout).toMatch(/^\/bin\/sh -s $/);
    expect(results.slice(1)).toEqual([
      { code: 3, stdout: "4|a b|it's||$HOME|", stderr: 'oops\n' },
      { code: 0, stdout: '<one>\n<two>\n', stderr: '' },
      { code: 0, stdout: 'no newline at the end', stderr: '' },
      { code: 0, stdout: '', stderr: '' },
      { code: 0, stdout: expect.stringMatching(/^\d+_5\n$/), stderr: '' },
      { code: 0, stdout: expect.stringMatching(/^\d+_6\n$/), stderr: '' },
      { code: 4, stdout: '', stderr: '' },
      { code: 0, stdout: '/\n', stderr: '' },
      { code: 0, stdout: 'vdsup-0\n', stderr: '' },
      { code: 0, stdout: 'b\n', stderr: '' },
    ]);
    // inputs that end with a newline ride as here-documents; the one without, through printf
    expect(script.match(/<<'VDBATCH-[0-9a-f]+_IN'/g)).toHaveLength(2);
    expect(script.match(/printf %s 'no newline at the end' \| /g)).toHaveLength(1);
  });

  it('passes an input holding its here-document\'s end line through printf instead', () => {
    const nonce = newNonce();
    const input = `a\n${nonce}_IN\nb\n`;
    const members = [{ argv: ['cat'], stdin: input }, { argv: ['/bin/sh', '-c', `${INLINE_SHELL}cat`], stdin: input }];
    const r = spawnSync('/bin/sh', ['-s'], { input: batchScript(members, nonce), encoding: 'utf8' });
    expect(parseBatchOutput(r.stdout, nonce, 2)).toEqual([
      { code: 0, stdout: input, stderr: '' },
      { code: 0, stdout: input, stderr: '' },
    ]);
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
