// A real terminal for tests: a command run in a detached tmux session on a private socket (never
// a user's tmux server), driven by keystrokes and read back from the screen.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './cli.js';

export class TmuxTerminal {
  private readonly dir = mkdtempSync(join(tmpdir(), 'vendetta-tmux-'));
  private readonly socket = join(this.dir, 'sock');

  /** `command` runs under /bin/sh in `cwd`; its exit code is printed as "EXITED:<code>" when it ends. */
  constructor(command: string, opts: { env: Record<string, string>; cwd: string; cols?: number; rows?: number }) {
    const env = Object.entries(opts.env).map(([k, v]) => `${k}=${shQuote(v)}`).join(' ');
    const line = `cd ${shQuote(opts.cwd)} && env ${env} ${command}; echo EXITED:$?; sleep 600`;
    this.tmux('new-session', '-d', '-x', String(opts.cols ?? 120), '-y', String(opts.rows ?? 40), line);
  }

  /** Types text, then Enter. */
  type(text: string): void {
    this.tmux('send-keys', '-l', text);
    this.tmux('send-keys', 'Enter');
  }

  key(name: string): void {
    this.tmux('send-keys', name);
  }

  resize(cols: number, rows: number): void {
    this.tmux('resize-window', '-x', String(cols), '-y', String(rows));
  }

  /** The screen and its scrollback, as text. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-200');
  }

  /** Waits until the screen matches, and returns the match. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    try {
      return await eventually(() => pattern.exec(this.screen()) ?? undefined, timeoutMs, `${pattern} on the terminal`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; it shows:\n${this.screen()}`);
    }
  }

  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8' });
  }
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
