// vendetta get [KIND [NAME]] : applied resources with their last reconciled status.
import { Option, InvalidArgumentError, type Command } from 'commander';
import { IMPLICIT_LOCAL_NODE, LOCAL_ADDRESS, LOCAL_NODE, resourceId, type Kind } from '../model/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import { openReadStore } from './read-store.js';
import { renderTable, age } from '../output/table.js';
import { toApiObject, toList } from '../output/objects.js';
import { structured, parseListFormat, LIST_FORMATS, type ListFormat } from '../output/format.js';
import { executeJsonPath } from '../output/jsonpath.js';
import { matchesSelector, parseSelector, SelectorError, type Requirement } from '../output/selector.js';
import { ExitError, UsageError } from './errors.js';
import { volumesCell } from '../model/volumes.js';
import type { VolumeSpec } from '../model/types.js';

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

/** Apply set of the built-in `local` node, which no manifest declares and nothing stores. */
export const BUILTIN_APPLYSET = 'builtin';

/**
 * The `local` node every manifest may use without declaring it, as `node list` shows it: this
 * machine, always reachable. A declared or `node add`ed `local` record replaces it.
 */
export function implicitLocalRecord(): AppliedRecord {
  return {
    id: resourceId('Node', LOCAL_NODE),
    kind: 'Node',
    name: LOCAL_NODE,
    resource: IMPLICIT_LOCAL_NODE,
    generation: 0,
    applySet: BUILTIN_APPLYSET,
    appliedAt: '',
    status: {
      phase: 'Ready',
      conditions: [{ type: 'Ready', status: 'True', reason: 'BuiltIn', message: 'this machine (built-in node, no SSH)', lastTransitionTime: '' }],
      observedGeneration: 0,
      details: { implicit: true },
    },
  };
}

/** Parses `-l`; a bad selector is a usage error naming the problem. */
export function selectorOption(value: string | undefined): Requirement[] | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSelector(value);
  } catch (e) {
    if (e instanceof SelectorError) throw new UsageError(e.message, 'see `vendetta get --help`');
    throw e;
  }
}

export async function selectRecords(store: Store, kindWord?: string, name?: string, selector?: Requirement[]): Promise<AppliedRecord[]> {
  const kinds: Kind[] = kindWord ? [parseKind(kindWord)] : ['Node', 'Workspace', 'Service'];
  const out: AppliedRecord[] = [];
  for (const kind of kinds) {
    const records = await store.list(kind);
    if (kind === 'Node' && !records.some((r) => r.name === LOCAL_NODE)) records.push(implicitLocalRecord());
    records.sort((a, b) => a.name.localeCompare(b.name));
    out.push(...records.filter((r) => (!name || r.name === name) && (!selector || matchesSelector(r.resource.metadata.labels, selector))));
  }
  if (name && out.length === 0) throw new ExitError(`${kinds[0]!.toLowerCase()} "${name}" not found`, 1, 'see `vendetta get`');
  return out;
}

/** `-o` for resource listings: table|wide|json|yaml|name|jsonpath=TEMPLATE. */
export function listOutputOption(): Option {
  return new Option('-o, --output <format>', `output format: ${LIST_FORMATS.join('|')}`)
    .argParser((value: string) => {
      try {
        return parseListFormat(value);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    })
    .default({ type: 'table' } as ListFormat, 'table');
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('list nodes, workspaces and services with their status')
    .argument('[kind]', 'nodes | workspaces | services (default: all)')
    .argument('[name]', 'one resource by name')
    .addOption(listOutputOption())
    .option('-l, --selector <selector>', 'only resources whose labels match, e.g. app=web,tier!=db (kubectl syntax)')
    .addHelpText('after', `
Examples:
  vendetta get workspaces -o name
  vendetta get ws -l app=web -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}'
  vendetta get service api -o jsonpath='{.status.phase}'`)
    .action(async (kindWord: string | undefined, name: string | undefined, flags: { output: ListFormat; selector?: string }) => {
      const selector = selectorOption(flags.selector);
      const store = await openReadStore(); // the server's store in client mode
      const records = await selectRecords(store, kindWord, name, selector);
      process.stdout.write(renderRecords(records, flags.output, { single: Boolean(name), hint: !kindWord && !selector }));
    });
}

/** get's output for any -o; ends with a newline unless empty. */
export function renderRecords(records: AppliedRecord[], format: ListFormat, opts: { single: boolean; hint?: boolean }): string {
  const data = () => {
    const objects = records.map(toApiObject);
    return opts.single && objects.length === 1 ? objects[0] : toList(objects);
  };
  switch (format.type) {
    case 'json':
    case 'yaml':
      return structured(data(), format.type) + '\n';
    case 'name':
      return records.map((r) => r.id + '\n').join('');
    case 'jsonpath': {
      // Through JSON first, so the template sees exactly what -o json shows.
      const text = executeJsonPath(format.template, JSON.parse(JSON.stringify(data())));
      return text;
    }
    default: {
      const wide = format.type === 'wide';
      const sections: string[] = [];
      for (const kind of ['Node', 'Workspace', 'Service'] as Kind[]) {
        const rows = records.filter((r) => r.kind === kind);
        if (rows.length) sections.push(tableFor(kind, rows, wide));
      }
      // Only the built-in node so far: say how to start.
      if (opts.hint && records.every((r) => r.kind === 'Node')) sections.push('No workspaces applied yet. Try: vendetta apply -f manifests/quickstart');
      return (sections.join('\n\n') || 'No resources found.') + '\n';
    }
  }
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
      if (spec.address === LOCAL_ADDRESS) return [r.name, spec.address, phase(r), age(r.appliedAt || undefined), ...(wide ? [undefined, undefined, detail(r, 'latency')] : [])];
      return [r.name, spec.address, phase(r), age(r.appliedAt), ...(wide ? [spec.user, spec.port, detail(r, 'latency')] : [])];
    }));
  }
  if (kind === 'Workspace') {
    const h = ['WORKSPACE', 'NODE', 'PROVIDER', 'STATUS', 'AGE', ...(wide ? ['IMAGE', 'ADDRESS', 'PORTS', 'VOLUMES'] : [])];
    return renderTable(h, rows.map((r) => {
      const spec = r.resource.spec as { node: string; provider: string; image?: string; build?: { context: string }; ports?: string[]; volumes?: VolumeSpec[] };
      // A built image is named by its context directory (its tag holds a hash, not a name).
      const image = spec.image ?? (spec.build ? `(build ${spec.build.context.split('/').filter(Boolean).pop() ?? spec.build.context})` : undefined);
      return [r.name, spec.node, spec.provider, phase(r), age(r.appliedAt), ...(wide ? [image, detail(r, 'address'), spec.ports?.join(','), volumesCell(spec.volumes)] : [])];
    }));
  }
  const h = ['SERVICE', 'WORKSPACE', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['PID', 'ENDPOINT'] : [])];
  return renderTable(h, rows.map((r) => {
    const spec = r.resource.spec as { workspace: string };
    return [r.name, spec.workspace, phase(r), detail(r, 'restarts') ?? '0', age(r.appliedAt), ...(wide ? [detail(r, 'pid'), detail(r, 'endpoint')] : [])];
  }));
}
