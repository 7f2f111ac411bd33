// The LXC daemons of the e2e infra: LXD (test/infra/lxd.sh -> lxd.json) and Incus
// (test/infra/incus.sh -> incus.json), each in its own netns on node n1. The LXC suites run once
// per daemon; a missing file means that infra is down, which fails the suite (never skips it).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { infraDir } from './infra.js';

const execFileP = promisify(execFile);

export interface LxcInfra {
  flavor: 'lxd' | 'incus';
  version: string;
  /** The daemon's REST socket on node n1 (usable by the node user). */
  socket: string;
  image: string;
  /** Another alias of the same image: an image change without a download. */
  image2: string;
  /** Address (on the host side of the daemon's netns) where proxy devices listen and nodes reach. */
  listenAddress: string;
  /** e.g. 10.217.1.0/24: the bridge every container joins. */
  containerSubnet: string;
  nodes: string[];
}

const FILES = { lxd: 'lxd.json', incus: 'incus.json' } as const;

export function loadLxcInfra(flavor: 'lxd' | 'incus'): LxcInfra {
  const file = join(infraDir(), FILES[flavor]);
  if (!existsSync(file)) {
    throw new Error(`${flavor === 'lxd' ? 'LXD' : 'Incus'} e2e infra is not running: ${file} is missing. Start it with: sudo bash test/infra/up.sh`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as LxcInfra;
}

/** Both daemons, for describe.each: a suite runs against LXD and against Incus in the same run. */
export function lxcDaemons(): LxcInfra[] {
  return [loadLxcInfra('lxd'), loadLxcInfra('incus')];
}

/** The daemon's own CLI as root (`lxc` or `incus`), stdin closed (`init` reads a config from a piped stdin). */
export async function daemonCli(d: LxcInfra, args: string[]): Promise<string> {
  const dir = d.socket.replace(/\/unix\.socket$/, '');
  const env = d.flavor === 'incus' ? { ...process.env, INCUS_DIR: dir } : { ...process.env, LXD_DIR: dir };
  const pending = execFileP(d.flavor === 'incus' ? 'incus' : 'lxc', args, { env });
  pending.child.stdin?.end();
  return (await pending).stdout;
}

/** A regex matching addresses in the daemon's container subnet (a /24). */
export function subnetPattern(d: LxcInfra): RegExp {
  const prefix = d.containerSubnet.replace(/\.0\/24$/, '.');
  return new RegExp(`^${prefix.replace(/\./g, '\\.')}\\d+$`);
}
