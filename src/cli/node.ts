// vendetta node add|list|status|test|remove : the node inventory (from the original plan).
import type { Command } from 'commander';
import { API_VERSION, LOCAL_ADDRESS, LOCAL_NODE, type Condition, type NodeResource } from '../model/types.js';
import { openStore } from '../store/file-store.js';
import type { Store } from '../store/types.js';
import { TransportPool } from '../transport/pool.js';
import { probeNode, testNode, type NodeProbe } from '../nodes/probe.js';
import { renderTable, age } from '../output/table.js';
import { structured } from '../output/format.js';
import { detectStyle } from '../output/style.js';
import { toApiObject } from '../output/objects.js';
import { outputOption } from './options.js';
import type { GlobalOptions } from './context.js';
import { drivers } from './drivers.js';
import { IMPLICIT_LOCAL_NODE, nodeResource } from './runtime.js';
import { ExitError, UsageError } from './errors.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { cliKeeper } from './keeper.js';

/** Node records added with `node add` belong to this apply set (never pruned by manifests). */
export const NODE_CLI_APPLYSET = 'node-cli';
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function registerNode(program: Command): void {
  const node = program.command('node').description('manage the nodes workspaces run on');

  node
    .command('add')
    .description('add a node reached over SSH (generates and installs a key when needed)')
    .argument('<name>', 'node name (lowercase letters, digits, -)')
    .argument('<address>', 'host name or IP address, or "local"')
    .option('--user <user>', 'login user on the node')
    .option('--port <port>', 'SSH port (default: the ssh config\'s Port for the address, else 22)')
    .option('--identity <file>', 'private key to log in with (default: agent, ~/.ssh/id_ed25519, id_ecdsa, id_rsa)')
    .option('--host-key <key>', 'pin the host key ("ssh-ed25519 AAAA…") instead of trusting on first use')
    .option('--docker-socket <path>', 'Docker Engine socket on the node (default /var/run/docker.sock)')
    .option('--password-stdin', 'read the login password from stdin once, to install the public key')
    .option('--dry-run', 'print the Node manifest instead of adding it')
    .addOption(outputOption(['text', 'yaml', 'json'], 'text'))
    .action(async (name: string, address: string, flags: AddFlags, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const resource = nodeFromFlags(name, address, flags);
      if (flags.dryRun) {
        process.stdout.write(structured(resource, flags.output === 'json' ? 'json' : 'yaml') + '\n');
        return;
      }
      const store = await openStore();
      if (address !== LOCAL_ADDRESS) await ensureKey(resource, flags, global);
      await store.putApplied(resource, NODE_CLI_APPLYSET);
      const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
      try {
        const probe = await probeNode(resource, pool);
        await recordProbe(store, name, probe);
        if (flags.output !== 'text') {
          process.stdout.write(structured(toApiObject((await store.get(`node/${name}`))!), flags.output as 'yaml' | 'json') + '\n');
        }
        if (!probe.reachable) {
          throw new ExitError(`node ${name} was added but is not reachable: ${probe.error}`, 1, probe.hint ?? `fix it, then run \`vendetta node test ${name}\``);
        }
        if (flags.output === 'text') process.stdout.write(`node/${name} added: Ready (${probe.latencyMs} ms round trip)\n`);
      } finally {
        await pool.closeAll();
      }
    });

  node
    .command('list')
    .description('list nodes with their last known status')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (flags: { output: string }) => {
      const store = await openStore();
      const nodes = await allNodes(store);
      if (flags.output !== 'table') {
        process.stdout.write(structured({ apiVersion: API_VERSION, kind: 'List', items: nodes.map((n) => n.object) }, flags.output as 'json') + '\n');
        return;
      }
      process.stdout.write(
        renderTable(['NODE', 'ADDRESS', 'USER', 'PORT', 'STATUS', 'LAST CONTACT', 'LATENCY'],
          nodes.map(({ resource, status }) => [
            resource.metadata.name,
            resource.spec.address,
            resource.spec.user,
            resource.spec.address === LOCAL_ADDRESS ? undefined : resource.spec.port ?? 22,
            status?.phase ?? 'Unknown',
            status?.details?.lastContact ? age(String(status.details.lastContact)) + ' ago' : undefined,
            status?.details?.latency,
          ])) + '\n',
      );
    });

  node
    .command('status')
    .description('check a node now: Ready condition, latency, workspaces on it')
    .argument('<name>', 'node name')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (name: string, flags: { output: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const store = await openStore();
      const resource = await nodeResource(store, name);
      const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
      try {
        const probe = await probeNode(resource, pool);
        const status = await recordProbe(store, name, probe);
        const workspaces = (await store.list('Workspace')).filter((w) => (w.resource.spec as { node: string }).node === name);
        if (flags.output !== 'text') {
          process.stdout.write(structured({ node: name, ...probe, status, workspaces: workspaces.map((w) => ({ name: w.name, phase: w.status?.phase ?? 'Pending' })) }, flags.output as 'json') + '\n');
        } else {
          const style = detectStyle();
          const ready = status.conditions.find((c) => c.type === 'Ready')!;
          const lines = [
            `Node:          ${name} (${resource.spec.address === LOCAL_ADDRESS ? 'this machine' : await routeOf(resource)})`,
            `Ready:         ${ready.status === 'True' ? style.green('True') : style.red('False')} (${ready.reason}) ${ready.message}`,
            `Last contact:  ${status.details?.lastContact ?? 'never'}`,
            `Latency:       ${probe.latencyMs !== undefined ? `${probe.latencyMs} ms` : '-'}`,
            `Workspaces:    ${workspaces.length ? workspaces.map((w) => `${w.name} (${w.status?.phase ?? 'Pending'})`).join(', ') : '<none>'}`,
          ];
          if (probe.hint) lines.push(`  → ${probe.hint}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (!probe.reachable) throw new ExitError('', 1);
      } finally {
        await pool.closeAll();
      }
    });

  node
    .command('test')
    .description('check everything a node needs: reachability, host key, auth, providers, disk, memory')
    .argument('<name>', 'node name')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (name: string, flags: { output: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const store = await openStore();
      const resource = await nodeResource(store, name);
      const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
      try {
        const checks = await testNode(resource, pool, drivers());
        if (flags.output !== 'text') process.stdout.write(structured({ node: name, checks }, flags.output as 'json') + '\n');
        else {
          const style = detectStyle();
          for (const c of checks) {
            process.stdout.write(`${c.ok ? style.green('✓') : style.red('✗')} ${c.check.padEnd(18)} ${c.detail}\n`);
            if (!c.ok && c.hint) process.stdout.write(`  ${' '.repeat(18)} → ${c.hint}\n`);
          }
        }
        // Providers a node does not have are fine unless a workspace needs them: only the
        // connection checks decide the exit code.
        const fatal = checks.filter((c) => !c.ok && !c.check.startsWith('provider '));
        if (fatal.length) throw new ExitError('', 1);
      } finally {
        await pool.closeAll();
      }
    });

  node
    .command('disconnect')
    .description('close the SSH connections kept open between commands (see VENDETTA_SSH_PERSIST)')
    .action(async () => {
      const closed = await cliKeeper()?.stop();
      process.stdout.write(closed === undefined ? 'no connections are kept\n' : `closed ${closed} kept connection${closed === 1 ? '' : 's'}\n`);
    });

  node
    .command('remove')
    .description('forget a node (refuses while workspaces are on it, unless --force)')
    .argument('<name>', 'node name')
    .option('--force', 'remove even though workspaces still reference it')
    .action(async (name: string, flags: { force?: boolean }) => {
      const store = await openStore();
      const rec = await store.get(`node/${name}`);
      if (!rec) throw new ExitError(`node "${name}" is not known`, 1, 'see `vendetta node list`');
      const onIt = (await store.list('Workspace')).filter((w) => (w.resource.spec as { node: string }).node === name);
      if (onIt.length && !flags.force) {
        throw new ExitError(
          `node ${name} still has workspaces: ${onIt.map((w) => w.name).join(', ')}`,
          1,
          `delete them first (vendetta delete workspace ${onIt.map((w) => w.name).join(' ')}) or pass --force`,
        );
      }
      await store.remove(`node/${name}`);
      process.stdout.write(`node/${name} removed${onIt.length ? ` (workspaces left on it: ${onIt.map((w) => w.name).join(', ')})` : ''}\n`);
    });
}

interface AddFlags {
  user?: string;
  port?: string;
  identity?: string;
  hostKey?: string;
  dockerSocket?: string;
  passwordStdin?: boolean;
  dryRun?: boolean;
  output: string;
}

/** How an SSH node is reached after ~/.ssh/config: "user@host:port via bastion"; the spec when that fails. */
async function routeOf(resource: NodeResource): Promise<string> {
  const { resolveNodeRoute, describeRoute } = await import('../transport/ssh.js');
  try {
    return describeRoute(resolveNodeRoute(resource));
  } catch {
    // the probe above already reported the config error
    return `${resource.spec.user ?? ''}${resource.spec.user ? '@' : ''}${resource.spec.address}:${resource.spec.port ?? 22}`;
  }
}

function nodeFromFlags(name: string, address: string, flags: AddFlags): NodeResource {
  if (!NAME.test(name)) throw new UsageError(`"${name}" is not a valid node name`, 'use lowercase letters, digits and "-" (max 63)');
  // No --port: none in the spec, so ~/.ssh/config's Port (or 22) applies.
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new UsageError(`invalid --port "${flags.port}"`, 'use a number from 1 to 65535');
  if (/[\s'"`$;&|<>\\]/.test(address) || address.startsWith('-')) throw new UsageError(`invalid address "${address}"`, 'use a host name or an IP address');
  const spec: NodeResource['spec'] = { address };
  if (address !== LOCAL_ADDRESS) {
    if (port !== undefined) spec.port = port;
    if (flags.user) spec.user = flags.user;
    if (flags.identity) spec.identityFile = flags.identity;
    if (flags.hostKey) spec.hostKey = flags.hostKey;
  }
  if (flags.dockerSocket) spec.providers = { docker: { socket: flags.dockerSocket } };
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec };
}

/** Make sure there is a key to log in with, generating one and installing it when asked. */
async function ensureKey(node: NodeResource, flags: AddFlags, global: GlobalOptions): Promise<void> {
  const log = (m: string) => process.stderr.write(m + '\n');
  // keys.js needs ssh2: loaded only by `node add`, not by every command.
  const { findDefaultKey, generateKey, installCommand, installPublicKey, sshDir, expandHome } = await import('../transport/keys.js');
  if (node.spec.identityFile && !existsSync(expandHome(node.spec.identityFile))) {
    throw new ExitError(`identity file ${node.spec.identityFile} does not exist`, 1, 'pass an existing private key to --identity, or leave it out to use ~/.ssh/id_ed25519');
  }
  let keyPath = node.spec.identityFile ? expandHome(node.spec.identityFile) : findDefaultKey();
  if (!keyPath && !process.env.SSH_AUTH_SOCK) {
    keyPath = join(sshDir(), 'id_ed25519');
    await generateKey(keyPath);
    log(`generated a new ed25519 key: ${keyPath}`);
  }
  if (flags.passwordStdin) {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (!password) throw new UsageError('--password-stdin: stdin was empty', 'echo "$PASSWORD" | vendetta node add … --password-stdin');
    const r = await installPublicKey(node, password, { strictHostKeys: global.strictHostKeys });
    log(r.result === 'added' ? `installed ${r.privateKeyPath}.pub on ${node.metadata.name}` : `public key already installed on ${node.metadata.name}`);
  } else if (keyPath) {
    log(`using key ${keyPath}; if the node does not accept it yet, run: ${installCommand(node, `${keyPath}.pub`)}`);
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d) => (data += d));
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

async function recordProbe(store: Store, name: string, probe: NodeProbe) {
  const now = new Date().toISOString();
  const record = await store.get(`node/${name}`);
  const previous = record?.status;
  const prevReady = previous?.conditions.find((c) => c.type === 'Ready');
  const statusValue = probe.reachable ? 'True' : 'False';
  const ready: Condition = {
    type: 'Ready',
    status: statusValue,
    reason: probe.reachable ? 'Reachable' : 'Unreachable',
    message: probe.reachable ? `exec round trip ${probe.latencyMs} ms` : probe.error ?? 'unreachable',
    lastTransitionTime: prevReady?.status === statusValue ? prevReady.lastTransitionTime : now,
  };
  const status = {
    phase: probe.reachable ? ('Ready' as const) : ('NotReady' as const),
    conditions: [ready],
    observedGeneration: record?.generation ?? 0,
    details: {
      ...(previous?.details ?? {}),
      ...(probe.reachable ? { lastContact: now, latency: `${probe.latencyMs} ms` } : {}),
    },
  };
  if (record) await store.setStatus(`node/${name}`, status);
  return status;
}

async function allNodes(store: Store) {
  const records = (await store.list('Node')).sort((a, b) => a.name.localeCompare(b.name));
  const out = records.map((r) => ({ resource: r.resource as NodeResource, status: r.status, object: toApiObject(r) }));
  if (!records.some((r) => r.name === LOCAL_NODE)) {
    out.unshift({
      resource: IMPLICIT_LOCAL_NODE,
      status: { phase: 'Ready', conditions: [], observedGeneration: 0, details: { implicit: true } },
      object: { apiVersion: API_VERSION, kind: 'Node', metadata: { name: LOCAL_NODE }, spec: IMPLICIT_LOCAL_NODE.spec, status: { phase: 'Ready' } },
    });
  }
  return out;
}
