import type { SearchResult, Trial } from './search.js';

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (value: number | null | undefined, digits = 1): string => (value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits));
const pointText = (trial: Trial): string => Object.entries(trial.point).map(([k, v]) => `${k}=${v}`).join(' ');

/** The search as JSON-ready data: every trial, the Pareto front (trial indexes) and the chosen point. */
export function searchResultJson(result: SearchResult): Record<string, unknown> {
  return {
    mode: result.mode,
    objective: result.objective,
    constraints: result.constraints,
    space: result.space,
    grid_size: result.gridSize,
    stopped_by: result.stoppedBy,
    ...(result.noise !== undefined ? { noise: result.noise } : {}),
    duration_ms: result.durationMs,
    trials: result.trials,
    pareto: result.pareto.map((trial) => trial.index),
    chosen: result.best ? { index: result.best.index, point: result.best.point, measure: result.best.measure, score: result.best.score } : null,
  };
}

/** Scatter of throughput (y) against p99 latency (x): every trial, the front joined by a line, the chosen one ringed. */
function scatter(result: SearchResult): string {
  const width = 640;
  const height = 360;
  const pad = 48;
  const points = result.trials.filter((t) => !t.reference && Number.isFinite(t.measure.p99LatencyMs));
  if (points.length === 0) return '<p>No trial completed a request.</p>';
  const maxX = Math.max(...points.map((t) => t.measure.p99LatencyMs)) * 1.05 || 1;
  const maxY = Math.max(...points.map((t) => t.measure.requestThroughput)) * 1.05 || 1;
  const x = (t: Trial): number => pad + (t.measure.p99LatencyMs / maxX) * (width - 2 * pad);
  const y = (t: Trial): number => height - pad - (t.measure.requestThroughput / maxY) * (height - 2 * pad);
  const front = result.pareto.filter((t) => Number.isFinite(t.measure.p99LatencyMs));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="throughput against p99 latency">`,
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#444"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#444"/>`,
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle">p99 latency (ms), max ${fmt(maxX, 0)}</text>`,
    `<text x="14" y="${height / 2}" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">requests/s, max ${fmt(maxY, 2)}</text>`,
    front.length > 1 ? `<polyline fill="none" stroke="#c60" stroke-width="1.5" points="${front.map((t) => `${x(t).toFixed(1)},${y(t).toFixed(1)}`).join(' ')}"/>` : '',
    ...points.map((t) => `<circle cx="${x(t).toFixed(1)}" cy="${y(t).toFixed(1)}" r="4" fill="${t.feasible ? '#268' : '#bbb'}"><title>#${t.index} ${escapeHtml(pointText(t))}</title></circle>`),
    result.best ? `<circle cx="${x(result.best).toFixed(1)}" cy="${y(result.best).toFixed(1)}" r="9" fill="none" stroke="#c00" stroke-width="2"/>` : '',
    '</svg>',
  ];
  return parts.join('\n');
}

/** A self-contained HTML page (no scripts, no external files): summary, chosen point, scatter with the Pareto front, every trial. */
export function renderTuneReport(result: SearchResult, title = 'muai tune'): string {
  const knobs = Object.keys(result.space);
  const front = new Set(result.pareto.map((t) => t.index));
  const references = result.trials.filter((t) => t.reference).length;
  const rows = result.trials
    .map(
      (t) =>
        `<tr class="${t === result.best ? 'chosen' : t.reference ? 'reference' : t.feasible ? '' : 'infeasible'}"><td>${t.index}${front.has(t.index) ? ' ◆' : ''}${t.reference ? ' ref' : ''}</td>${knobs.map((k) => `<td>${t.point[k] ?? ''}</td>`).join('')}<td>${fmt(t.measure.requestThroughput, 2)}</td><td>${fmt(t.measure.outputThroughput, 1)}</td><td>${fmt(t.measure.goodput, 2)}</td><td>${fmt(t.measure.p99LatencyMs)}</td><td>${fmt(t.measure.p99TtftMs)}</td><td>${fmt(t.measure.memoryMb, 0)}</td><td>${fmt(t.durationMs / 1000, 1)}</td><td>${escapeHtml(t.violations.join('; '))}</td></tr>`,
    )
    .join('\n');
  const constraints = Object.entries(result.constraints).map(([k, v]) => `${k}=${String(v)}`).join(', ') || 'none';
  const chosen = result.best ? `<p><b>Chosen:</b> trial #${result.best.index}: ${escapeHtml(pointText(result.best))} (score ${fmt(result.best.score, 2)})</p>` : '<p><b>No trial met the constraints.</b></p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}tr.chosen{background:#fde}tr.infeasible{color:#999}tr.reference{color:#678;font-style:italic}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>Search <b>${result.mode}</b>, objective <b>${result.objective}</b>, constraints ${escapeHtml(constraints)}; ${result.trials.length - references} of ${result.gridSize} grid points tried${references > 0 ? ` (and ${references} reference runs)` : ''} in ${fmt(result.durationMs / 1000, 1)} s (stopped: ${result.stoppedBy}).</p>
${chosen}
<h2>Throughput against p99 latency</h2>
<p>Blue: feasible, grey: broke a constraint, line: Pareto front, red ring: chosen.</p>
${scatter(result)}
<h2>Trials</h2>
<table><thead><tr><th>#</th>${knobs.map((k) => `<th>${escapeHtml(k)}</th>`).join('')}<th>req/s</th><th>tok/s</th><th>goodput</th><th>p99 ms</th><th>p99 TTFT ms</th><th>MiB</th><th>s</th><th>violations</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p>◆ on the Pareto front (no other trial has both more throughput and lower p99 latency). ref: a reference run of the current point, the baseline the trial before it was judged against (quick search), not a candidate.</p>
</body></html>
`;
}
