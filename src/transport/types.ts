// A Transport runs things on one node. `local` nodes use child processes; remote nodes use one
// shared ssh2 connection. Everything above this interface is the same code for both.
//
// Commands are always argv arrays. A transport that needs a shell string (SSH) quotes the argv
// with `shellQuote` from ./quote.ts — nothing from a manifest is ever pasted into a shell unquoted.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Extra environment for the command (passed as `env K=V … argv` on SSH). */
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the command and reject with a TransportError after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Ask for the controller's SSH agent (SSH_AUTH_SOCK) to be forwarded to this one command: only
   * for the node's git fetches of ssh URLs (src/providers/git-source.ts), never anything else.
   * Honoured only where the Node allows it (spec.forwardAgent, else the ssh config's
   * ForwardAgent), and then on an SSH connection of its own that closes with the command: sshd
   * gives the agent socket to every later session of a connection once one asked for it, so a
   * shared connection would hand it to everything else run there. A local node ignores it (the
   * command already inherits SSH_AUTH_SOCK).
   */
  forwardAgent?: boolean;
}

/** What became of ExecOptions.forwardAgent (absent when it was not asked for). */
export type AgentForwarding =
  /** The agent was forwarded to the command. */
  | 'forwarded'
  /** The Node does not allow it (spec.forwardAgent / ForwardAgent not set): ran without. */
  | 'disabled'
  /** No agent on the controller (SSH_AUTH_SOCK unset or gone): ran without. */
  | 'no-agent'
  /** The node's sshd refused it (AllowAgentForwarding no): ran without. */
  | 'refused'
  /** A local node: the command inherits the environment's SSH_AUTH_SOCK. */
  | 'local';

export interface ExecResult {
  /** Exit code; 128+N when killed by signal N. */
  code: number;
  stdout: string;
  stderr: string;
  /** Set when ExecOptions.forwardAgent was asked for. */
  agent?: AgentForwarding;
}

/** A long-running or interactive command: `logs -f`, `shell`, `exec` with a TTY. */
export interface SpawnedProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves with the exit code. */
  wait(): Promise<number>;
  kill(signal?: NodeJS.Signals): void;
  /** PTY only: tell the remote side the terminal size changed. */
  resize?(rows: number, cols: number): void;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /**
   * A person's command (`exec`, `shell`): its environment is the workspace's, as a service's is
   * (PATH and HOME from where it runs, TERM with a PTY, then `env`), not the caller's or the
   * transport's. Providers whose exec already starts from the workspace's own environment
   * (containers, VMs) need do nothing.
   */
  asWorkspace?: boolean;
  /** Allocate a pseudo-terminal (interactive shell). */
  pty?: { rows: number; cols: number; term?: string };
}

export interface Transport {
  /** Node name this transport reaches. */
  readonly node: string;
  /** "local" or "user@host:port", for messages. */
  readonly describe: string;

  /** Run argv to completion. Rejects only on transport failure; a non-zero exit is a result. */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  spawn(argv: string[], opts?: SpawnOptions): Promise<SpawnedProcess>;

  /** Copy a local file or directory tree to `remotePath` on the node (created, replaced). */
  upload(localPath: string, remotePath: string): Promise<void>;
  writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  readFile(remotePath: string): Promise<Buffer>;

  /** A TCP connection opened *from the node* (direct-tcpip on SSH). */
  connectTcp(host: string, port: number): Promise<Duplex>;
  /** A unix-socket connection opened on the node (stream-local forwarding on SSH). */
  connectUnix(path: string): Promise<Duplex>;

  /** Home directory of the login user on the node (for default state roots). */
  home(): Promise<string>;

  close(): Promise<void>;
}

/** A failure to reach or talk to a node (as opposed to a command that ran and failed). */
export class TransportError extends Error {
  constructor(
    readonly node: string,
    message: string,
    /** What the user can do about it. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/** The presented host key is not the one we know: never retried, never ignored. */
export class HostKeyMismatchError extends TransportError {
  constructor(
    node: string,
    readonly expectedFingerprint: string,
    readonly presentedFingerprint: string,
    hint: string,
  ) {
    super(
      node,
      `host key for node ${node} changed: expected ${expectedFingerprint}, presented ${presentedFingerprint}`,
      hint,
    );
    this.name = 'HostKeyMismatchError';
  }
}
