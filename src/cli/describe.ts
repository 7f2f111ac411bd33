// vendetta describe KIND NAME : spec summary, conditions and recent events, kubectl style.
import type { Command } from 'commander';
import { openReadStore } from './read-store.js';
import { renderTable, age } from '../output/table.js';
import { resourceId, type EventRecord, type ObservedVolume, type WorkspaceSpec } from '../model/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import type { TransportPool } from '../transport/pool.js';
import type { GlobalOptions } from './context.js';
import { selectRecords } from './get.js';
import { cliTransportOptions } from './keeper.js';

export function registerDescribe(program: Command): void {
  program
    .command('describe')
    .description('show a resource in detail: spec, status, conditions and recent events')
    .argument('<kind>', 'node | workspace | service')
    .argument('[name]', 'resource name (default: all of that kind)')
    .action(async (kindWord: string, name: string | undefined, _flags: unknown, cmd: Command) => {
      const store = await openReadStore(); // the server's store in client mode
      const records = await selectRecords(store, kindWord, name);
      // Loaded here, not at the top of the file, so the rest of the CLI starts without them.
      const { stringify } = await import('yaml');
      const { TransportPool } = await import('../transport/pool.js');
      const blocks: string[] = [];
      // One connection per node for the whole command, for live diagnostics.
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: (cmd.optsWithGlobals() as GlobalOptions).strictHostKeys }));
      try {
        for (const r of records) {
          const lines: string[] = [];
          lines.push(`Name:         ${r.name}`, `Kind:         ${r.kind}`, `Apply set:    ${r.applySet}`,
            `Generation:   ${r.generation} (observed ${r.status?.observedGeneration ?? 0})`, `Applied:      ${r.appliedAt || '- (built in)'}`);
          if (r.resource.source) lines.push(`Source:       ${r.resource.source.file}:${r.resource.source.line}`);
          lines.push(`Phase:        ${r.status?.phase ?? 'Pending'}`);
          for (const [k, v] of Object.entries(r.status?.details ?? {})) lines.push(`${(k[0]!.toUpperCase() + k.slice(1) + ':').padEnd(14)}${v}`);
          lines.push('Spec:', indent(stringify(r.resource.spec).trimEnd(), 2));
          const conds = r.status?.conditions ?? [];
          lines.push('Conditions:');
          lines.push(conds.length ? indent(renderTable(['TYPE', 'STATUS', 'REASON', 'MESSAGE', 'SINCE'],
            conds.map((c) => [c.type, c.status, c.reason, c.message, age(c.lastTransitionTime)])), 2) : '  <none>');
          if (r.kind === 'Workspace') lines.push(...(await workspaceVolumes(store, pool, r)), ...(await workspaceDiagnostics(store, pool, r)));
          const events = await store.events({ object: resourceId(r.kind, r.name), limit: 20 });
          lines.push('Events:');
          lines.push(events.length ? indent(renderTable(['AGE', 'TYPE', 'REASON', 'MESSAGE'],
            events.map((e) => [age(e.time), e.type, e.reason, withActor(e)])), 2) : '  <none>');
          blocks.push(lines.join('\n'));
        }
      } finally {
        await pool.closeAll();
      }
      process.stdout.write(blocks.join('\n\n---\n\n') + '\n');
    });
}

/**
 * The workspace's volumes: declared path and size, and the usage where the provider reads it
 * cheaply (process: du on the node). One listing of this workspace's volumes; never fails describe.
 */
async function workspaceVolumes(store: Store, pool: TransportPool, r: AppliedRecord): Promise<string[]> {
  const spec = r.resource.spec as WorkspaceSpec;
  if (!spec.volumes?.length) return [];
  const { sizeEnforced } = await import('../model/volumes.js');
  let found: ObservedVolume[] | undefined;
  let problem: string | undefined;
  try {
    const { drivers } = await import('./drivers.js');
    const { nodeResource } = await import('./runtime.js');
    const node = await nodeResource(store, spec.node);
    found = (await drivers()[spec.provider]?.listVolumes?.({ node, transport: await pool.get(node), applySet: r.applySet }, [r.name])) ?? [];
  } catch (e) {
    problem = (e as Error).message;
  }
  const rows = spec.volumes.map((v) => {
    const seen = found?.find((f) => f.name === v.name);
    const size = v.size === undefined ? '-' : sizeEnforced(spec.provider) ? v.size : `${v.size} (not enforced)`;
    const used = seen?.usedBytes !== undefined ? formatBytes(seen.usedBytes) : found && !seen ? 'not made yet' : '-';
    return [v.name, v.path, size, used];
  });
  return ['Volumes:', indent(renderTable(['NAME', 'PATH', 'SIZE', 'USED'], rows), 2), ...(problem ? [`  (not listed on the node: ${problem})`] : [])];
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(1)}${units[i]}`;
}

/** Live diagnostics from the workspace's driver (a VM's serial console); never fails describe. */
async function workspaceDiagnostics(store: Store, pool: TransportPool, r: AppliedRecord): Promise<string[]> {
  const spec = r.resource.spec as WorkspaceSpec;
  const { drivers } = await import('./drivers.js');
  const driver = drivers()[spec.provider];
  if (!driver?.diagnostics) return [];
  try {
    const { nodeResource } = await import('./runtime.js');
    const node = await nodeResource(store, spec.node);
    const transport = await pool.get(node);
    const sections = await driver.diagnostics({ node, transport, applySet: r.applySet }, r.name);
    return Object.entries(sections).flatMap(([title, text]) => [`${title}:`, indent(text, 2)]);
  } catch (e) {
    return [`Diagnostics:  unavailable (${(e as Error).message})`];
  }
}

function indent(text: string, n: number): string {
  return text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
}

/** The event's message, with who asked when the message does not say it already ("applied by alice"). */
function withActor(e: EventRecord): string {
  return e.by && !e.message.includes(`by ${e.by}`) ? `${e.message} (by ${e.by})` : e.message;
}
