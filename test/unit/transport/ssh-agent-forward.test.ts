// ExecOptions.forwardAgent on SshTransport, against an in-process ssh2 server that records, per
// connection and session, whether the client asked for agent forwarding (auth-agent-req). The
// real sshd and git side is test/e2e/git-source.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type NodeResource } from '../../../src/model/types.js';
import { KeeperClient } from '../../../src/transport/keeper/client.js';
import { ConnectionKeeper } from '../../../src/transport/keeper/server.js';
import { generateEd25519 } from '../../../src/transport/keys.js';
import { SshTransport } from '../../../src/transport/ssh.js';

const dir = mkdtempSync(join(tmpdir(), 'vendetta-agentfwd-'));
const agentSock = join(dir, 'agent.sock'); // never dialled: the server takes the "none" login
const keyFile = join(dir, 'id_ed25519');
const saved = { sock: process.env.SSH_AUTH_SOCK, sshDir: process.env.VENDETTA_SSH_DIR, config: process.env.VENDETTA_SSH_CONFIG };
let server: InstanceType<typeof ssh2.Server>;
let port: number;
let refuse = false;
let connections = 0;
const transports: SshTransport[] = [];

beforeAll(async () => {
  writeFileSync(agentSock, '');
  // generateEd25519, not ssh2's generator alone: about one key in 300 of that is unreadable.
  writeFileSync(keyFile, generateEd25519('test').private, { mode: 0o600 });
  mkdirSync(join(dir, 'ssh'), { mode: 0o700 }); // no default keys
  process.env.VENDETTA_SSH_DIR = join(dir, 'ssh');
  server = new ssh2.Server({ hostKeys: [generateEd25519('host').private] }, (client) => {
    const conn = ++connections;
    client.on('error', () => {});
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () =>
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let agent = false;
        session.on('auth-agent', (accept, reject) => {
          if (refuse) return reject?.();
          agent = true;
          accept?.();
        });
        session.on('exec', (accept) => {
          const ch = accept();
          ch.write(`conn=${conn} agent=${agent}\n`);
          ch.exit(0);
          ch.end();
        });
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  refuse = false;
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

afterAll(async () => {
  for (const [k, v] of [['SSH_AUTH_SOCK', saved.sock], ['VENDETTA_SSH_DIR', saved.sshDir], ['VENDETTA_SSH_CONFIG', saved.config]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function nodeOf(spec: Partial<NodeResource['spec']> = {}): NodeResource {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', port, user: 'u', identityFile: keyFile, ...spec } };
}

function transport(spec: Partial<NodeResource['spec']> = {}, config = ''): SshTransport {
  const cfg = join(dir, `config-${transports.length}`);
  writeFileSync(cfg, config);
  process.env.VENDETTA_SSH_CONFIG = cfg;
  const node = nodeOf(spec);
  const t = new SshTransport(node, { knownHostsPath: join(dir, 'known_hosts'), connectAttempts: 1 });
  transports.push(t);
  return t;
}

const conn = (stdout: string) => Number(/conn=(\d+)/.exec(stdout)?.[1]);

describe('ExecOptions.forwardAgent over SSH', () => {
  it('forwards on a connection of its own, never on the shared one', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const t = transport({ forwardAgent: true });
    const plain = await t.exec(['true']);
    expect(plain.stdout).toContain('agent=false');
    expect(plain.agent).toBeUndefined();

    const fwd = await t.exec(['git', 'fetch'], { forwardAgent: true, stdin: 'x\n' });
    expect(fwd.agent).toBe('forwarded');
    expect(fwd.stdout).toContain('agent=true');
    expect(conn(fwd.stdout)).not.toBe(conn(plain.stdout));

    // the shared connection is the same as before, and never got the agent
    const after = await t.exec(['true']);
    expect(conn(after.stdout)).toBe(conn(plain.stdout));
    expect(after.stdout).toContain('agent=false');
    // each forwarded exec gets a new connection of its own
    const again = await t.exec(['git', 'fetch'], { forwardAgent: true });
    expect(conn(again.stdout)).not.toBe(conn(fwd.stdout));
    expect(conn(again.stdout)).not.toBe(conn(plain.stdout));
  });

  it('refused by the server: runs on the shared connection without it, and says refused', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    refuse = true;
    const t = transport({ forwardAgent: true });
    const plain = await t.exec(['true']);
    const r = await t.exec(['git', 'fetch'], { forwardAgent: true });
    expect(r.agent).toBe('refused');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('agent=false');
    expect(conn(r.stdout)).toBe(conn(plain.stdout));
  });

  it('not allowed by the Node, or no agent here: runs without, and says why', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const off = await transport().exec(['git'], { forwardAgent: true });
    expect(off.agent).toBe('disabled');
    expect(off.stdout).toContain('agent=false');
    const no = await transport({ forwardAgent: false }, 'Host 127.0.0.1\n  ForwardAgent yes\n').exec(['git'], { forwardAgent: true });
    expect(no.agent).toBe('disabled');

    delete process.env.SSH_AUTH_SOCK;
    const none = await transport({ forwardAgent: true }).exec(['git'], { forwardAgent: true });
    expect(none.agent).toBe('no-agent');
    expect(none.stdout).toContain('agent=false');
  });

  it("the ssh config's ForwardAgent yes allows it when the Node says nothing", async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const t = transport({}, 'Host 127.0.0.1\n  ForwardAgent yes\n');
    expect(t.agentForwardingAllowed).toBe(true);
    const r = await t.exec(['git'], { forwardAgent: true });
    expect(r.agent).toBe('forwarded');
    expect(r.stdout).toContain('agent=true');
  });
});

describe('ExecOptions.forwardAgent through the connection keeper', () => {
  it('travels the keeper protocol: the keeper forwards on its own connection, and says so', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    process.env.VENDETTA_SSH_CONFIG = join(dir, 'no-config');
    const keeper = new ConnectionKeeper({ socketPath: join(dir, 'k.sock'), idleMs: 60_000 });
    expect(await keeper.listen()).toBe(true);
    try {
      const t = await new KeeperClient({ socketPath: join(dir, 'k.sock') }).transport(nodeOf({ forwardAgent: true }), { knownHostsPath: join(dir, 'known_hosts') });
      if (!t) throw new Error('no keeper answered');
      const plain = await t.exec(['true']);
      const fwd = await t.exec(['git', 'fetch'], { forwardAgent: true, stdin: 'tok\n' });
      expect(fwd.agent).toBe('forwarded');
      expect(fwd.stdout).toContain('agent=true');
      expect(conn(fwd.stdout)).not.toBe(conn(plain.stdout));
      const after = await t.exec(['true']);
      expect(after.stdout).toBe(plain.stdout); // the kept connection, never forwarded
      // not asked: nothing forwarded, nothing said
      expect((await t.exec(['git'])).agent).toBeUndefined();
      // a Node without the opt-in is another kept connection, which does not forward
      const off = await new KeeperClient({ socketPath: join(dir, 'k.sock') }).transport(nodeOf(), { knownHostsPath: join(dir, 'known_hosts') });
      expect((await off!.exec(['git'], { forwardAgent: true })).agent).toBe('disabled');
    } finally {
      await keeper.close();
    }
  });
});
