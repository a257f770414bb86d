/// <reference lib="dom" />
/**
 * The HTML report rendered in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): every chart drew (canvas pixels, DOM), no console error, no network request.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeResult, createOpenAiTarget, randomDataset, renderReport, runBenchmark } from '../src/index.js';
import type { BenchResult } from '../src/index.js';
import { startStandIn } from './stand-in-server.js';
import type { StandIn } from './stand-in-server.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Where the test writes its screenshot; docs/bench-report.png is a copy of one. */
const screenshotDir = mkdtempSync(join(tmpdir(), 'muai-bench-report-'));

interface PageFacts {
  ready: boolean;
  charts: Record<string, number>;
  uplotCount: number;
  errors: string[];
  requests: string[];
}

async function render(browser: Browser, html: string, name: string): Promise<PageFacts> {
  const file = join(screenshotDir, `${name}.html`);
  writeFileSync(file, html);
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => {
    if (!request.url().startsWith('file:')) requests.push(request.url());
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  // Painted pixels per chart: a canvas that drew nothing is all transparent or all white.
  const charts = await page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const box of Array.from(document.querySelectorAll('.chart'))) {
      let painted = 0;
      for (const canvas of Array.from(box.querySelectorAll('canvas'))) {
        const context = canvas.getContext('2d')!;
        const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3]! > 0 && !(data[i]! > 250 && data[i + 1]! > 250 && data[i + 2]! > 250)) painted++;
        }
      }
      out[box.id] = painted;
    }
    return out;
  });
  const uplotCount = await page.locator('.uplot').count();
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
  await page.close();
  return { ready: true, charts, uplotCount, errors, requests };
}

describe('HTML report in headless Chromium', () => {
  let browser: Browser;
  let server: StandIn;
  let results: BenchResult[];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package chromium (CI: .ci/run)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    server = await startStandIn({ ttftMs: 15, itlMs: 4, tokens: 10, errorEvery: 9 });
    results = [];
    for (const concurrency of [1, 4]) {
      const target = createOpenAiTarget({ baseUrl: server.url, model: 'stand-in' });
      const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 30, inputLen: 8, outputLen: 10 }), maxConcurrency: concurrency });
      await target.close();
      results.push(computeResult(run, { includeRequests: true, configuration: { max_concurrency: concurrency } }));
    }
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(screenshotDir, { recursive: true, force: true });
  });

  it('one result: CDF, histograms, throughput and timeline all drew, no console error, no network', async () => {
    const facts = await render(browser, renderReport([results[1]!], { title: 'stand-in report' }), 'single');
    expect(facts.errors).toEqual([]);
    expect(facts.requests).toEqual([]);
    expect(Object.keys(facts.charts).sort()).toEqual(['cdf-0', 'itl-0', 'throughput-0', 'timeline-0', 'ttft-0']);
    for (const [id, painted] of Object.entries(facts.charts)) expect(painted, id).toBeGreaterThan(500);
    expect(facts.uplotCount).toBe(4);
  }, 60_000);

  it('a sweep: throughput vs latency plus every point', async () => {
    const html = renderReport(results, { labels: ['concurrency 1', 'concurrency 4'], sweepParameter: 'concurrency' });
    const facts = await render(browser, html, 'sweep');
    expect(facts.errors).toEqual([]);
    expect(facts.charts['sweep']).toBeGreaterThan(500);
    expect(Object.keys(facts.charts)).toHaveLength(11);
    for (const [id, painted] of Object.entries(facts.charts)) expect(painted, id).toBeGreaterThan(500);
    if (process.env['MUAI_BENCH_SCREENSHOT']) {
      const { copyFileSync } = await import('node:fs');
      copyFileSync(join(screenshotDir, 'single.png'), process.env['MUAI_BENCH_SCREENSHOT']);
    }
  }, 60_000);

  it('a run where every request failed renders without errors (empty charts say so)', async () => {
    const failing = await startStandIn({ ttftMs: 1, itlMs: 1, tokens: 2, errorEvery: 1 });
    try {
      const target = createOpenAiTarget({ baseUrl: failing.url, model: 'stand-in' });
      const result = computeResult(await runBenchmark({ target, prompts: randomDataset({ numPrompts: 5, inputLen: 2, outputLen: 2 }) }), { includeRequests: true });
      await target.close();
      expect(result.failed).toBe(5);
      const facts = await render(browser, renderReport([result]), 'failed');
      expect(facts.errors).toEqual([]);
      expect(facts.charts['timeline-0']).toBeGreaterThan(100);
    } finally {
      await failing.close();
    }
  }, 60_000);

  it('a page without per-request data still renders (the --json line saved as a file)', async () => {
    const { requests: _dropped, ...bare } = results[0]!;
    const facts = await render(browser, renderReport([bare as BenchResult]), 'bare');
    expect(facts.errors).toEqual([]);
    expect(facts.charts['throughput-0']).toBeGreaterThan(100);
  }, 60_000);
});
