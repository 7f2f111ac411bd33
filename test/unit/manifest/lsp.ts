// A minimal LSP client over stdio for tests: Content-Length framing, requests with ids, and
// answers to the server's own requests (workspace/configuration…).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

type Message = { id?: number | string; method?: string; params?: unknown; result?: unknown; error?: unknown };

export class LspClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, (m: Message) => void>();
  private readonly listeners: ((m: Message) => void)[] = [];
  stderr = '';

  constructor(command: string, args: string[], private readonly settings: Record<string, unknown>) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr.on('data', (d) => (this.stderr += d));
  }

  get pid(): number {
    return this.child.pid!;
  }

  request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (m) => (m.error ? reject(new Error(JSON.stringify(m.error))) : resolve(m.result)));
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  notify(method: string, params: unknown): void {
    this.write({ jsonrpc: '2.0', method, params });
  }

  /** Resolves with the first notification `method` whose params satisfy `match`. */
  waitFor<T>(method: string, match: (params: T) => boolean): Promise<T> {
    return new Promise((resolve) => {
      const listener = (m: Message) => {
        if (m.method === method && match(m.params as T)) {
          this.listeners.splice(this.listeners.indexOf(listener), 1);
          resolve(m.params as T);
        }
      };
      this.listeners.push(listener);
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.exitCode === null) {
      await Promise.race([this.request('shutdown', null), new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
      this.notify('exit', null);
      const timer = setTimeout(() => this.child.exitCode === null && process.kill(this.child.pid!, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  }

  private write(message: object): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin.write(body);
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString())?.[1]);
      if (this.buffer.length < headerEnd + 4 + length) return;
      const message = JSON.parse(this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8')) as Message;
      this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      this.dispatch(message);
    }
  }

  private dispatch(m: Message): void {
    if (m.method !== undefined && m.id !== undefined) {
      // A request from the server: configuration gets our settings, anything else a null result.
      const result =
        m.method === 'workspace/configuration'
          ? ((m.params as { items: { section?: string }[] }).items ?? []).map((item) => (item.section ? this.settings[item.section] ?? null : this.settings))
          : null;
      this.write({ jsonrpc: '2.0', id: m.id, result });
      return;
    }
    if (m.id !== undefined && m.method === undefined) {
      this.pending.get(Number(m.id))?.(m);
      this.pending.delete(Number(m.id));
      return;
    }
    for (const l of [...this.listeners]) l(m);
  }
}
