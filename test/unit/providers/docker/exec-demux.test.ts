import { describe, expect, it } from 'vitest';
import { ExecDemuxer } from '../../../../src/providers/docker/exec.js';

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function sink() {
  const parts: Buffer[] = [];
  return { write: (b: Buffer) => parts.push(Buffer.from(b)), text: () => Buffer.concat(parts).toString() };
}

describe('ExecDemuxer', () => {
  it('splits frames into stdout and stderr, across chunk boundaries', () => {
    const out = sink();
    const err = sink();
    const d = new ExecDemuxer(out, err);
    const all = Buffer.concat([frame(1, 'hello '), frame(2, 'oops\n'), frame(1, 'world\n')]);
    for (let i = 0; i < all.length; i += 3) d.write(all.subarray(i, i + 3));
    expect(out.text()).toBe('hello world\n');
    expect(err.text()).toBe('oops\n');
    expect(d.startError).toBeUndefined();
    expect(d.exitCode(126)).toBe(126);
    expect(d.exitCode(0)).toBe(0);
  });

  it("dockerd's plain-text start error goes to stderr and a missing program exits 127", () => {
    const out = sink();
    const err = sink();
    const d = new ExecDemuxer(out, err);
    d.write(Buffer.from('OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": '));
    d.write(Buffer.from('executable file not found in $PATH: unknown\r\n'));
    expect(out.text()).toBe('');
    expect(err.text()).toBe('OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown\n');
    expect(d.startError).toContain('executable file not found');
    expect(d.exitCode(126)).toBe(127);
  });

  it('the start error in a stdout frame (how dockerd 20+ sends it) goes to stderr too', () => {
    const out = sink();
    const err = sink();
    const d = new ExecDemuxer(out, err);
    const all = frame(1, 'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown\r\n');
    d.write(all.subarray(0, 5));
    d.write(all.subarray(5));
    expect(out.text()).toBe('');
    expect(err.text()).toMatch(/^OCI runtime exec failed: .*"nope": executable file not found in \$PATH: unknown\n$/);
    expect(d.exitCode(126)).toBe(127);
    // A program that merely prints such a line later is not a start failure.
    const later = new ExecDemuxer(out, sink());
    later.write(Buffer.concat([frame(1, 'first\n'), frame(1, 'OCI runtime exec failed: x\n')]));
    expect(later.startError).toBeUndefined();
    expect(later.exitCode(126)).toBe(126);
  });

  it('other start failures keep their code', () => {
    const err = sink();
    const d = new ExecDemuxer(sink(), err);
    d.write(Buffer.from('OCI runtime exec failed: exec failed: permission denied: unknown\r\n'));
    expect(err.text()).toContain('permission denied');
    expect(d.exitCode(126)).toBe(126);
  });
});
