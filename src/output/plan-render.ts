// The one human rendering of a plan, shared by `diff`, `apply --dry-run` and the golden tests:
// one line per operation, kubectl/terraform symbols, field changes indented below.
import type { Operation, OperationType, Plan } from '../plan/types.js';

type Verb = 'create' | 'start' | 'update' | 'restart' | 'recreate' | 'stop' | 'delete';

const VERB: Record<OperationType, Verb> = {
  'create-workspace': 'create',
  'recreate-workspace': 'recreate',
  'update-workspace': 'update',
  'start-workspace': 'start',
  'stop-workspace': 'stop',
  'delete-workspace': 'delete',
  'start-service': 'start',
  'restart-service': 'restart',
  'stop-service': 'stop',
  'delete-service': 'delete',
};

/** `+` comes into being, `~` changes in place (a stopped workspace starting is one), `-` goes. */
const SYMBOL: Record<OperationType, string> = {
  'create-workspace': '+',
  'start-service': '+',
  'start-workspace': '~',
  'update-workspace': '~',
  'restart-service': '~',
  'recreate-workspace': '-/+',
  'stop-workspace': '-',
  'stop-service': '-',
  'delete-workspace': '-',
  'delete-service': '-',
};

const COLOR: Record<string, string> = { '+': '32', '~': '33', '-/+': '33', '-': '31', '!': '31' };
const SUMMARY_ORDER: Verb[] = ['create', 'start', 'update', 'restart', 'recreate', 'stop', 'delete'];
const SYMBOL_WIDTH = 3;
const CHANGE_INDENT = ' '.repeat(SYMBOL_WIDTH + 5);

/** Lines for every operation, then unreachable nodes, unavailable providers and ownership conflicts; "" for an empty plan. Deterministic. */
export function renderPlan(plan: Plan, opts: { color?: boolean } = {}): string {
  const paint = (symbol: string, text: string) => (opts.color ? `\x1b[${COLOR[symbol]}m${text}\x1b[0m` : text);
  const unreachableIds = plan.unreachable.map((u) => `node/${u.node}`);
  const unavailable = plan.unavailable ?? [];
  const resourceWidth = Math.max(
    0,
    ...plan.operations.map((o) => o.resource.length),
    ...[...unreachableIds, ...unavailable.map((u) => `node/${u.node}`), ...(plan.conflicts ?? []).map((c) => c.resource)].map((id) => id.length),
  );
  const verbWidth = Math.max(0, ...plan.operations.map((o) => VERB[o.type].length));

  const lines: string[] = [];
  for (const op of plan.operations) {
    const symbol = SYMBOL[op.type];
    const head = `${symbol.padStart(SYMBOL_WIDTH)} ${op.resource.padEnd(resourceWidth)}`;
    lines.push(`${paint(symbol, head)}  ${VERB[op.type].padEnd(verbWidth)}  ${where(op)}: ${op.cause}`);
    for (const c of op.changes ?? []) {
      lines.push(`${CHANGE_INDENT}${displayPath(c.path)}: ${c.from ?? '(none)'} → ${c.to ?? '(none)'}`);
    }
    if (op.dataLoss) lines.push(`${CHANGE_INDENT}${paint('!', `warning: ${VERB[op.type] === 'delete' ? 'removed' : 'replaced'}, ${op.dataLoss}`)}`);
  }
  plan.unreachable.forEach((u, i) => {
    const head = `${'!'.padStart(SYMBOL_WIDTH)} ${unreachableIds[i]!.padEnd(resourceWidth)}`;
    lines.push(`${paint('!', head)}  unreachable: ${u.error}`);
  });
  for (const u of unavailable) {
    const head = `${'!'.padStart(SYMBOL_WIDTH)} ${`node/${u.node}`.padEnd(resourceWidth)}`;
    lines.push(`${paint('!', head)}  ${u.provider} unavailable: ${u.error}`);
  }
  for (const c of plan.conflicts ?? []) {
    const head = `${'!'.padStart(SYMBOL_WIDTH)} ${c.resource.padEnd(resourceWidth)}`;
    lines.push(`${paint('!', head)}  conflict: ${c.message}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** "Plan: 1 to create, 1 to restart, 1 to delete." or "No changes: everything is up to date." */
export function planSummary(plan: Plan): string {
  const counts = new Map<Verb, number>();
  for (const op of plan.operations) counts.set(VERB[op.type], (counts.get(VERB[op.type]) ?? 0) + 1);
  const unreachable =
    plan.unreachable.length === 0
      ? ''
      : ` Not planned, unreachable: ${plan.unreachable.map((u) => `node/${u.node}`).join(', ')}.`;
  const unavailable = (plan.unavailable ?? []).length === 0
    ? ''
    : ` Not planned, provider unavailable: ${plan.unavailable!.map((u) => `${u.provider} on node/${u.node}`).join(', ')}.`;
  const conflicts = (plan.conflicts ?? []).length === 0
    ? ''
    : ` Not planned, managed by another vendetta: ${plan.conflicts!.map((c) => c.resource).join(', ')}.`;
  const notPlanned = unreachable + unavailable + conflicts;
  if (counts.size === 0) {
    return notPlanned === '' ? 'No changes: everything is up to date.' : `No changes on reachable nodes.${notPlanned}`;
  }
  const parts = SUMMARY_ORDER.filter((v) => counts.has(v)).map((v) => `${counts.get(v)} to ${v}`);
  const losing = dataLossOperations(plan);
  const loss = losing.length === 0 ? '' : ` Data loss: ${losing.length} workspace${losing.length === 1 ? '' : 's'} replaced or removed (${[...new Set(losing.map((o) => o.name))].join(', ')}).`;
  return `Plan: ${parts.join(', ')}.${loss}${notPlanned}`;
}

/** Operations that lose a workspace's files (outside its volumes): what apply asks about on a TTY. */
export function dataLossOperations(plan: Plan): Operation[] {
  return plan.operations.filter((o) => o.dataLoss !== undefined);
}

function where(op: Operation): string {
  return op.kind === 'Service' ? `in workspace ${op.workspace}` : `on ${op.node} (${op.provider})`;
}

/** Field paths as the user wrote them in the manifest: "spec.command" → "command". */
function displayPath(path: string): string {
  return path.startsWith('spec.') ? path.slice('spec.'.length) : path;
}
