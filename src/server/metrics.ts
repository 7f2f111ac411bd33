// /metrics: a small registry of counters, gauges and histograms rendered in the Prometheus text
// format 0.0.4 (pure: no I/O, no clock), and the server's metrics fed from the engine's events.
import type { PassReport } from '../reconcile/api.js';
import type { Plan } from '../plan/types.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;
type Type = 'counter' | 'gauge' | 'histogram';

interface Series {
  labels: Labels;
  value: number;
  /** Histograms: observations at or below each bucket bound (cumulative when rendered). */
  buckets?: number[];
  sum?: number;
}

interface Family {
  name: string;
  type: Type;
  help: string;
  bounds?: number[];
  series: Map<string, Series>;
}

export class Registry {
  private readonly families = new Map<string, Family>();

  define(name: string, type: Type, help: string, bounds?: number[]): this {
    this.families.set(name, { name, type, help, bounds: bounds && [...bounds].sort((a, b) => a - b), series: new Map() });
    return this;
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    this.series(name, 'counter', labels).value += by;
  }

  set(name: string, labels: Labels, value: number): void {
    this.series(name, 'gauge', labels).value = value;
  }

  observe(name: string, labels: Labels, value: number): void {
    const s = this.series(name, 'histogram', labels);
    const bounds = this.families.get(name)!.bounds!;
    s.buckets ??= bounds.map(() => 0);
    bounds.forEach((b, i) => {
      if (value <= b) s.buckets![i]!++;
    });
    s.value++; // the count
    s.sum = (s.sum ?? 0) + value;
  }

  private series(name: string, type: Type, labels: Labels): Series {
    const family = this.families.get(name);
    if (!family || family.type !== type) throw new Error(`metric ${name} is not a defined ${type}`);
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let s = family.series.get(key);
    if (!s) family.series.set(key, (s = { labels, value: 0 }));
    return s;
  }

  /** Every family with its HELP and TYPE, series in label order; a family with no series shows only those. */
  render(): string {
    const lines: string[] = [];
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
      for (const key of [...f.series.keys()].sort()) {
        const s = f.series.get(key)!;
        if (f.type !== 'histogram') {
          lines.push(`${f.name}${labelText(s.labels)} ${num(s.value)}`);
          continue;
        }
        f.bounds!.forEach((b, i) => lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.buckets![i]}`));
        lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value}`);
        lines.push(`${f.name}_sum${labelText(s.labels)} ${num(s.sum ?? 0)}`, `${f.name}_count${labelText(s.labels)} ${s.value}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

function num(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return Number.isNaN(n) ? 'NaN' : String(n);
}

/** Seconds, from a pass of a few milliseconds (a quiet resync) to minutes (an image pull, a VM boot). */
export const PASS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What started a pass: the resync loop, or an apply or delete through the API. */
export type Trigger = 'resync' | 'apply' | 'delete';

/** The server's metrics; the coordinator calls these from the engine's events. */
export class ServerMetrics {
  readonly registry = new Registry()
    .define('vendetta_build_info', 'gauge', 'Always 1; the labels say which vendetta and Node.js serve this.')
    .define('vendetta_pass_duration_seconds', 'histogram', 'Duration of reconcile passes: observe every node, plan, run the operations.', PASS_BUCKETS)
    .define('vendetta_passes_total', 'counter', 'Reconcile passes, by what started them (resync, apply, delete).')
    .define('vendetta_operations_total', 'counter', 'Operations the passes ran, by operation type and whether they completed.')
    .define('vendetta_drift_repairs_total', 'counter', 'Operations a resync pass planned to repair drift, by resource kind.')
    .define('vendetta_node_observation_latency_seconds', 'gauge', 'How long the last observation of each node took to answer.')
    .define('vendetta_node_ready', 'gauge', '1 when the last pass observed the node, 0 when it could not.')
    .define('vendetta_events_total', 'counter', 'Events recorded, by type (Normal, Warning).');

  constructor(version: string, nodeVersion: string = process.version) {
    this.registry.set('vendetta_build_info', { version, node: nodeVersion }, 1);
  }

  pass(trigger: Trigger, report: PassReport): void {
    // One unlabelled histogram (what most parsers and dashboards expect); the trigger is counted beside it.
    this.registry.observe('vendetta_pass_duration_seconds', {}, report.durationMs / 1000);
    this.registry.inc('vendetta_passes_total', { trigger });
    for (const op of report.operations) this.registry.inc('vendetta_operations_total', { type: op.type, result: op.done ? 'done' : 'not_done' });
    for (const [node, ms] of report.nodeLatencyMs) this.registry.set('vendetta_node_observation_latency_seconds', { node }, ms / 1000);
  }

  /** A resync pass's plan: each operation in it repairs drift. */
  drift(plan: Plan): void {
    for (const op of plan.operations) this.registry.inc('vendetta_drift_repairs_total', { kind: op.kind });
  }

  nodeReady(node: string, ready: boolean): void {
    this.registry.set('vendetta_node_ready', { node }, ready ? 1 : 0);
  }

  event(type: 'Normal' | 'Warning'): void {
    this.registry.inc('vendetta_events_total', { type });
  }

  render(): string {
    return this.registry.render();
  }
}
