// The bench's pure output modules: the Markdown tables and the SVG growth curves drawn from a
// matrix result (bench/matrix.mjs). No timing: fixed numbers in, text out.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without types
import { markdown, median, svgs } from '../../../bench/report.mjs';
// @ts-expect-error plain ESM module without types
import { chart, logTicks } from '../../../bench/svg.mjs';

const tool = (cold: number[], noop: number[], extra = {}) => ({ runsPlanned: cold.length, cold, noop, diff: noop, delete: cold, errors: [], ...extra });
const result = {
  started: '2026-11-30T07:00:00.000Z',
  finished: '2026-11-30T07:10:00.000Z',
  commit: 'abc1234',
  label: '',
  machine: { cpus: 2, cpuModel: 'EPYC', memGiB: 24, kernel: '6.1', os: 'Debian', node: 'v20', loadavgAtStart: ['0.10', '0.20', '0.30'] },
  versions: { docker: '20.10', ansible: null },
  config: { nodes: [3], perNode: [1, 10], providers: ['docker'], tools: ['vendetta', 'floor', 'ansible'], runs: 3, caps: [{ tool: 'ansible', above: 3, runs: 0 }], floorConcurrency: 8 },
  sizes: [
    {
      provider: 'docker', nodes: 3, perNode: 1, workspaces: 3, wallS: 60,
      tools: { vendetta: tool([3000, 1000, 2000], [400, 500, 300], { rssKb: [90_000, 100_000], noopOperations: [0, 0, 0] }), floor: tool([500, 600, 700], [10, 20, 30]), ansible: tool([9000], [5000]) },
      vendetta: { watchMs: [150, 120, 180], serve: { cpuPercent: 1.5, windowS: 30, passes: 3, peakRssKb: 80_000 } },
    },
    {
      provider: 'docker', nodes: 3, perNode: 10, workspaces: 30, wallS: 200,
      tools: { vendetta: tool([8000, 9000, 10_000], [600, 700, 800]), floor: tool([2000, 2000, 2000], [20, 20, 20]), ansible: { ...tool([], []), runsPlanned: 0 } },
      vendetta: { serveError: 'vendetta serve did not start' },
    },
  ],
};

describe('bench report', () => {
  it('takes the median (the lower one of an even count)', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([])).toBeNull();
  });

  it('tabulates medians per size and tool, with ratios, runs taken, caps and failures', () => {
    const md = markdown(result);
    expect(md).toContain('| 3 × 1 | 2.00 s | 0.60 s | 9.00 s [1] | 3.3× | 4.5× |');
    expect(md).toContain('| 3 × 10 | 9.00 s | 2.00 s | capped | 4.5× | — |');
    expect(md).toContain('ansible skipped above 3 workspaces');
    expect(md).toContain('| 3 × 1 | 98 MiB | 0 | 150 ms (150, 120, 180) | 1.5 % (30 s, 3) | 78 MiB |');
    expect(md).toContain('- docker 3×10 serve: vendetta serve did not start');
  });

  it('draws one SVG per node count, one line per tool that has two or more points', () => {
    const out = svgs(result);
    expect(Object.keys(out)).toEqual(['3']);
    const svg: string = out['3'];
    expect(svg.startsWith('<svg')).toBe(true);
    // cold and no-op charts; vendetta and floor have two sizes each, ansible one point only
    expect(svg.match(/<polyline/g)?.length).toBe(4);
    expect(svg).toContain('docker, 3 nodes: cold converge');
    expect(svg).toContain('docker, 3 nodes: no-op');
  });

  it('puts log ticks on powers of ten, and splits a line at a gap', () => {
    expect(logTicks(0.05, 200)).toEqual([0.1, 1, 10, 100]);
    expect(logTicks(1, 10)).toEqual([1, 2, 5, 10]);
    const svg: string = chart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'vendetta', points: [[1, 1], [10, 2], [30, null], [100, 3], [300, 4]] }] });
    expect(svg.match(/<polyline/g)?.length).toBe(2);
    expect(svg.match(/<circle/g)?.length).toBe(4);
  });
});
