import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderHtml, type Report } from './report';

const hostile = '</script><script>alert(1)</script><img src=x onerror=alert(2)>';
const latency = { p50: 1, p90: 2, p95: 3, p99: 4, 'p99.9': 5, max: 6, mean: 1.5 };

const report: Report = {
  scenario: hostile,
  target: `http://127.0.0.1:1/?q=${hostile}`,
  model: 'open',
  stages: [{ durationMs: 1_000, from: 1, to: 1 }],
  startedAt: new Date(0).toISOString(),
  durationS: 1,
  totals: {
    name: '(all)',
    requests: 1,
    errors: 1,
    errorsByClass: { 'status 500': 1 },
    latencyMs: latency,
    rate: 1,
  },
  steps: [{ name: hostile, requests: 1, errors: 1, errorsByClass: { 'status 500': 1 }, latencyMs: latency }],
  series: [
    {
      t: 1,
      target: 1,
      started: 1,
      rate: 1,
      errors: 1,
      errorsByClass: { [hostile]: 1 },
      latencyMs: latency,
      inFlight: 0,
      generatorCpu: 0.1,
    },
  ],
  thresholds: [{ threshold: `${hostile}:p99<1s`, ok: false, actual: 4, unit: 'ms' }],
  passed: false,
  interrupted: false,
  generator: {
    cpuMean: 0.1,
    cpuPeak: 0.2,
    lateP99Ms: 0,
    lateMaxMs: 0,
    dropped: 0,
    cutOff: 0,
    saturated: false,
  },
  journeyErrors: { [hostile]: { count: 1, first: hostile } },
  warnings: [`journey threw: ${hostile}`],
};

describe('the HTML report', () => {
  it('is self-contained and escapes every string a scenario or a server could put in it', () => {
    const html = renderHtml(report);
    assert.ok(!html.includes('<img src=x'), 'no raw tag from the data');
    assert.equal(html.match(/<\/script>/g)?.length, 3, 'only the page’s own three script elements close');
    assert.match(html, /&lt;\/script&gt;&lt;script&gt;alert\(1\)/);
    assert.match(html, /\\u003c\/script>/, 'the JSON data escapes < so it cannot close its element');
    assert.ok(
      !/<script[^>]+src=/.test(html) && !/<link[^>]+href=/.test(html),
      'nothing loaded from elsewhere',
    );
    assert.match(html, /uPlot/);
  });
});
