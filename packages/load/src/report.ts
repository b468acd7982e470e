import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { LimitFinding } from './find-limit';
import type { LoadResult } from './run-load';

export type Report = LoadResult & { limit?: LimitFinding };

const escape = (text: unknown) =>
  String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
const ms = (value: number) =>
  Number.isFinite(value) ? `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms` : '—';

function table(headers: string[], rows: unknown[][]): string {
  return `<table><tr>${headers.map((h) => `<th>${escape(h)}</th>`).join('')}</tr>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escape(cell)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/** A self-contained HTML page: the summary tables and uPlot charts of latency, throughput and errors over time. */
export function renderHtml(report: Report): string {
  const require = createRequire(import.meta.url);
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  // JSON inside a script element: `<` escaped so no string in it can close the element.
  const data = JSON.stringify({ series: report.series }).replace(/</g, '\\u003c');
  const steps = [report.totals, ...report.steps];
  const limit = report.limit;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tern load: ${escape(report.scenario)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${uplotCss}
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2433;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;margin:4px 0 12px}th,td{padding:3px 10px;border-bottom:1px solid #e3e6ec;text-align:right}
th:first-child,td:first-child{text-align:left}.ok{color:#137333}.bad{color:#b3261e;font-weight:600}
.meta{color:#5b6475}.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #e3e6ec;padding:8px}
.verdict{padding:8px 12px;background:#f3f6fb;border-left:4px solid #3566d6;margin:12px 0}
</style></head><body>
<h1>tern load — ${escape(report.scenario)}</h1>
<div class="meta">${escape(report.target)} · ${escape(report.model)} model · ${escape(report.startedAt)} · ${escape(report.durationS)} s ·
${report.totals.requests} requests, ${report.totals.rate.toFixed(1)}/s, ${report.totals.errors} errors</div>
${limit ? `<div class="verdict" id="verdict">${escape(limit.verdict)}</div>` : ''}
${limit ? '' : `<p class="${report.passed ? 'ok' : 'bad'}" id="outcome">${report.passed ? 'Every threshold held.' : 'A threshold broke.'}</p>`}
<div class="charts">
<div class="chart"><h2>Latency (from intended send time)</h2><div id="latency"></div></div>
<div class="chart"><h2>Throughput</h2><div id="throughput"></div></div>
<div class="chart"><h2>Errors and requests in flight</h2><div id="errors"></div></div>
</div>
<h2>Steps</h2>
${table(
  ['step', 'requests', 'errors', 'p50', 'p90', 'p99', 'p99.9', 'max'],
  steps.map((s) => [
    s.name,
    s.requests,
    s.errors,
    ms(s.latencyMs.p50),
    ms(s.latencyMs.p90),
    ms(s.latencyMs.p99),
    ms(s.latencyMs['p99.9']),
    ms(s.latencyMs.max),
  ]),
)}
${
  report.thresholds.length
    ? `<h2>Thresholds</h2>${table(
        ['threshold', 'measured', 'result'],
        report.thresholds.map((t) => [
          t.threshold,
          Number.isFinite(t.actual)
            ? `${t.actual.toFixed(t.unit === '%' ? 3 : 1)} ${t.unit}`
            : 'not measured',
          t.ok ? 'held' : 'broken',
        ]),
      )}`
    : ''
}
<h2>Errors by class</h2>
${Object.keys(report.totals.errorsByClass).length ? table(['class', 'count'], Object.entries(report.totals.errorsByClass)) : '<p>None.</p>'}
${
  limit
    ? `<h2>Saturation search</h2>${table(
        ['rate /s', 'achieved /s', 'p50', 'p99', 'errors', 'thresholds', 'saturated'],
        limit.steps.map((s) => [
          s.rate,
          s.achieved.toFixed(1),
          ms(s.p50Ms),
          ms(s.p99Ms),
          `${(s.errorRate * 100).toFixed(2)} %`,
          s.passed ? 'held' : 'broken',
          s.signals
            .filter((x) => x.saturated)
            .map((x) => `${x.component}: ${x.evidence}`)
            .join('; ') || '—',
        ]),
      )}`
    : ''
}
<h2>Load generator</h2>
${table(['CPU mean', 'CPU peak', 'late sends p99', 'dropped arrivals'], [[`${Math.round(report.generator.cpuMean * 100)} %`, `${Math.round(report.generator.cpuPeak * 100)} %`, ms(report.generator.lateP99Ms), report.generator.dropped]])}
${report.warnings.length ? `<h2>Warnings</h2><ul>${report.warnings.map((w) => `<li>${escape(w)}</li>`).join('')}</ul>` : ''}
<script id="data" type="application/json">${data}</script>
<script>${uplotJs}</script>
<script>
const { series } = JSON.parse(document.getElementById('data').textContent);
const t = series.map((p) => p.t);
const width = Math.min(560, window.innerWidth - 60);
const chart = (id, label, lines) => new uPlot({ width, height: 240, scales: { x: { time: false } },
  axes: [{ label: 'seconds' }, { label }],
  series: [{}, ...lines.map(([name, color]) => ({ label: name, stroke: color, width: 1.5 }))] },
  [t, ...lines.map(([, , pick]) => series.map(pick))], document.getElementById(id));
chart('latency', 'ms', [['p50', '#3566d6', (p) => p.latencyMs.p50], ['p90', '#2e9e6b', (p) => p.latencyMs.p90],
  ['p99', '#e08a1e', (p) => p.latencyMs.p99], ['max', '#b3261e', (p) => p.latencyMs.max]]);
chart('throughput', 'per second', [['completed', '#3566d6', (p) => p.rate], ['started', '#2e9e6b', (p) => p.started],
  ['target', '#9aa3b5', (p) => p.target]]);
chart('errors', 'count', [['errors', '#b3261e', (p) => p.errors], ['in flight', '#5b6475', (p) => p.inFlight]]);
document.body.dataset.ready = 'true';
</script></body></html>
`;
}

/** Writes `report.json` and `report.html` into `dir`; returns their paths. */
export function writeReports(dir: string, report: Report): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
