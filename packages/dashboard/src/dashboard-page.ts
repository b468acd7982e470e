/**
 * The live dashboard: one HTML page and its script (plain browser JavaScript, no build step),
 * drawing with uPlot. It polls `/_/dashboard/data` every 1.5 s and computes rates, error ratios
 * and percentiles from the differences between two snapshots of the processes' counters and
 * histogram buckets, as Prometheus would.
 */

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tern · live</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/_/dashboard/uplot.css">
<style>
  :root { color-scheme: light dark; --muted: #778; --bad: #d33; --good: #2a7; --bar: #4a7bd0; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 16px 24px; }
  header { display: flex; align-items: baseline; gap: 16px; }
  h1 { font-size: 20px; margin: 0; }
  h2 { font-size: 15px; margin: 24px 0 8px; }
  #status { color: var(--muted); }
  .cards { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
  .card { border: 1px solid #8884; border-radius: 8px; padding: 8px 14px; min-width: 120px; }
  .card b { display: block; font-size: 22px; }
  .card span { color: var(--muted); font-size: 12px; }
  table { border-collapse: collapse; min-width: 560px; }
  th, td { text-align: right; padding: 3px 10px; border-bottom: 1px solid #8883; font-variant-numeric: tabular-nums; }
  th:first-child, td:first-child { text-align: left; }
  .charts { display: flex; gap: 16px; flex-wrap: wrap; }
  .chart { border: 1px solid #8883; border-radius: 8px; padding: 6px; }
  .chart h3 { font-size: 13px; margin: 0 0 4px 6px; color: var(--muted); }
  .down { color: var(--bad); } .up { color: var(--good); }
  .trace { margin: 6px 0; border: 1px solid #8883; border-radius: 6px; padding: 6px 10px; }
  .trace summary { cursor: pointer; }
  .span { position: relative; height: 18px; margin: 2px 0; font-size: 12px; }
  .span i { position: absolute; top: 2px; height: 14px; background: var(--bar); border-radius: 2px; opacity: .75; }
  .span i.error { background: var(--bad); }
  .span em { position: absolute; left: 0; top: 0; font-style: normal; white-space: nowrap; padding-left: 4px; }
</style>
</head>
<body>
<header><h1>Tern · live</h1><span id="status">connecting…</span></header>
<div class="cards">
  <div class="card"><b id="total-rate">–</b><span>requests/s</span></div>
  <div class="card"><b id="total-errors">–</b><span>errors (5xx)</span></div>
  <div class="card"><b id="total-p99">–</b><span>p99 latency</span></div>
  <div class="card"><b id="total-processes">–</b><span>processes</span></div>
  <div class="card"><b id="cache-ratio">–</b><span>cache hit ratio</span></div>
  <div class="card"><b id="rate-limited">–</b><span>rate-limit rejections/s</span></div>
</div>
<h2>Services</h2>
<table id="services"><thead><tr><th>service</th><th>req/s</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th></tr></thead><tbody></tbody></table>
<div class="charts">
  <div class="chart"><h3>requests/s by service</h3><div id="chart-rate"></div></div>
  <div class="chart"><h3>p99 latency (ms) by service</h3><div id="chart-p99"></div></div>
</div>
<h2>Instances</h2>
<table id="instances"><thead><tr><th>process</th><th>health</th><th>CPU</th><th>RSS</th><th>event-loop p99</th><th>event-loop busy</th><th>DB pool waiting</th></tr></thead><tbody></tbody></table>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>type</th><th>queued</th><th>lag</th><th>attempts/s</th><th>failed/s</th><th>dead letters</th></tr></thead><tbody></tbody></table>
<div class="charts">
  <div class="chart"><h3>jobs queued by type</h3><div id="chart-jobs"></div></div>
  <div class="chart"><h3>cache hit ratio · replica lag (s)</h3><div id="chart-data"></div></div>
</div>
<h2>Replicas</h2>
<table id="replicas"><thead><tr><th>replica</th><th>lag</th></tr></thead><tbody></tbody></table>
<h2>Slowest recent traces</h2>
<div id="traces"><p id="no-traces">No sampled trace in the last minute.</p></div>
<script src="/_/dashboard/uplot.js"></script>
<script src="/_/dashboard/dashboard.js"></script>
</body>
</html>
`;

const script = String.raw`'use strict';
(() => {
  const POLL_MS = 1500;
  const KEEP = 240;
  const $ = (id) => document.getElementById(id);
  const text = (node, value) => { if (node.textContent !== value) node.textContent = value; };
  const ms = (seconds) => (seconds === undefined || !isFinite(seconds) ? '–' : (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1) + ' ms');
  const pct = (ratio) => (ratio === undefined || !isFinite(ratio) ? '–' : (ratio * 100).toFixed(ratio < 0.1 ? 2 : 1) + ' %');
  const num = (value, digits = 1) => (value === undefined || !isFinite(value) ? '–' : value.toFixed(digits));
  const escape = (value) => String(value).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

  /** Which service a process's HTTP series belongs to: the process's own, or (all-in-one) the route's. */
  function serviceOf(process, route) {
    if (process.service !== 'tern') return process.service;
    if (!route || route === 'unmatched') return undefined;
    const parts = route.split('/');
    if (parts[1] === 'v1' && parts[2]) return parts[2];
    if (parts[1] === '.well-known') return 'auth';
    return undefined; // health, metrics, docs
  }

  /** Sums a snapshot's counters and histogram buckets into the groups the page shows. */
  function aggregate(data) {
    const groups = {}; // service -> { count, errors, buckets: {le: n} }
    const group = (name) => (groups[name] ??= { count: 0, errors: 0, buckets: {} });
    const totals = { cacheHits: 0, cacheMisses: 0, denied: 0, cpu: {}, jobs: {}, replicas: {}, processes: [] };
    for (const process of data.processes) {
      const proc = { key: process.service + ' · ' + process.instance, rss: 0, loop: undefined, elu: undefined, waiting: 0, cpu: 0 };
      for (const [name, labels, value] of process.samples) {
        switch (name) {
          case 'tern_http_request_duration_seconds_count': {
            const service = serviceOf(process, labels.route);
            if (!service || labels.status === 'aborted') break;
            const g = group(service);
            g.count += value;
            if (labels.status && labels.status.startsWith('5')) g.errors += value;
            break;
          }
          case 'tern_http_request_duration_seconds_bucket': {
            const service = serviceOf(process, labels.route);
            if (!service) break;
            const g = group(service);
            g.buckets[labels.le] = (g.buckets[labels.le] ?? 0) + value;
            break;
          }
          case 'tern_gateway_requests_total': {
            const g = group('gateway → ' + labels.upstream);
            g.count += value;
            if (labels.status && labels.status.startsWith('5')) g.errors += value;
            break;
          }
          case 'tern_gateway_upstream_duration_seconds_bucket': {
            const g = group('gateway → ' + labels.upstream);
            g.buckets[labels.le] = (g.buckets[labels.le] ?? 0) + value;
            break;
          }
          case 'tern_cache_hits_total': totals.cacheHits += value; break;
          case 'tern_cache_misses_total': totals.cacheMisses += value; break;
          case 'tern_rate_limit_decisions_total': if (labels.decision === 'denied') totals.denied += value; break;
          case 'tern_jobs_queued': (totals.jobs[labels.type] ??= {}).queued = Math.max(totals.jobs[labels.type].queued ?? 0, value); break;
          case 'tern_jobs_lag_seconds': (totals.jobs[labels.type] ??= {}).lag = Math.max(totals.jobs[labels.type].lag ?? 0, value); break;
          case 'tern_jobs_dead': (totals.jobs[labels.type] ??= {}).dead = Math.max(totals.jobs[labels.type].dead ?? 0, value); break;
          case 'tern_jobs_attempts_total': {
            const job = (totals.jobs[labels.type] ??= {});
            job.attempts = (job.attempts ?? 0) + value;
            if (labels.outcome !== 'succeeded') job.failed = (job.failed ?? 0) + value;
            break;
          }
          case 'tern_db_replica_lag_seconds': totals.replicas[labels.replica] = Math.max(totals.replicas[labels.replica] ?? 0, value); break;
          case 'process_cpu_seconds_total': proc.cpu = value; break;
          case 'process_resident_memory_bytes': proc.rss = value; break;
          case 'nodejs_eventloop_lag_p99_seconds': proc.loop = value; break;
          case 'nodejs_eventloop_utilization': proc.elu = value; break;
          case 'tern_db_pool_waiting': proc.waiting += value; break;
        }
      }
      totals.cpu[proc.key] = proc.cpu;
      totals.processes.push(proc);
    }
    return { at: data.at, groups, totals, instances: data.instances ?? [], unreachable: data.unreachable ?? [] };
  }

  /** A quantile (seconds) of the requests between two cumulative bucket sets. */
  function quantile(q, now, before) {
    const bounds = Object.keys(now).map((le) => [le === '+Inf' ? Infinity : Number(le), le]).sort((a, b) => a[0] - b[0]);
    const delta = bounds.map(([bound, le]) => [bound, Math.max(0, now[le] - ((before && before[le]) ?? 0))]);
    const total = delta.length ? delta[delta.length - 1][1] : 0;
    if (total === 0) return undefined;
    const target = q * total;
    let lower = 0, below = 0;
    for (const [bound, cumulative] of delta) {
      if (cumulative >= target) {
        if (bound === Infinity) return lower;
        const share = cumulative === below ? 1 : (target - below) / (cumulative - below);
        return lower + (bound - lower) * share;
      }
      lower = bound; below = cumulative;
    }
    return lower;
  }

  const history = { time: [], rate: {}, p99: {}, jobs: {}, hit: [], lag: [] };
  function push(list, value) { list.push(value ?? null); if (list.length > KEEP) list.shift(); }
  function seriesFor(map, key) {
    if (!map[key]) map[key] = new Array(history.time.length - 1).fill(null);
    return map[key];
  }

  const COLORS = ['#4a7bd0', '#d0664a', '#2a9d6f', '#9b59b6', '#c9a227', '#3aa6b9', '#d04a8a', '#7f8c8d'];
  const charts = {};
  function draw(id, title, map, unit) {
    const keys = Object.keys(map).sort();
    const host = $(id);
    const signature = keys.join('|');
    if (!charts[id] || charts[id].signature !== signature) {
      if (charts[id]) charts[id].plot.destroy();
      const series = [{}].concat(keys.map((key, i) => ({ label: key, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true })));
      const plot = new uPlot({ width: 520, height: 220, series, axes: [{}, { label: unit, size: 60 }], scales: { x: { time: true } } },
        [history.time].concat(keys.map((key) => map[key])), host);
      charts[id] = { plot, signature };
    } else {
      charts[id].plot.setData([history.time].concat(keys.map((key) => map[key])));
    }
    host.dataset.points = String(history.time.length);
  }

  function row(cells, attrs = '') {
    return '<tr ' + attrs + '>' + cells.map((cell) => '<td>' + cell + '</td>').join('') + '</tr>';
  }

  function render(now, before, data) {
    const seconds = before ? (now.at - before.at) / 1000 : 0;
    push(history.time, now.at / 1000);
    let allCount = 0, allErrors = 0;
    const rows = [];
    const names = Object.keys(now.groups).sort();
    const allBuckets = {}, allBefore = {};
    for (const name of names) {
      const g = now.groups[name];
      const b = before && before.groups[name];
      const count = b ? Math.max(0, g.count - b.count) : 0;
      const errors = b ? Math.max(0, g.errors - b.errors) : 0;
      const rate = seconds > 0 ? count / seconds : undefined;
      const p99 = quantile(0.99, g.buckets, b && b.buckets);
      if (!name.startsWith('gateway')) {
        allCount += count; allErrors += errors;
        for (const le in g.buckets) { allBuckets[le] = (allBuckets[le] ?? 0) + g.buckets[le]; allBefore[le] = (allBefore[le] ?? 0) + ((b && b.buckets[le]) ?? 0); }
      }
      push(seriesFor(history.rate, name), rate);
      push(seriesFor(history.p99, name), p99 === undefined ? undefined : p99 * 1000);
      rows.push(row([escape(name), num(rate), count ? pct(errors / count) : '–',
        ms(quantile(0.5, g.buckets, b && b.buckets)), ms(quantile(0.95, g.buckets, b && b.buckets)), ms(p99)],
        'data-service="' + escape(name) + '" data-rate="' + (rate ?? 0) + '"'));
    }
    for (const key of Object.keys(history.rate)) if (!now.groups[key]) { push(history.rate[key], undefined); push(history.p99[key], undefined); }
    $('services').tBodies[0].innerHTML = rows.join('');
    text($('total-rate'), seconds > 0 ? num(allCount / seconds) : '–');
    text($('total-errors'), allCount ? pct(allErrors / allCount) : '–');
    text($('total-p99'), ms(before ? quantile(0.99, allBuckets, allBefore) : undefined));
    text($('total-processes'), String(now.totals.processes.length));

    const hits = before ? now.totals.cacheHits - before.totals.cacheHits : 0;
    const misses = before ? now.totals.cacheMisses - before.totals.cacheMisses : 0;
    const ratio = hits + misses > 0 ? hits / (hits + misses) : undefined;
    text($('cache-ratio'), pct(ratio));
    text($('rate-limited'), seconds > 0 ? num(Math.max(0, now.totals.denied - before.totals.denied) / seconds) : '–');
    push(history.hit, ratio);
    const lags = Object.values(now.totals.replicas);
    push(history.lag, lags.length ? Math.max(...lags) : undefined);

    const health = {};
    for (const instance of now.instances) health[instance.origin] = instance;
    const instanceRows = now.totals.processes.map((proc) => {
      const cpu = before && before.totals.cpu[proc.key] !== undefined && seconds > 0
        ? (proc.cpu - before.totals.cpu[proc.key]) / seconds : undefined;
      return row([escape(proc.key), '<span class="up">reporting</span>', pct(cpu), num(proc.rss / 1048576, 0) + ' MB', ms(proc.loop), pct(proc.elu), String(proc.waiting)]);
    });
    for (const instance of now.instances) {
      instanceRows.push(row([escape(instance.service + ' ' + instance.version + ' · ' + instance.origin),
        instance.available ? '<span class="up">available</span>' : '<span class="down">' + (instance.ejected ? 'ejected' : instance.healthy ? 'unavailable' : 'unhealthy') + '</span>', '', '', '', '', '']));
    }
    for (const gone of now.unreachable) instanceRows.push(row([escape(gone.origin), '<span class="down">unreachable</span>', '', '', '', '', '']));
    $('instances').tBodies[0].innerHTML = instanceRows.join('');

    const jobRows = [];
    for (const type of Object.keys(now.totals.jobs).sort()) {
      const job = now.totals.jobs[type];
      const was = before && before.totals.jobs[type];
      const perSecond = (key) => (was && seconds > 0 ? Math.max(0, (job[key] ?? 0) - (was[key] ?? 0)) / seconds : undefined);
      push(seriesFor(history.jobs, type), job.queued ?? 0);
      jobRows.push(row([escape(type), String(job.queued ?? 0), num(job.lag ?? 0) + ' s', num(perSecond('attempts')), num(perSecond('failed')), String(job.dead ?? 0)],
        'data-type="' + escape(type) + '"'));
    }
    for (const type of Object.keys(history.jobs)) if (!now.totals.jobs[type]) push(history.jobs[type], undefined);
    $('jobs').tBodies[0].innerHTML = jobRows.join('') || row(['no job yet', '', '', '', '', '']);
    $('replicas').tBodies[0].innerHTML = Object.keys(now.totals.replicas).map((name) => row([escape(name), ms(now.totals.replicas[name])])).join('') || row(['no replica', '']);

    draw('chart-rate', 'requests/s', history.rate, 'req/s');
    draw('chart-p99', 'p99', history.p99, 'ms');
    draw('chart-jobs', 'jobs', history.jobs, 'jobs');
    draw('chart-data', 'data', { 'cache hit ratio': history.hit, 'replica lag': history.lag }, '');
    renderTraces(data);
  }

  /** The slowest traces of every process, their spans merged by trace id, each as a waterfall. */
  function renderTraces(data) {
    const traces = {};
    for (const process of data.processes) {
      for (const trace of process.traces) {
        const t = (traces[trace.traceId] ??= { traceId: trace.traceId, spans: {} });
        for (const span of trace.spans) t.spans[span.spanId] = span;
      }
    }
    const list = Object.values(traces).map((t) => {
      const all = Object.values(t.spans);
      // Parents first, each followed by its children in start order: the waterfall's rows.
      const children = {};
      const roots = [];
      for (const span of all) {
        if (t.spans[span.parentSpanId]) (children[span.parentSpanId] ??= []).push(span);
        else roots.push(span);
      }
      const byStart = (a, b) => a.startMs - b.startMs || b.durationMs - a.durationMs;
      const spans = [];
      const visit = (span) => { spans.push(span); (children[span.spanId] ?? []).sort(byStart).forEach(visit); };
      roots.sort(byStart).forEach(visit);
      const root = roots.find((span) => span.kind === 'server') ?? roots[0];
      const start = Math.min(...all.map((s) => s.startMs));
      const end = Math.max(...all.map((s) => s.startMs + s.durationMs));
      return { traceId: t.traceId, name: root.name, service: root.service, start, duration: end - start, spans };
    }).sort((a, b) => b.duration - a.duration).slice(0, 10);
    const host = $('traces');
    if (!list.length) return;
    const open = new Set([...host.querySelectorAll('details[open]')].map((d) => d.dataset.trace));
    const kept = list.some((trace) => open.has(trace.traceId));
    host.innerHTML = list.map((trace, index) => {
      const depth = {};
      const byId = {};
      for (const span of trace.spans) byId[span.spanId] = span;
      const level = (span) => depth[span.spanId] ??= (byId[span.parentSpanId] ? level(byId[span.parentSpanId]) + 1 : 0);
      const bars = trace.spans.map((span) => {
        const left = trace.duration ? ((span.startMs - trace.start) / trace.duration) * 100 : 0;
        const width = trace.duration ? Math.max(0.5, (span.durationMs / trace.duration) * 100) : 100;
        return '<div class="span" title="' + escape(span.service + ': ' + span.name) + '">' +
          '<i class="' + (span.error ? 'error' : '') + '" style="left:' + left.toFixed(2) + '%;width:' + width.toFixed(2) + '%"></i>' +
          '<em style="padding-left:' + (4 + level(span) * 12) + 'px">' + escape(span.service.replace(/^tern-/, '') + ' · ' + span.name) + ' · ' + span.durationMs.toFixed(1) + ' ms</em></div>';
      }).join('');
      // The traces opened stay open while listed; when none is, the slowest is.
      const isOpen = kept ? open.has(trace.traceId) : index === 0;
      return '<details class="trace" data-trace="' + trace.traceId + '"' + (isOpen ? ' open' : '') + '><summary>' +
        escape(trace.service.replace(/^tern-/, '') + ' · ' + trace.name) + ' — ' + trace.duration.toFixed(1) + ' ms, ' + trace.spans.length + ' spans <code>' + trace.traceId + '</code></summary>' + bars + '</details>';
    }).join('');
  }

  let before;
  async function poll() {
    try {
      const response = await fetch('/_/dashboard/data', { cache: 'no-store', credentials: 'same-origin' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const data = await response.json();
      const now = aggregate(data);
      render(now, before, data);
      before = now;
      text($('status'), 'updated ' + new Date(now.at).toLocaleTimeString() + ' · every ' + POLL_MS / 1000 + ' s');
      document.body.dataset.polls = String(Number(document.body.dataset.polls ?? 0) + 1);
    } catch (error) {
      text($('status'), 'no data: ' + error.message);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
`;

export const DASHBOARD_PAGE = { html, script };
