import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkTarget,
  findLimit,
  formatDuration,
  httpScenario,
  LoadError,
  mobileScenario,
  parseDuration,
  parseStages,
  parseThreshold,
  runLoad,
  writeReports,
  type IntervalPoint,
  type LimitStep,
  type Report,
  type Scenario,
} from '@tern/load';

export const LOAD_USAGE = `Usage: tern load <scenario> --target <url> [options]

  <scenario>             mobile (sign-in, feed, items, posts, token refresh, an export job),
                         http (one GET of the target URL's path per arrival), or a .ts/.js file
                         whose default export is a Scenario (see packages/load/README.md)
  --target <url>         The Tern gateway or process to load (loopback only unless --allow-remote)
  --rate <n>             Open model: journeys started per second, whatever the responses take
  --vus <n>              Closed model: n virtual users, each running journeys back to back
  --duration <d>         How long (default 30s; e.g. 90s, 2m)
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
  --growth <x>           --find-limit: each step's rate is the last one's times x (default 1.5)
  --max-rate <n>         --find-limit: stop there (default 20000)
  --metrics <url>        --find-limit: a /metrics URL to watch (repeatable); the target's by
                         default, and every instance the gateway lists when given --admin-key
  --users <n>            Distinct users in the population (default 200)
  --admin-key <key>      For the scenario's setup and instance discovery (default TERN_ADMIN_KEY)
  --timeout <d>          Per request (default 10s)
  --max-in-flight <n>    Open model: journeys in flight at most, and connections (default 1000);
                         later arrivals are dropped and counted
  --no-think             Skip think time (the default for --find-limit)
  --seed <n>             Seeds the users' choices (default 1)
  --allow-remote         Allow a target that is not this machine
  --quiet                No progress lines`;

const MAX = { rate: 100_000, vus: 10_000, durationMs: 24 * 3_600_000 };

function positive(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > max)
    throw new LoadError(`${flag} must be a number above 0, at most ${max}`);
  return value;
}

