// One transport per node, created on first use and shared by everything that talks to that node.
import { LOCAL_ADDRESS, type NodeResource } from '../model/types.js';
import type { KeeperClient } from './keeper/client.js';
import { LocalTransport } from './local.js';
import type { Transport } from './types.js';

export interface TransportOptions {
  /** Refuse unknown host keys instead of trusting on first use. */
  strictHostKeys?: boolean;
  knownHostsPath?: string;
  /** Told when an unknown host key was trusted on first use and recorded. */
  onHostKeyLearned?: (info: { node: string; fingerprint: string; knownHostsPath: string }) => void;
  /** Reach SSH nodes through the connection keeper when one runs (short-lived CLI commands). */
  keeper?: KeeperClient;
}

/** A connected transport for `node`: local for address "local", else SSH with its host key verified. */
export async function createTransport(node: NodeResource, opts: TransportOptions = {}): Promise<Transport> {
  if (node.spec.address === LOCAL_ADDRESS) return new LocalTransport(node.metadata.name);
  if (opts.keeper) {
    const { strictHostKeys, knownHostsPath } = opts;
    const kept = await opts.keeper.transport(node, { strictHostKeys, knownHostsPath }, opts.onHostKeyLearned);
    if (kept) return kept;
  }
  // ssh2 loads with the first SSH node, not with every command.
  const { SshTransport } = await import('./ssh.js');
  const ssh = new SshTransport(node, opts);
  await ssh.connect();
  return ssh;
}

export class TransportPool {
  private readonly transports = new Map<string, Promise<Transport>>();

  constructor(private readonly opts: TransportOptions = {}) {}

  /**
   * The shared transport of `node`. A failed connect is not cached, so the next get retries;
   * a transport whose connection later drops reconnects by itself on its next call.
   */
  get(node: NodeResource): Promise<Transport> {
    // Keyed by how the node is reached, so an edited Node spec gets a fresh connection.
    const { address, port, user, identityFile, hostKey } = node.spec;
    const key = JSON.stringify([node.metadata.name, address, port, user, identityFile, hostKey]);
    let t = this.transports.get(key);
    if (!t) {
      t = createTransport(node, this.opts);
      this.transports.set(key, t);
      t.catch(() => {
        if (this.transports.get(key) === t) this.transports.delete(key);
      });
    }
    return t;
  }

  async closeAll(): Promise<void> {
    const all = [...this.transports.values()];
    this.transports.clear();
    await Promise.all(all.map((t) => t.then((x) => x.close()).catch(() => {})));
  }
}
