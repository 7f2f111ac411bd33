// Shared e2e helpers: the real sshd nodes started by test/infra/up.sh, and throwaway client state
// (VENDETTA_HOME, known_hosts, ssh dir) so tests never touch the real ~/.ssh or ~/.vendetta.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { API_VERSION, type NodeResource, type NodeSpec } from '../../../src/model/types.js';

export interface InfraNode {
  name: string;
  address: string;
  port: number;
  /** Path of this node's own dockerd socket (on the node; group vdtest). */
  dockerSocket: string;
  /** "ssh-ed25519 AAAA…" of the node's original host key. */
  hostKeyPub: string;
}

export interface Infra {
  /** State dir of the infra (VENDETTA_E2E_DIR, default /tmp/vendetta-e2e). */
  dir: string;
  /** Private key that logs in as `user` on every node. */
  clientKey: string;
  user: string;
  /** Local image present in every node's dockerd. */
  image: string;
  /** A user that may log in with a password (key installation tests); `user` is key-only. */
  passwordUser: { user: string; password: string };
  nodes: InfraNode[];
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const INFRA_SCRIPTS = join(REPO_ROOT, 'test/infra');

export function infraDir(): string {
  return process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e';
}

/** Read env.json written by test/infra/up.sh. Throws (so e2e fails, never skips) when missing. */
export function loadInfra(): Infra {
  const file = join(infraDir(), 'env.json');
  if (!existsSync(file)) {
    throw new Error(`e2e infra is not running: ${file} is missing. Start it with: sudo bash test/infra/up.sh`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Infra;
}

export function infraNode(infra: Infra, name: string): InfraNode {
  const n = infra.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`e2e infra has no node ${name} (have: ${infra.nodes.map((x) => x.name).join(', ')})`);
  return n;
}

/** A Node resource that reaches an infra node as the test user with the client key. */
export function nodeResource(infra: Infra, name: string, spec: Partial<NodeSpec> = {}, resourceName = name): NodeResource {
  const n = infraNode(infra, name);
  return {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name: resourceName },
    spec: { address: n.address, port: n.port, user: infra.user, identityFile: infra.clientKey, ...spec },
  };
}

/** known_hosts lines trusting the given infra nodes' original host keys. */
export function knownHostsLines(infra: Infra, names = infra.nodes.map((n) => n.name)): string {
  return names.map((name) => {
    const n = infraNode(infra, name);
    return `[${n.address}]:${n.port} ${n.hostKeyPub}\n`;
  }).join('');
}

export interface TempDir {
  dir: string;
  cleanup(): Promise<void>;
}

export async function makeTempDir(prefix = 'vendetta-test-'): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }) };
}

/** A known_hosts file in a temp dir; `trust` lists the infra nodes to pre-trust (default: none). */
export async function makeKnownHosts(infra: Infra, trust: string[] = []): Promise<TempDir & { path: string }> {
  const t = await makeTempDir('vendetta-kh-');
  const path = join(t.dir, 'known_hosts');
  await writeFile(path, trust.length ? knownHostsLines(infra, trust) : '', { mode: 0o600 });
  return { ...t, path };
}

export interface TempHome extends TempDir {
  /** Env for a vendetta process: VENDETTA_HOME, VENDETTA_KNOWN_HOSTS, VENDETTA_SSH_DIR. */
  env: Record<string, string>;
  knownHostsPath: string;
  sshDir: string;
}

/**
 * A throwaway VENDETTA_HOME with its own ssh dir (holding the infra client key as id_ed25519, so
 * default key discovery works) and a known_hosts that trusts every infra node.
 */
export async function makeTempHome(infra: Infra, opts: { trustNodes?: boolean } = {}): Promise<TempHome> {
  const t = await makeTempDir('vendetta-home-');
  const sshDir = join(t.dir, 'ssh');
  await mkdir(sshDir, { mode: 0o700 });
  await copyFile(infra.clientKey, join(sshDir, 'id_ed25519'));
  await copyFile(`${infra.clientKey}.pub`, join(sshDir, 'id_ed25519.pub'));
  const knownHostsPath = join(sshDir, 'known_hosts');
  await writeFile(knownHostsPath, opts.trustNodes === false ? '' : knownHostsLines(infra), { mode: 0o600 });
  return {
    ...t,
    sshDir,
    knownHostsPath,
    env: { VENDETTA_HOME: t.dir, VENDETTA_KNOWN_HOSTS: knownHostsPath, VENDETTA_SSH_DIR: sshDir },
  };
}

const execFileP = promisify(execFile);

/**
 * test/infra/nodes.sh: start | stop | rekey | kill-sessions one node's sshd; dockerd-kill (SIGKILL,
 * a crash) | dockerd-start (the command line up.sh uses) its dockerd.
 */
export async function nodeCtl(cmd: 'start' | 'stop' | 'rekey' | 'kill-sessions' | 'dockerd-kill' | 'dockerd-start', name: string): Promise<void> {
  await execFileP('bash', [join(INFRA_SCRIPTS, 'nodes.sh'), cmd, name], { env: { ...process.env, VENDETTA_E2E_DIR: infraDir() } });
}

/** The public key the node presents after `nodeCtl('rekey', name)`. */
export function rekeyedHostKey(name: string): string {
  return readFileSync(join(infraDir(), 'nodes', name, 'rekey_host_key.pub'), 'utf8').trim();
}