/** A built-in scenario, or a TypeScript/JavaScript file bundled with esbuild (its default export). */
async function loadScenario(name: string, target: URL): Promise<Scenario> {
  if (name === 'mobile') return mobileScenario as Scenario;
  if (name === 'http') return httpScenario(`${target.pathname}${target.search}`);
  if (!/\.(ts|mts|js|mjs)$/.test(name))
    throw new LoadError(`unknown scenario "${name.slice(0, 60)}": mobile, http, or a .ts/.js file`);
  const file = isAbsolute(name) ? name : resolve(process.cwd(), name);
  const dir = mkdtempSync(join(tmpdir(), 'tern-scenario-'));
  try {
    const { build } = await import('esbuild');
    const outfile = join(dir, 'scenario.mjs');
    await build({
      entryPoints: [file],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      packages: 'external',
      logLevel: 'silent',
    });
    const loaded = (await import(pathToFileURL(outfile).href)) as { default?: Scenario };
    const scenario = loaded.default;
    if (!scenario || typeof scenario !== 'object' || !Array.isArray(scenario.journeys)) {
      throw new LoadError(`${name}: the default export must be a Scenario ({ name, journeys })`);
    }
    return scenario;
  } catch (error) {
    if (error instanceof LoadError) throw error;
    throw new LoadError(`scenario ${name}: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The gateway's instances' /metrics (GET /v1/admin/routes), when the target is a gateway and the key is the admin's. */
async function discoverMetrics(target: URL, adminKey: string | undefined): Promise<string[]> {
  const urls = [new URL('/metrics', target.origin).href];
  if (!adminKey) return urls;
  try {
    const answer = await fetch(new URL('/v1/admin/routes', target.origin), {
      headers: { authorization: `Bearer ${adminKey}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (!answer.ok) return urls;
    const body = (await answer.json()) as {
      services?: Record<string, { versions?: Record<string, { origin: string }[]> }>;
    };
    for (const service of Object.values(body.services ?? {})) {
      for (const instances of Object.values(service.versions ?? {})) {
        for (const instance of instances) urls.push(new URL('/metrics', instance.origin).href);
      }
    }
  } catch {
    // Not a gateway (an all-in-one process): its own /metrics is the whole picture.
  }
  return [...new Set(urls)];
}

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

/** `tern load`: 0 when every threshold held, 1 when one broke, 2 on bad usage. */
export async function loadCommand(
  args: string[],
  io: { env: Record<string, string | undefined>; out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  const { out, err, env } = io;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
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
  } catch (error) {
    err(`tern load: ${(error as Error).message}\n\n${LOAD_USAGE}`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const flag = (name: string) => values[name] as string | undefined;
  if (values.help) {
    out(LOAD_USAGE);
    return 0;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const [scenarioName, ...extra] = parsed.positionals;
    if (!scenarioName || extra.length) throw new LoadError('name one scenario: mobile, http, or a file');
    if (!flag('target')) throw new LoadError('--target is required (e.g. --target http://127.0.0.1:8080)');
    if (flag('rate') !== undefined && flag('vus') !== undefined)
      throw new LoadError('--rate (open model) or --vus (closed model), not both');
    const target = await checkTarget(flag('target') as string, values['allow-remote'] === true);
    const scenario = await loadScenario(scenarioName, target);
    const thresholds = ((values.threshold as string[] | undefined) ?? []).map(parseThreshold);
    const findingLimit = values['find-limit'] === true;
    const timeoutMs =
      flag('timeout') === undefined ? 10_000 : parseDuration(flag('timeout') as string, '--timeout');
    const users = Math.round(positive(flag('users'), '--users', 200, 1_000_000));
    const maxInFlight = Math.round(positive(flag('max-in-flight'), '--max-in-flight', 1_000, 100_000));
    const session = {
      target,
      scenario,
      users,
      timeoutMs,
      // Open model: a connection per journey in flight; closed: one per user (opened as needed).
      connections: flag('vus') === undefined ? maxInFlight : MAX.vus,
      thinkScale: values['no-think'] === true || findingLimit ? 0 : 1,
      seed: Math.round(positive(flag('seed'), '--seed', 1, 2 ** 31)),
      adminKey: flag('admin-key') ?? env.TERN_ADMIN_KEY,
      log: (line: string) => err(line),
    };
    const onTick = values.quiet === true ? undefined : (point: IntervalPoint) => err(progressLine(point));
    let report: Report;
    if (findingLimit) {
      const metricsUrls = [
        ...(await discoverMetrics(target, session.adminKey)),
        ...((values.metrics as string[] | undefined) ?? []),
      ];
      err(`finding the limit of ${target.origin}; watching ${metricsUrls.join(', ')}`);
      report = await findLimit({
        ...session,
        startRate: positive(flag('rate'), '--rate', 20, MAX.rate),
        growth: positive(flag('growth'), '--growth', 1.5, 10),
        maxRate: positive(flag('max-rate'), '--max-rate', 20_000, MAX.rate),
        stepMs: flag('step') === undefined ? 10_000 : parseDuration(flag('step') as string, '--step'),
        maxDurationMs:
          flag('duration') === undefined
            ? 10 * 60_000
            : parseDuration(flag('duration') as string, '--duration'),
        thresholds: thresholds.length
          ? thresholds
          : [parseThreshold('p99<500ms'), parseThreshold('errors<1%')],
        metricsUrls: [...new Set(metricsUrls)],
        ...(session.adminKey ? { metricsHeaders: { authorization: `Bearer ${session.adminKey}` } } : {}),
        maxInFlight,
        ...(onTick ? { onTick } : {}),
        onStep: (step) => err(stepLine(step)),
        signal: controller.signal,
      });
    } else {
      const closed = flag('vus') !== undefined;
      const what = closed ? { max: MAX.vus, what: 'users' } : { max: MAX.rate, what: 'rate' };
      const durationMs =
        flag('duration') === undefined ? 30_000 : parseDuration(flag('duration') as string, '--duration');
      if (durationMs <= 0 || durationMs > MAX.durationMs)
        throw new LoadError('--duration must be above 0 and at most 24h');
      const level = closed
        ? positive(flag('vus'), '--vus', 10, MAX.vus)
        : positive(flag('rate'), '--rate', 10, MAX.rate);
      const stages =
        flag('stages') !== undefined
          ? parseStages(flag('stages') as string, what)
          : [{ durationMs, from: level, to: level }];
      if (stages.reduce((sum, stage) => sum + stage.durationMs, 0) > MAX.durationMs)
        throw new LoadError('the stages last at most 24h');
      report = await runLoad({
        ...session,
        users: closed
          ? Math.max(users, ...stages.map((stage) => Math.ceil(Math.max(stage.from, stage.to))))
          : users,
        model: { kind: closed ? 'closed' : 'open', stages },
        warmupMs: flag('warmup') === undefined ? 0 : parseDuration(flag('warmup') as string, '--warmup'),
        thresholds,
        maxInFlight,
        ...(onTick ? { onTick } : {}),
        signal: controller.signal,
      });
    }
    printSummary(report, out);
    for (const warning of report.warnings) err(`warning: ${warning}`);
    const reportDir = flag('report');
    if (reportDir !== undefined) {
      const written = writeReports(resolve(process.cwd(), reportDir), report);
      out(`reports: ${written.json}, ${written.html}`);
    }
    return report.passed ? 0 : 1;
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
