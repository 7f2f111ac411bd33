// The matrix's result (bench/matrix.mjs JSON) as Markdown tables and SVG growth curves. Pure:
// result in, text out; a unit test covers it (test/unit/bench/report.test.ts).
import { grid } from './svg.mjs';

export const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] : null);
const s = (ms) => (ms == null ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`);

export function markdown(result) {
  const L = [];
  const c = result.config;
  L.push(`Run ${result.started} → ${result.finished ?? '(unfinished)'}, commit ${result.commit}${result.label ? ` (${result.label})` : ''}.`);
  const m = result.machine;
  L.push(`Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memGiB} GiB, Linux ${m.kernel}, ${m.os}, Node ${m.node}; Docker ${result.versions.docker}${result.versions.ansible ? `; ${result.versions.ansible}` : ''}. Load average at start: ${m.loadavgAtStart.join(' ')}.`);
  L.push(`Each node: its own sshd and dockerd (bench/infra.sh). Medians of up to ${c.runs} interleaved rounds; the number of rounds behind each median is in brackets when it is fewer${c.caps.length ? ` (caps: ${c.caps.map((x) => `${x.tool} ${x.runs === 0 ? 'skipped' : `${x.runs} run${x.runs > 1 ? 's' : ''}`} above ${x.above} workspaces`).join(', ')})` : ''}. Floor concurrency: ${c.floorConcurrency} Docker API calls at a time per node.`);
  L.push('');
  for (const provider of c.providers) {
    const cells = result.sizes.filter((x) => x.provider === provider);
    if (!cells.length) continue;
    for (const stage of ['cold', 'noop', 'diff', 'delete']) {
      L.push(`**${provider}, ${{ cold: 'cold converge (until every port answers)', noop: 'converged no-op', diff: 'diff of the converged set', delete: 'delete everything' }[stage]}**`, '');
      L.push(`| nodes × per node | ${c.tools.join(' | ')} | vendetta ÷ floor | ansible ÷ vendetta |`);
      L.push(`|---|${c.tools.map(() => '---:').join('|')}|---:|---:|`);
      for (const x of cells) {
        const row = c.tools.map((t) => {
          const r = x.tools[t];
          if (!r || r.runsPlanned === 0) return 'capped';
          if (stage === 'diff' && t === 'ansible' && provider === 'process') return 'n/a';
          const v = median(r[stage]);
          if (v == null) return r.errors.length ? 'failed' : '—';
          const n = r[stage].length;
          return `${s(v)}${n < c.runs ? ` [${n}]` : ''}${r.errors.length ? ` (${r.errors.length} failed)` : ''}`;
        });
        const v = median(x.tools.vendetta?.[stage] ?? []), f = median(x.tools.floor?.[stage] ?? []), a = median(x.tools.ansible?.[stage] ?? []);
        const ratio = (p, q) => (p != null && q ? `${(p / q).toFixed(1)}×` : '—');
        L.push(`| ${x.nodes} × ${x.perNode} | ${row.join(' | ')} | ${ratio(v, f)} | ${ratio(a, v)} |`);
      }
      L.push('');
    }
    if (c.tools.includes('vendetta')) {
      L.push(`**${provider}, vendetta only**`, '');
      L.push('| nodes × per node | peak RSS of a CLI command | no-op operations | watch: save → old service process stopped (median; all) | `serve` CPU at idle (window, passes) | `serve` peak RSS |');
      L.push('|---|---:|---:|---|---:|---:|');
      for (const x of cells) {
        const r = x.tools.vendetta, v = x.vendetta;
        const rss = r?.rssKb?.length ? `${Math.round(Math.max(...r.rssKb) / 1024)} MiB` : '—';
        const w = v.watchMs ? `${median(v.watchMs)} ms (${v.watchMs.join(', ')})` : v.watchError ? 'failed' : '—';
        const sv = v.serve ? `${v.serve.cpuPercent} % (${v.serve.windowS} s, ${v.serve.passes})` : v.serveError ? 'failed' : '—';
        L.push(`| ${x.nodes} × ${x.perNode} | ${rss} | ${r?.noopOperations ? [...new Set(r.noopOperations)].join(', ') : '—'} | ${w} | ${sv} | ${v.serve ? `${Math.round(v.serve.peakRssKb / 1024)} MiB` : '—'} |`);
      }
      L.push('');
    }
  }
  const errs = result.sizes.flatMap((x) => Object.entries(x.tools).flatMap(([t, r]) => r.errors.map((e) => `- ${x.provider} ${x.nodes}×${x.perNode} ${t}: ${e.split('\n')[0]}`)));
  const verrs = result.sizes.flatMap((x) => [x.vendetta.watchError && `- ${x.provider} ${x.nodes}×${x.perNode} watch: ${x.vendetta.watchError.split('\n')[0]}`, x.vendetta.serveError && `- ${x.provider} ${x.nodes}×${x.perNode} serve: ${x.vendetta.serveError.split('\n')[0]}`].filter(Boolean));
  if (errs.length + verrs.length) L.push('Failures:', '', ...errs, ...verrs, '');
  const mem = result.sizes.filter((x) => x.nodeMemory && !x.nodeMemory.error);
  if (mem.length) L.push(`Memory of the bench nodes with a size's docker containers running (bench/infra.sh mem: dockerds + containerds; shims + docker-proxies; then MemAvailable, ${result.machine.memAvailableAtStartMiB ?? '?'} MiB at the start of the run): ${mem.map((x) => `${x.nodes}×${x.perNode}: ${x.nodeMemory.daemonsMiB} + ${x.nodeMemory.shimsAndProxiesMiB} MiB for ${x.nodeMemory.containers} containers, ${x.nodeMemory.memAvailableMiB} MiB available`).join('; ')}.`, '');
  L.push(`Wall time per size: ${result.sizes.map((x) => `${x.provider} ${x.nodes}×${x.perNode} ${x.wallS} s`).join(', ')}.`);
  return L.join('\n') + '\n';
}

/** One SVG per node count: rows docker / process, columns cold / no-op; x = workspaces per node. */
export function svgs(result) {
  const c = result.config;
  const out = {};
  for (const n of c.nodes) {
    const charts = [];
    for (const provider of c.providers) {
      for (const stage of ['cold', 'noop']) {
        const cells = result.sizes.filter((x) => x.provider === provider && x.nodes === n).sort((a, b) => a.perNode - b.perNode);
        if (!cells.length) continue;
        charts.push({
          title: `${provider}, ${n} node${n > 1 ? 's' : ''}: ${stage === 'cold' ? 'cold converge' : 'no-op'}`,
          xLabel: 'workspaces per node', yLabel: 'seconds (median)', xTicks: cells.map((x) => x.perNode),
          series: c.tools.map((t) => ({ name: t, points: cells.map((x) => [x.perNode, median(x.tools[t]?.[stage] ?? []) == null ? null : median(x.tools[t][stage]) / 1000]) })),
        });
      }
    }
    if (charts.length) out[n] = grid(charts, { cols: 2, title: `Growth with workspaces per node, ${n} node${n > 1 ? 's' : ''} (log–log; lower is better)`, names: c.tools });
  }
  return out;
}

