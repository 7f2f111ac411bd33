// vendetta get [KIND [NAME]] : applied resources with their last reconciled status.
import type { Command } from 'commander';
import type { Kind } from '../model/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import { openReadStore } from './client.js';
import { renderTable, age } from '../output/table.js';
import { toApiObject, toList } from '../output/objects.js';
import { structured } from '../output/format.js';
import { outputOption } from './options.js';
import { ExitError, UsageError } from './errors.js';

const KIND_ALIASES: Record<string, Kind> = {
  node: 'Node', nodes: 'Node', no: 'Node',
  workspace: 'Workspace', workspaces: 'Workspace', ws: 'Workspace',
  service: 'Service', services: 'Service', svc: 'Service',
};

export function parseKind(word: string): Kind {
  const kind = KIND_ALIASES[word.toLowerCase()];
  if (!kind) throw new UsageError(`unknown resource type "${word}"`, 'use nodes, workspaces or services');
  return kind;
}

export async function selectRecords(store: Store, kindWord?: string, name?: string): Promise<AppliedRecord[]> {
  const kinds: Kind[] = kindWord ? [parseKind(kindWord)] : ['Node', 'Workspace', 'Service'];
  const out: AppliedRecord[] = [];
  for (const kind of kinds) {
    const records = (await store.list(kind)).sort((a, b) => a.name.localeCompare(b.name));
    out.push(...records.filter((r) => !name || r.name === name));
  }
  if (name && out.length === 0) throw new ExitError(`${kinds[0]!.toLowerCase()} "${name}" not found`, 1, 'see `vendetta get`');
  return out;
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('list nodes, workspaces and services with their status')
    .argument('[kind]', 'nodes | workspaces | services (default: all)')
    .argument('[name]', 'one resource by name')
    .addOption(outputOption(['table', 'wide', 'json', 'yaml'], 'table'))
    .action(async (kindWord: string | undefined, name: string | undefined, flags: { output: string }) => {
      const store = await openReadStore(); // the server's store in client mode
      const records = await selectRecords(store, kindWord, name);
      if (flags.output === 'json' || flags.output === 'yaml') {
        const objects = records.map(toApiObject);
        const data = name && objects.length === 1 ? objects[0] : toList(objects);
        process.stdout.write(structured(data, flags.output) + '\n');
        return;
      }
      const wide = flags.output === 'wide';
      const sections: string[] = [];
      for (const kind of ['Node', 'Workspace', 'Service'] as Kind[]) {
        const rows = records.filter((r) => r.kind === kind);
        if (rows.length) sections.push(tableFor(kind, rows, wide));
      }
      process.stdout.write((sections.join('\n\n') || 'No resources applied yet. Try: vendetta apply -f manifests/quickstart') + '\n');
    });
}

function detail(r: AppliedRecord, key: string): string | undefined {
  const v = r.status?.details?.[key];
  return v === undefined ? undefined : String(v);
}

function tableFor(kind: Kind, rows: AppliedRecord[], wide: boolean): string {
  const phase = (r: AppliedRecord) => r.status?.phase ?? 'Pending';
  if (kind === 'Node') {
    const h = ['NODE', 'ADDRESS', 'STATUS', 'AGE', ...(wide ? ['USER', 'PORT', 'LATENCY'] : [])];
    return renderTable(h, rows.map((r) => {
      const spec = (r.resource.spec as { address: string; user?: string; port?: number });
      return [r.name, spec.address, phase(r), age(r.appliedAt), ...(wide ? [spec.user, spec.port, detail(r, 'latency')] : [])];
    }));
  }
  if (kind === 'Workspace') {
    const h = ['WORKSPACE', 'NODE', 'PROVIDER', 'STATUS', 'AGE', ...(wide ? ['IMAGE', 'ADDRESS', 'PORTS'] : [])];
    return renderTable(h, rows.map((r) => {
      const spec = r.resource.spec as { node: string; provider: string; image?: string; ports?: string[] };
      return [r.name, spec.node, spec.provider, phase(r), age(r.appliedAt), ...(wide ? [spec.image, detail(r, 'address'), spec.ports?.join(',')] : [])];
    }));
  }
  const h = ['SERVICE', 'WORKSPACE', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['PID', 'ENDPOINT'] : [])];
  return renderTable(h, rows.map((r) => {
    const spec = r.resource.spec as { workspace: string };
    return [r.name, spec.workspace, phase(r), detail(r, 'restarts') ?? '0', age(r.appliedAt), ...(wide ? [detail(r, 'pid'), detail(r, 'endpoint')] : [])];
  }));
}
