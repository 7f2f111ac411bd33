// Growth-curve pictures for docs/benchmarks.md, as plain SVG text (no dependency): line charts with
// log-scaled axes, one line per tool, laid out in a grid. Pure: data in, string out.

const COLORS = { vendetta: '#d62728', floor: '#2ca02c', ansible: '#1f77b4', ssh: '#ff7f0e' };
const FALLBACK = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(1));

/** Powers of ten (and 2×, 5× when the range is short) between lo and hi: the log axis ticks. */
export function logTicks(lo, hi) {
  const ticks = [];
  const span = Math.log10(hi / lo);
  const steps = span < 1.5 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of steps) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

/**
 * One chart as an SVG <g> at (x, y), w × h. series: [{ name, points: [[x, y], …] }] (y in seconds;
 * points with y null are gaps). Both axes log10. Returns { svg, legend } strings.
 */
export function chart({ title, xLabel, yLabel, series, x = 0, y = 0, w = 420, h = 300, xTicks }) {
  const pad = { l: 56, r: 20, t: 28, b: 42 };
  const pts = series.flatMap((s) => s.points.filter((p) => p[1] != null && p[1] > 0));
  if (pts.length === 0) return `<g transform="translate(${x},${y})"><text x="${w / 2}" y="${h / 2}" text-anchor="middle" font-size="12">${esc(title)}: no data</text></g>`;
  const xs = xTicks ?? [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b);
  const xlo = Math.min(...xs), xhi = Math.max(...xs, xlo * 10);
  let ylo = Math.min(...pts.map((p) => p[1])), yhi = Math.max(...pts.map((p) => p[1]));
  ylo = 10 ** Math.floor(Math.log10(ylo));
  yhi = 10 ** Math.ceil(Math.log10(yhi));
  if (yhi / ylo < 10) yhi = ylo * 10;
  const iw = w - pad.l - pad.r, ih = h - pad.t - pad.b;
  const sx = (v) => pad.l + (xhi === xlo ? iw / 2 : (Math.log10(v / xlo) / Math.log10(xhi / xlo)) * iw);
  const sy = (v) => pad.t + ih - (Math.log10(v / ylo) / Math.log10(yhi / ylo)) * ih;
  const out = [`<g transform="translate(${x},${y})" font-family="sans-serif" font-size="11">`];
  out.push(`<text x="${pad.l + iw / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (const t of logTicks(ylo, yhi)) {
    out.push(`<line x1="${pad.l}" x2="${pad.l + iw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${pad.l - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xs) {
    out.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${pad.t}" y2="${pad.t + ih}" stroke="#eee"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${pad.t + ih + 14}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<rect x="${pad.l}" y="${pad.t}" width="${iw}" height="${ih}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${pad.l + iw / 2}" y="${h - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14,${pad.t + ih / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[s.name] ?? FALLBACK[i % FALLBACK.length];
    // a gap (null) splits the line
    let run = [];
    const flush = () => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${run.map(([a, b]) => `${sx(a).toFixed(1)},${sy(b).toFixed(1)}`).join(' ')}"/>`);
      run = [];
    };
    for (const [a, b] of s.points) {
      if (b == null || b <= 0) { flush(); continue; }
      run.push([a, b]);
      out.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(b).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}: ${a} → ${fmt(b)} s`)}</title></circle>`);
    }
    flush();
  });
  out.push('</g>');
  return out.join('\n');
}

/** Charts in a grid of `cols` columns with one shared legend on top; a whole SVG document. */
export function grid(charts, { cols = 2, w = 420, h = 300, title = '', names = [] } = {}) {
  const rows = Math.ceil(charts.length / cols);
  const top = 48;
  const W = cols * w, H = top + rows * h;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-family="sans-serif" font-size="14" font-weight="bold">${esc(title)}</text>`);
  let lx = 12;
  names.forEach((n, i) => {
    const color = COLORS[n] ?? FALLBACK[i % FALLBACK.length];
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="36" y2="36" stroke="${color}" stroke-width="3"/><text x="${lx + 26}" y="40" font-family="sans-serif" font-size="12">${esc(n)}</text>`);
    lx += 34 + n.length * 7;
  });
  charts.forEach((c, i) => out.push(chart({ ...c, x: (i % cols) * w, y: top + Math.floor(i / cols) * h, w, h })));
  out.push('</svg>\n');
  return out.join('\n');
}
