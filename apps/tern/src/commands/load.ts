import { parseArgs } from 'node:util';
import {
  checkTarget,
  findLimit,
  formatDuration,
  LoadError,
  parseStages,
  parseThreshold,
  runLoad,
  writeReports,
  type IntervalPoint,
  type LimitStep,
  type Report,
} from '@tern/load';
import { durationFlag, loadScenario, metricsUrls, numberFlag, reportDir } from './load-inputs';

export const LOAD_USAGE = `Usage: tern load <scenario> --target <url> [options]

  <scenario>             mobile (sign-in, feed, items, posts, token refresh, an export job),
                         http (one GET of the target URL's path per arrival), or a .ts/.js file
                         whose default export is a Scenario (see packages/load/README.md)
  --target <url>         The Tern gateway or process to load (loopback only unless --allow-remote)
  --rate <n>             Open model: journeys started per second, whatever the responses take
  --vus <n>              Closed model: n virtual users, each running journeys back to back
  --duration <d>         How long (default 30s; e.g. 90s, 2m; at most 24h). With --find-limit:
                         the whole search at most (default 10m)
  --warmup <d>           Load at the first level for d before measuring (the generator's own JIT
                         warms up in its first second or two; default 0s)
  --stages <list>        Ramps, spikes and soaks instead: "30s:0-200,60s:200,5s:1000" (rates, or
                         users with --vus)
  --threshold <expr>     Repeatable: "p99<250ms", "errors<0.1%", "rate>=500", "login:p95<400ms";
                         a broken one makes the exit code 1
  --report <dir>         Write report.json and report.html there
  --find-limit           Raise the rate step by step until a threshold breaks, reading every
                         process's /metrics, and name the first component to saturate
  --step <d>             --find-limit: each step's length (default 10s)
  --growth <x>           --find-limit: each step's rate is the last one's times x (above 1,
                         default 1.5)
  --max-rate <n>         --find-limit: stop there (default 20000)
  --metrics <url>        --find-limit: a /metrics URL to watch (repeatable); the target's by
                         default, and every instance the gateway lists when given --admin-key
  --users <n>            Distinct users in the population (default 200)
  --admin-key <key>      For the scenario's setup and instance discovery (default TERN_ADMIN_KEY)
  --timeout <d>          Per request, 100ms to 5m (default 10s)
  --max-in-flight <n>    Open model: journeys in flight at most, and connections (default 1000);
                         later arrivals are dropped and counted
  --no-think             Skip think time (the default for --find-limit)
  --seed <n>             Seeds the users' choices (default 1)
  --allow-remote         Allow a target that is not this machine
  --quiet                No progress lines`;

const MAX = { rate: 100_000, vus: 10_000, durationMs: 24 * 3_600_000 };

const progressLine = (point: IntervalPoint) =>
  `${formatDuration(point.t * 1_000).padStart(6)}  target ${String(point.target).padStart(6)}  ` +
  `done ${point.rate.toFixed(0).padStart(6)}/s  p50 ${point.latencyMs.p50.toFixed(1)} ms  p99 ${point.latencyMs.p99.toFixed(1)} ms  ` +
  `errors ${point.errors}  in flight ${point.inFlight}  cpu ${Math.round(point.generatorCpu * 100)} %`;

const stepLine = (step: LimitStep) =>
  `step ${step.rate}/s: ${step.achieved.toFixed(0)}/s done, p99 ${step.p99Ms.toFixed(1)} ms, errors ${(step.errorRate * 100).toFixed(2)} %, ` +
  `thresholds ${step.passed ? 'held' : 'broke'}${
    step.signals.some((s) => s.saturated)
      ? `; saturated: ${step.signals
          .filter((s) => s.saturated)
          .map((s) => `${s.component} (${s.evidence})`)
          .join('; ')}`
      : ''
  }`;

const HOUR = 3_600_000;

