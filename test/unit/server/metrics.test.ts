// /metrics rendering (pure), read back with a real Prometheus text-format parser.
import parsePrometheus from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { Registry, ServerMetrics } from '../../../src/server/metrics.js';
import type { Plan } from '../../../src/plan/types.js';

describe('Registry', () => {
  it('renders counters, gauges and cumulative histograms in text format 0.0.4', () => {
    const r = new Registry()
      .define('t_total', 'counter', 'A counter.')
      .define('t_gauge', 'gauge', 'A gauge.')
      .define('t_seconds', 'histogram', 'A histogram.', [1, 0.1]);
    r.inc('t_total', { type: 'a' });
    r.inc('t_total', { type: 'a' }, 2);
    r.inc('t_total', { type: 'quote"back\\slash' });
    r.set('t_gauge', { node: 'n1' }, 0.25);
    for (const v of [0.05, 0.5, 2]) r.observe('t_seconds', {}, v);
    expect(r.render()).toBe(
      [
        '# HELP t_total A counter.',
        '# TYPE t_total counter',
        't_total{type="a"} 3',
        't_total{type="quote\\"back\\\\slash"} 1',
        '# HELP t_gauge A gauge.',
        '# TYPE t_gauge gauge',
        't_gauge{node="n1"} 0.25',
        '# HELP t_seconds A histogram.',
        '# TYPE t_seconds histogram',
        't_seconds_bucket{le="0.1"} 1',
        't_seconds_bucket{le="1"} 2',
        't_seconds_bucket{le="+Inf"} 3',
        't_seconds_sum 2.55',
        't_seconds_count 3',
        '',
      ].join('\n'),
    );
  });

  it('refuses a metric it does not define, or used as another type', () => {
    const r = new Registry().define('c_total', 'counter', 'c');
    expect(() => r.inc('nope')).toThrow(/not a defined counter/);
    expect(() => r.set('c_total', {}, 1)).toThrow(/not a defined gauge/);
  });
});

describe('ServerMetrics', () => {
  it('passes, operations, drift, node latency and build info parse back with their values', () => {
    const m = new ServerMetrics('9.9.9', 'v20.0.0');
    m.pass('apply', { durationMs: 1500, operations: [{ type: 'create-workspace', done: true }, { type: 'start-service', done: false }], nodeLatencyMs: new Map([['n1', 12]]) });
    m.pass('resync', { durationMs: 20, operations: [{ type: 'start-service', done: true }], nodeLatencyMs: new Map([['n1', 8], ['n2', 30]]) });
    const plan = { operations: [{ kind: 'Service' }, { kind: 'Service' }, { kind: 'Workspace' }], unreachable: [] } as unknown as Plan;
    m.drift(plan);
    m.nodeReady('n1', true);
    m.nodeReady('n2', false);
    m.event('Warning');
    const families = new Map(parsePrometheus(m.render()).map((f) => [f.name, f]));
    const values = (name: string) => Object.fromEntries(families.get(name)!.metrics.map((s) => [JSON.stringify(s.labels ?? {}), Number(s.value)]));

    expect(families.get('vendetta_build_info')).toMatchObject({ type: 'GAUGE', metrics: [{ labels: { version: '9.9.9', node: 'v20.0.0' }, value: '1' }] });
    const duration = families.get('vendetta_pass_duration_seconds')!;
    expect(duration.type).toBe('HISTOGRAM');
    expect(duration.metrics[0]).toMatchObject({ count: '2', sum: '1.52', buckets: { '0.01': '0', '0.05': '1', '1': '1', '2.5': '2', '+Inf': '2' } });
    expect(values('vendetta_passes_total')).toEqual({ '{"trigger":"apply"}': 1, '{"trigger":"resync"}': 1 });
    expect(values('vendetta_operations_total')).toEqual({
      '{"type":"create-workspace","result":"done"}': 1,
      '{"type":"start-service","result":"done"}': 1,
      '{"type":"start-service","result":"not_done"}': 1,
    });
    expect(values('vendetta_drift_repairs_total')).toEqual({ '{"kind":"Service"}': 2, '{"kind":"Workspace"}': 1 });
    // The latest observation of each node.
    expect(values('vendetta_node_observation_latency_seconds')).toEqual({ '{"node":"n1"}': 0.008, '{"node":"n2"}': 0.03 });
    expect(values('vendetta_node_ready')).toEqual({ '{"node":"n1"}': 1, '{"node":"n2"}': 0 });
    expect(values('vendetta_events_total')).toEqual({ '{"type":"Warning"}': 1 });
  });
});
