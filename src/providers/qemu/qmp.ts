// A minimal QMP client: one command per connection, over a stream the transport opened to the
// VM's unix socket on the node (stream-local forwarding on SSH). QMP is line-delimited JSON:
// greeting, then {"execute": …} → {"return": …} | {"error": …}, with async events in between.
import type { Duplex } from 'node:stream';

export interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  QMP?: unknown;
}

/** Splits a chunked byte stream into complete JSON lines; keeps the partial tail. */
export class QmpLineReader {
  private buffer = '';
  push(chunk: string): QmpReply[] {
    this.buffer += chunk;
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as QmpReply);
  }
}

/**
 * Negotiate capabilities, run `command`, resolve with its return value. `quit` may close the
 * socket before replying: with `closeIsSuccess` that counts as done.
 */
export function qmpCommand(
  stream: Duplex,
  command: string,
  args?: Record<string, unknown>,
  opts: { timeoutMs?: number; closeIsSuccess?: boolean } = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reader = new QmpLineReader();
    let phase: 'greeting' | 'capabilities' | 'command' = 'greeting';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`QMP ${command}: no reply after ${opts.timeoutMs ?? 10_000}ms`))),
      opts.timeoutMs ?? 10_000,
    );
    const send = (execute: string, a?: Record<string, unknown>) =>
      stream.write(`${JSON.stringify(a ? { execute, arguments: a } : { execute })}\n`);
    stream.setEncoding?.('utf8');
    stream.on('data', (chunk: string | Buffer) => {
      let replies: QmpReply[];
      try {
        replies = reader.push(chunk.toString());
      } catch (err) {
        return finish(() => reject(new Error(`QMP ${command}: unreadable reply: ${(err as Error).message}`)));
      }
      for (const r of replies) {
        if (r.event) continue;
        if (phase === 'greeting' && r.QMP) {
          phase = 'capabilities';
          send('qmp_capabilities');
        } else if (phase === 'capabilities') {
          if (r.error) return finish(() => reject(new Error(`QMP qmp_capabilities: ${r.error!.desc}`)));
          phase = 'command';
          send(command, args);
        } else if (phase === 'command') {
          if (r.error) return finish(() => reject(new Error(`QMP ${command}: ${r.error!.class}: ${r.error!.desc}`)));
          return finish(() => resolve(r.return));
        }
      }
    });
    const onEnd = () =>
      finish(() =>
        phase === 'command' && opts.closeIsSuccess ? resolve(undefined) : reject(new Error(`QMP ${command}: connection closed by QEMU`)),
      );
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', (err: Error) => finish(() => reject(new Error(`QMP ${command}: ${err.message}`))));
  });
}
