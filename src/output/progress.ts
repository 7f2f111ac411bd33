// Live progress for apply/delete. On a TTY: coloured event lines plus one transient status
// line. Otherwise: plain timestamped lines (CI logs, pipes), never control characters.
import type { EventRecord } from '../model/types.js';
import type { Style } from './style.js';

export interface Progress {
  event(e: EventRecord): void;
  status(resource: string, message: string): void;
  line(message: string): void;
  done(): void;
}

export function createProgress(style: Style, stream: NodeJS.WriteStream = process.stderr): Progress {
  let transient = '';
  const clear = () => {
    if (transient && style.tty) stream.write('\r\x1b[2K');
  };
  const redraw = () => {
    if (transient && style.tty) stream.write(style.dim(transient.slice(0, (stream.columns || 100) - 1)));
  };
  const write = (text: string) => {
    clear();
    stream.write(text + '\n');
    redraw();
  };
  const stamp = () => (style.tty ? '' : new Date().toISOString() + ' ');
  return {
    event(e) {
      const mark = e.type === 'Warning' ? style.yellow('!') : style.green('•');
      write(`${stamp()}${mark} ${style.bold(e.object)} ${e.reason}: ${e.message}`);
    },
    status(resource, message) {
      if (!style.tty) return; // plain output gets the events only
      clear();
      transient = `… ${resource}: ${message}`;
      redraw();
    },
    line(message) {
      write(`${stamp()}${message}`);
    },
    done() {
      clear();
      transient = '';
    },
  };
}