/** `tern load`: 0 when every threshold held, 1 when one broke, 2 on bad usage, 130 when interrupted. */
export async function loadCommand(
  args: string[],
  io: { env: Record<string, string | undefined>; out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  const { out, err, env } = io;
  let parsed: ReturnType<typeof parseLoadArgs>;
  try {
    parsed = parseLoadArgs(args);
  } catch (error) {
    err(`tern load: ${(error as Error).message}\n\n${LOAD_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(LOAD_USAGE);
    return 0;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const [scenarioName, ...extra] = positionals;
    if (!scenarioName || extra.length) throw new LoadError('name one scenario: mobile, http, or a file');
    if (!values.target) throw new LoadError('--target is required (e.g. --target http://127.0.0.1:8080)');
    if (values.rate !== undefined && values.vus !== undefined) {
      throw new LoadError('--rate (open model) or --vus (closed model), not both');
    }
    const finding = values['find-limit'] === true;
    if (
      values.stages !== undefined &&
      (finding || values.duration !== undefined || values.rate !== undefined)
    ) {
      throw new LoadError(
        '--stages sets the rates (or users with --vus) and the length: not with --rate, --duration or --find-limit',
      );
    }
    const target = checkTarget(values.target, values['allow-remote'] === true);
    const thresholds = (values.threshold ?? []).map(parseThreshold);
    const report = values.report === undefined ? undefined : reportDir(values.report);
    const maxInFlight = numberFlag(values['max-in-flight'], '--max-in-flight', 1_000, {
      max: 100_000,
      integer: true,
    });
    const session = {
      target,
      scenario: await loadScenario(scenarioName, target),
      users: numberFlag(values.users, '--users', 200, { max: 1_000_000, integer: true }),
      timeoutMs: durationFlag(values.timeout, '--timeout', 10_000, { minMs: 100, maxMs: 300_000 }),
      // Open model: a connection per journey in flight; closed: one per user (opened as needed).
      connections: values.vus === undefined ? maxInFlight : MAX.vus,
      thinkScale: values['no-think'] === true || finding ? 0 : 1,
      seed: numberFlag(values.seed, '--seed', 1, { max: 2 ** 31, integer: true }),
      adminKey: values['admin-key'] ?? env.TERN_ADMIN_KEY,
      log: (line: string) => err(line),
      maxInFlight,
      signal: controller.signal,
      ...(values.quiet === true ? {} : { onTick: (point: IntervalPoint) => err(progressLine(point)) }),
    };
    let result: Report;
    if (finding) {
      const watched = await metricsUrls(target, session.adminKey, values.metrics ?? []);
      err(`finding the limit of ${target.origin}; watching ${watched.join(', ')}`);
      result = await findLimit({
        ...session,
        startRate: numberFlag(values.rate, '--rate', 20, { max: MAX.rate }),
        growth: numberFlag(values.growth, '--growth', 1.5, { min: 1, max: 10 }),
        maxRate: numberFlag(values['max-rate'], '--max-rate', 20_000, { max: MAX.rate }),
        stepMs: durationFlag(values.step, '--step', 10_000, { minMs: 1_000, maxMs: HOUR }),
        maxDurationMs: durationFlag(values.duration, '--duration', 10 * 60_000, {
          minMs: 1_000,
          maxMs: MAX.durationMs,
        }),
        thresholds: thresholds.length
          ? thresholds
          : [parseThreshold('p99<500ms'), parseThreshold('errors<1%')],
        metricsUrls: watched,
        onStep: (step) => err(stepLine(step)),
      });
    } else {
      const closed = values.vus !== undefined;
      const limits = closed ? { max: MAX.vus, what: 'users' } : { max: MAX.rate, what: 'rate' };
      const durationMs = durationFlag(values.duration, '--duration', 30_000, {
        minMs: 1,
        maxMs: MAX.durationMs,
      });
      const level = closed
        ? numberFlag(values.vus, '--vus', 10, { max: MAX.vus, integer: true })
        : numberFlag(values.rate, '--rate', 10, { max: MAX.rate });
      const stages =
        values.stages !== undefined
          ? parseStages(values.stages, limits)
          : [{ durationMs, from: level, to: level }];
      if (stages.reduce((sum, stage) => sum + stage.durationMs, 0) > MAX.durationMs) {
        throw new LoadError('the stages last at most 24h');
      }
      result = await runLoad({
        ...session,
        users: closed
          ? Math.max(session.users, ...stages.map((stage) => Math.ceil(Math.max(stage.from, stage.to))))
          : session.users,
        model: { kind: closed ? 'closed' : 'open', stages },
        warmupMs: durationFlag(values.warmup, '--warmup', 0, { minMs: 0, maxMs: HOUR }),
        thresholds,
      });
    }
    printSummary(result, out);
    for (const warning of result.warnings) err(`warning: ${warning}`);
    if (report !== undefined) {
      const written = writeReports(report, result);
      out(`reports: ${written.json}, ${written.html}`);
    }
    if (result.interrupted) return 130;
    return result.passed ? 0 : 1;
  } catch (error) {
    if (error instanceof LoadError) {
      err(`tern load: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

function parseLoadArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      target: { type: 'string' },
      rate: { type: 'string' },
      vus: { type: 'string' },
      duration: { type: 'string' },
      stages: { type: 'string' },
      warmup: { type: 'string' },
      threshold: { type: 'string', multiple: true },
      report: { type: 'string' },
      'find-limit': { type: 'boolean' },
      step: { type: 'string' },
      growth: { type: 'string' },
      'max-rate': { type: 'string' },
      metrics: { type: 'string', multiple: true },
      users: { type: 'string' },
      'admin-key': { type: 'string' },
      timeout: { type: 'string' },
      'max-in-flight': { type: 'string' },
      'no-think': { type: 'boolean' },
      seed: { type: 'string' },
      'allow-remote': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function printSummary(report: Report, out: (line: string) => void): void {
  const t = report.totals;
  out(
    `${report.scenario} against ${report.target}: ${t.requests} requests in ${report.durationS} s (${t.rate.toFixed(1)}/s), ${t.errors} errors`,
  );
  for (const step of [t, ...report.steps]) {
    const l = step.latencyMs;
    out(
      `  ${step.name.padEnd(18)} ${String(step.requests).padStart(8)} req  p50 ${l.p50.toFixed(1)}  p90 ${l.p90.toFixed(1)}  p99 ${l.p99.toFixed(1)}  p99.9 ${l['p99.9'].toFixed(1)}  max ${l.max.toFixed(1)} ms` +
        (step.errors
          ? `  errors ${Object.entries(step.errorsByClass)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')}`
          : ''),
    );
  }
  for (const threshold of report.thresholds) {
    const measured = Number.isFinite(threshold.actual)
      ? `${threshold.actual.toFixed(threshold.unit === '%' ? 3 : 1)} ${threshold.unit}`
      : 'not measured';
    out(`  threshold ${threshold.threshold}: ${threshold.ok ? 'held' : 'BROKEN'} (${measured})`);
  }
  out(
    `  load generator: CPU ${Math.round(report.generator.cpuMean * 100)} % mean, ${Math.round(report.generator.cpuPeak * 100)} % peak of a core; late sends p99 ${report.generator.lateP99Ms.toFixed(1)} ms`,
  );
  if (report.limit) out(report.limit.verdict);
}
