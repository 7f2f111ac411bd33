// Helpers for the remote-node e2e suites: Node manifests for the infra nodes, and read-only looks
// at each node's own dockerd from OUTSIDE the CLI process (so no CLI counter can fool a test).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { infraNode, type Infra } from './infra.js';

const execFileP = promisify(execFile);

/**
 * A Node document (YAML) for an infra node. By default it points at the node's own dockerd;
 * `providers` replaces that (a YAML flow mapping), `infraName` reaches another infra node under
 * this name, `pinHostKey` pins the node's host key instead of trusting on first use.
 */
export function nodeYaml(
  infra: Infra,
  name: string,
  opts: { providers?: string; infraName?: string; pinHostKey?: boolean } = {},
): string {
  const n = infraNode(infra, opts.infraName ?? name);
  return `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${name}}
spec:
  address: ${n.address}
  port: ${n.port}
  user: ${infra.user}
  identityFile: ${infra.clientKey}
${opts.pinHostKey ? `  hostKey: ${n.hostKeyPub}\n` : ''}  providers: ${opts.providers ?? `{docker: {socket: ${n.dockerSocket}}}`}
`;
}

/** Run the docker CLI against one infra node's dockerd. */
export async function dockerOn(infra: Infra, node: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', ['-H', `unix://${infraNode(infra, node).dockerSocket}`, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** name → id of the containers vendetta manages on a node (running or not). */
export async function managedContainers(infra: Infra, node: string): Promise<Map<string, string>> {
  const out = await dockerOn(infra, node, ['ps', '-a', '--no-trunc', '--filter', 'label=vendetta.dev/managed=true', '--format', '{{.Names}} {{.ID}}']);
  return new Map(out.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

export interface DockerEvent {
  Type: string;
  Action: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Unix time in seconds with milliseconds, the format `docker events --since/--until` takes. */
export function dockerTime(): string {
  return (Date.now() / 1000).toFixed(3);
}

/** Every event a node's dockerd emitted between since and until (both dockerTime()). */
export async function dockerEvents(infra: Infra, node: string, since: string, until: string): Promise<DockerEvent[]> {
  const out = await dockerOn(infra, node, ['events', '--since', since, '--until', until, '--format', '{{json .}}']);
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as DockerEvent);
}

/**
 * Events that change something: anything but exec sessions (vendetta reads service state with
 * `docker exec`, which is fine on a no-op apply). Actions look like "exec_start: /bin/sh -c …".
 */
export function mutatingEvents(events: DockerEvent[]): string[] {
  return events.filter((e) => !(e.Type === 'container' && e.Action.startsWith('exec_'))).map((e) => `${e.Type} ${e.Action.split(':')[0]}`);
}
