import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoadError } from './load-error';
import { MetricsWatcher, readingOf, type Reading } from './metrics-watcher';
import { parsePrometheusText } from './prometheus-text';
import { saturated, signalsBetween } from './saturation';

const page = (
  cpu: number,
  extra = '',
) => `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total{service="data",instance="data-1"} ${cpu}
nodejs_eventloop_utilization{service="data",instance="data-1"} 0.5
nodejs_eventloop_lag_p99_seconds{service="data",instance="data-1"} 0.012
tern_db_pool_waiting{service="data",instance="data-1",store="postgres"} 0
${extra}`;

describe('prometheus text', () => {
  it('reads samples with labels, escapes and skips comments and junk', () => {
    const samples = parsePrometheusText(
      '# HELP x y\nx{a="1",b="q\\"uote"} 3\ny 4.5 1700000000\nnot a sample\nz{a="b"} NaN-ish\n',
    );
    assert.deepEqual(samples, [
      { name: 'x', labels: { a: '1', b: 'q"uote' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
    ]);
  });
});

describe('saturation signals', () => {
  const readings = (values: [number, string][]): Reading[] =>
    values.map(([cpu, extra], index) =>
      readingOf('http://127.0.0.1:1/metrics', page(cpu, extra), index * 1_000),
    );

  it('names a process at a full core by its service and instance', () => {
    const signals = signalsBetween(
      readings([
        [10, ''],
        [10.95, ''],
        [11.9, ''],
      ]),
      0,
      2_000,
    );
    const cpu = signals.find((signal) => signal.kind === 'cpu');
    assert.equal(cpu?.component, 'data/data-1');
    assert.ok(cpu && Math.abs(cpu.value - 0.95) < 1e-9 && cpu.saturated);
    assert.match(cpu?.evidence ?? '', /CPU 95 % of a core/);
    assert.equal(saturated(signals)[0]?.kind, 'cpu');
  });
  it('sees queries waiting for the pool, growing queue lag and rate-limit refusals', () => {
    const pool =
      'tern_db_pool_waiting{service="data",instance="data-1",store="postgres"} 4\ntern_db_pool_total{service="data",instance="data-1"} 2';
    const signals = signalsBetween(
      readings([
        [1, `${pool}\ntern_jobs_lag_seconds{type="a"} 4\ntern_gateway_rate_limited_total 0`],
        [1.1, `${pool}\ntern_jobs_lag_seconds{type="a"} 9\ntern_gateway_rate_limited_total 30`],
      ]),
      0,
      1_000,
    );
    const kinds = saturated(signals)
      .map((signal) => signal.kind)
      .sort();
    assert.deepEqual(kinds, ['db-pool', 'queue-lag', 'rate-limit']);
    assert.match(
      signals.find((s) => s.kind === 'db-pool')?.evidence ?? '',
      /waiting for a database connection.*pool of 2/,
    );
  });
  it('is quiet for an idle process, and counts a process that stops answering', () => {
    assert.deepEqual(
      saturated(
        signalsBetween(
          readings([
            [1, ''],
            [1.05, ''],
            [1.1, ''],
          ]),
          0,
          2_000,
        ),
      ),
      [],
    );
    const down: Reading[] = [0, 1, 2].map((at) => ({
      at: at * 1_000,
      url: 'http://127.0.0.1:2/metrics',
      process: 'x',
      up: false,
    }));
    assert.equal(saturated(signalsBetween(down, 0, 2_000))[0]?.kind, 'unreachable');
  });
});

describe('MetricsWatcher', () => {
  it('refuses a malformed URL, leaves out one that does not answer, and reads one that does', async () => {
    await assert.rejects(
      MetricsWatcher.start(['notaurl'], () => undefined),
      LoadError,
    );
    const metrics = createServer((request, response) => {
      response.writeHead(request.url === '/metrics' ? 200 : 404).end(page(1));
    });
    await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(metrics.address() as AddressInfo).port}`;
    const lines: string[] = [];
    try {
      const watcher = await MetricsWatcher.start([`${base}/metrics`, `${base}/nothing-here`], (line) =>
        lines.push(line),
      );
      await watcher.scrapeAll();
      await watcher.stop();
      assert.deepEqual(watcher.urls, [`${base}/metrics`]);
      assert.match(lines.join('\n'), /not watching .*nothing-here/);
      assert.ok(watcher.readings.length >= 2);
      assert.equal(watcher.readings[0]?.process, 'data/data-1');
    } finally {
      metrics.close();
    }
  });
});
