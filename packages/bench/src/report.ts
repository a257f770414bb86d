import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BenchResult } from './metrics.js';
import { latencySamples, LATENCY_METRICS } from './metrics.js';
import { percentileSorted } from './stats.js';

/** The ESM or CJS file of this module, to find uPlot in node_modules. */
function here(): string {
  if (typeof __filename === 'string') return __filename;
  return import.meta.url;
}

let uplotAssets: { js: string; css: string } | undefined;
function uplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const require = createRequire(here());
    const main = require.resolve('uplot');
    const dist = main.slice(0, main.lastIndexOf('uPlot'));
    uplotAssets = { js: readFileSync(`${dist}uPlot.iife.min.js`, 'utf8'), css: readFileSync(`${dist}uPlot.min.css`, 'utf8') };
  }
  return uplotAssets;
}

const MAX_TIMELINE_ROWS = 1000;

interface Histogram {
  /** Left edge of each bin, ms. */
  edges: number[];
  counts: number[];
}

function histogram(values: readonly number[], bins: number): Histogram {
  if (values.length === 0) return { edges: [], counts: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const low = sorted[0]!;
  // Clip at p99.9 so one outlier does not squash the shape; the last bin holds the rest.
  const high = Math.max(low + 1e-9, percentileSorted(sorted, 99.9));
  const width = (high - low) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const value of sorted) counts[Math.min(bins - 1, Math.floor((value - low) / width))]! += 1;
  return { edges: counts.map((_, i) => low + i * width), counts };
}

/** Quantile points (value at each fraction) of a sample, for a CDF. */
function cdf(values: readonly number[], points: number): Array<[number, number]> {
  if (values.length === 0) return [];
  const sorted = [...values].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (let i = 0; i <= points; i++) out.push([percentileSorted(sorted, (i / points) * 100), i / points]);
  return out;
}

/** What the page needs of one result: summaries, never all raw samples. */
function pageData(result: BenchResult, label: string): Record<string, unknown> {
  const requests = result.requests ?? [];
  const samples = latencySamples(requests);
  const summary: Record<string, number | null> = {};
  for (const key of ['completed', 'failed', 'cancelled', 'duration', 'request_throughput', 'output_throughput', 'total_token_throughput', 'request_goodput', 'max_concurrent_requests', 'generator_cpu_ms_per_request'] as const) {
    summary[key] = result[key] as number | null;
  }
  for (const metric of LATENCY_METRICS) {
    for (const stat of ['mean', 'median', 'p90', 'p99']) summary[`${stat}_${metric}_ms`] = result[`${stat}_${metric}_ms`] ?? null;
  }
  return {
    label,
    configuration: result.configuration,
    summary,
    hasRequests: requests.length > 0,
    cdf: { ttft: cdf(samples.ttft, 200), itl: cdf(samples.itl, 200), e2el: cdf(samples.e2el, 200) },
    ttftHistogram: histogram(samples.ttft, 40),
    itlHistogram: histogram(samples.itl, 40),
    series: result.time_series,
    timeline: requests.slice(0, MAX_TIMELINE_ROWS).map((record) => [
      Math.round(record.scheduledMs * 10) / 10,
      Math.round(record.startMs * 10) / 10,
      record.ttftMs === undefined ? null : Math.round(record.ttftMs * 10) / 10,
      Math.round(record.e2elMs * 10) / 10,
      record.status === 'ok' ? 0 : record.status === 'error' ? 1 : 2,
    ]),
    timelineTruncated: requests.length > MAX_TIMELINE_ROWS,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

// The page's own script: plain browser JavaScript, run after uPlot's bundle.
const PAGE_SCRIPT = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('bench-data').textContent);
  var root = document.getElementById('charts');
  var WIDTH = Math.min(960, document.documentElement.clientWidth - 40);
  var colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v) { return v === null || v === undefined ? '-' : (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)); }
  function chart(parent, id, title, opts, series) {
    var box = el('div', { class: 'chart', id: id });
    box.appendChild(el('h3', {}, title));
    parent.appendChild(box);
    opts.width = WIDTH; opts.height = opts.height || 260;
    new uPlot(opts, series, box);
  }
  function bars(parent, id, title, h, xlabel) {
    if (h.edges.length === 0) { parent.appendChild(el('p', {}, title + ': no samples.')); return; }
    chart(parent, id, title, {
      scales: { x: { time: false } },
      axes: [{ label: xlabel }, { label: 'requests' }],
      series: [{ label: xlabel }, { label: 'count', fill: 'rgba(31,119,180,0.5)', stroke: colors[0], paths: uPlot.paths.bars({ size: [0.9, 60], align: 1 }), points: { show: false } }],
    }, [h.edges, h.counts]);
  }
  function cdfChart(parent, id, cdfs) {
    var names = ['ttft', 'itl', 'e2el'];
    var xs = {};
    names.forEach(function (n) { cdfs[n].forEach(function (p) { xs[p[0]] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    if (x.length === 0) { parent.appendChild(el('p', {}, 'Latency CDF: no completed request.')); return; }
    var index = {};
    x.forEach(function (v, i) { index[v] = i; });
    var ys = names.map(function (n) {
      var y = new Array(x.length).fill(null);
      cdfs[n].forEach(function (p) { y[index[p[0]]] = p[1]; });
      return y;
    });
    chart(parent, id, 'Latency CDF', {
      scales: { x: { time: false, distr: 3 } },
      axes: [{ label: 'ms (log)' }, { label: 'fraction of samples' }],
      series: [{ label: 'ms' }].concat(names.map(function (n, i) { return { label: n.toUpperCase(), stroke: colors[i], spanGaps: true, width: 2, points: { show: false } }; })),
    }, [x].concat(ys));
  }
  function timeline(parent, id, rows, truncated) {
    var box = el('div', { class: 'chart', id: id });
    box.appendChild(el('h3', {}, 'Per-request timeline' + (truncated ? ' (first ' + rows.length + ' requests)' : '')));
    box.appendChild(el('p', { class: 'legend' }, 'grey: waiting for a concurrency slot; orange: send to first token (TTFT); green: decoding; red: failed; black: cancelled.'));
    var canvas = el('canvas');
    var height = Math.max(120, Math.min(600, rows.length * 4));
    var ratio = window.devicePixelRatio || 1;
    canvas.width = WIDTH * ratio; canvas.height = height * ratio;
    canvas.style.width = WIDTH + 'px'; canvas.style.height = height + 'px';
    box.appendChild(canvas);
    parent.appendChild(box);
    var ctx = canvas.getContext('2d');
    ctx.scale(ratio, ratio);
    var end = 1;
    rows.forEach(function (r) { end = Math.max(end, r[1] + r[3]); });
    var left = 50, w = WIDTH - left - 10, rowH = (height - 20) / Math.max(1, rows.length);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, WIDTH, height);
    ctx.fillStyle = '#333'; ctx.font = '11px sans-serif';
    ctx.fillText('0 s', left, height - 4);
    ctx.fillText((end / 1000).toFixed(2) + ' s', WIDTH - 60, height - 4);
    function seg(from, to, y, color) {
      ctx.fillStyle = color;
      ctx.fillRect(left + (from / end) * w, y, Math.max(1, ((to - from) / end) * w), Math.max(1, rowH * 0.8));
    }
    rows.forEach(function (r, i) {
      var y = i * rowH;
      if (r[1] > r[0]) seg(r[0], r[1], y, '#bbb');
      if (r[4] === 1) { seg(r[1], r[1] + r[3], y, '#d62728'); return; }
      if (r[4] === 2) { seg(r[1], r[1] + r[3], y, '#222'); return; }
      var first = r[2] === null ? r[3] : r[2];
      seg(r[1], r[1] + first, y, '#ff7f0e');
      seg(r[1] + first, r[1] + r[3], y, '#2ca02c');
    });
  }
  function summaryTable(parent, s) {
    var table = el('table');
    var rows = [['completed', s.completed], ['failed', s.failed], ['cancelled', s.cancelled], ['duration (s)', s.duration],
      ['requests/s', s.request_throughput], ['output tokens/s', s.output_throughput], ['total tokens/s', s.total_token_throughput],
      ['goodput (req/s)', s.request_goodput], ['peak concurrency', s.max_concurrent_requests], ['generator CPU ms/request', s.generator_cpu_ms_per_request]];
    rows.forEach(function (r) { var tr = el('tr'); tr.appendChild(el('th', {}, r[0])); tr.appendChild(el('td', {}, fmt(r[1]))); table.appendChild(tr); });
    var lat = el('table');
    var head = el('tr'); ['ms', 'mean', 'median', 'p90', 'p99'].forEach(function (h) { head.appendChild(el('th', {}, h)); }); lat.appendChild(head);
    ['ttft', 'tpot', 'itl', 'e2el'].forEach(function (m) {
      var tr = el('tr'); tr.appendChild(el('th', {}, m.toUpperCase()));
      ['mean', 'median', 'p90', 'p99'].forEach(function (st) { tr.appendChild(el('td', {}, fmt(s[st + '_' + m + '_ms']))); });
      lat.appendChild(tr);
    });
    var wrap = el('div', { class: 'tables' }); wrap.appendChild(table); wrap.appendChild(lat); parent.appendChild(wrap);
  }
  if (data.points.length > 1) {
    var pts = data.points.slice().sort(function (a, b) { return a.summary.output_throughput - b.summary.output_throughput; });
    var sec = el('section'); sec.appendChild(el('h2', {}, 'Sweep: throughput vs latency')); root.appendChild(sec);
    chart(sec, 'sweep', 'Output tokens/s vs latency (one point per ' + data.sweepParameter + ')', {
      scales: { x: { time: false } },
      axes: [{ label: 'output tokens/s' }, { label: 'ms' }],
      series: [{ label: 'tok/s' },
        { label: 'median TTFT', stroke: colors[0], width: 2, points: { size: 8 } },
        { label: 'p99 TTFT', stroke: colors[1], width: 2, points: { size: 8 } },
        { label: 'median E2EL', stroke: colors[2], width: 2, points: { size: 8 } }],
    }, [pts.map(function (p) { return p.summary.output_throughput; }), pts.map(function (p) { return p.summary.median_ttft_ms; }),
        pts.map(function (p) { return p.summary.p99_ttft_ms; }), pts.map(function (p) { return p.summary.median_e2el_ms; })]);
    var list = el('p', {}, 'Points: ' + pts.map(function (p) { return p.label + ' → ' + fmt(p.summary.output_throughput) + ' tok/s'; }).join('; '));
    sec.appendChild(list);
  }
  data.points.forEach(function (p, k) {
    var sec = el('section', { class: 'point' });
    sec.appendChild(el('h2', {}, p.label));
    root.appendChild(sec);
    summaryTable(sec, p.summary);
    cdfChart(sec, 'cdf-' + k, p.cdf);
    bars(sec, 'ttft-' + k, 'TTFT histogram', p.ttftHistogram, 'TTFT ms');
    bars(sec, 'itl-' + k, 'ITL histogram (per chunk)', p.itlHistogram, 'ITL ms');
    var s = p.series;
    chart(sec, 'throughput-' + k, 'Throughput over time (' + s.bucket_s + ' s buckets)', {
      scales: { x: { time: false }, n: {} },
      axes: [{ label: 'second' }, { label: 'tokens/s' }, { side: 1, scale: 'n', label: 'requests', grid: { show: false } }],
      series: [{ label: 's' }, { label: 'output tok/s', stroke: colors[0], width: 2 },
        { label: 'completed req/s', stroke: colors[2], scale: 'n' }, { label: 'in flight', stroke: colors[3], scale: 'n', dash: [4, 4] }],
    }, [s.second, s.output_tokens_per_s, s.requests_completed_per_s, s.concurrency]);
    if (p.hasRequests) timeline(sec, 'timeline-' + k, p.timeline, p.timelineTruncated);
    else sec.appendChild(el('p', {}, 'No per-request data in this result.'));
  });
  document.body.setAttribute('data-ready', 'true');
})();
`;

const PAGE_CSS = `
body { font-family: system-ui, sans-serif; margin: 20px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; } h3 { font-size: 1em; margin: 16px 0 4px; }
.tables { display: flex; gap: 32px; flex-wrap: wrap; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { padding: 2px 10px; text-align: right; border-bottom: 1px solid #eee; } th { text-align: left; }
.legend { font-size: 0.85em; color: #555; margin: 0 0 4px; } .config { font-size: 0.85em; color: #444; white-space: pre-wrap; }
`;

/**
 * One self-contained HTML page (uPlot and the data inlined, no network) for one result or a
 * sweep: summary tables, latency CDF, TTFT and ITL histograms, throughput over time, a
 * per-request timeline, and for sweeps throughput vs latency. Results need per-request data
 * (`includeRequests`) for everything but the throughput chart.
 */
export function renderReport(results: readonly BenchResult[], options: { title?: string; labels?: readonly string[]; sweepParameter?: string } = {}): string {
  const assets = uplot();
  const title = options.title ?? 'muai bench report';
  const data = {
    sweepParameter: options.sweepParameter ?? 'point',
    points: results.map((result, i) => pageData(result, options.labels?.[i] ?? (results.length > 1 ? `point ${i + 1}` : 'result'))),
  };
  const first = results[0];
  const config = first ? JSON.stringify({ ...first.configuration, machine: first.machine, date: first.date }, null, 1) : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${assets.css}</style><style>${PAGE_CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<details><summary>Configuration and machine</summary><div class="config">${escapeHtml(config)}</div></details>
<p class="legend">TTFT: send to first chunk with text. ITL: gap between chunks with text (per chunk, as vLLM). TPOT: (E2EL − TTFT) / (output tokens − 1). E2EL: send to end of response. All measured by the client.</p>
<div id="charts"></div>
<script id="bench-data" type="application/json">${scriptJson(data)}</script>
<script>${assets.js}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
