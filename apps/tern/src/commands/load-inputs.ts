import { accessSync, constants, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { httpScenario, LoadError, mobileScenario, parseDuration, type Scenario } from '@tern/load';

/** A number flag within (0, max]; `integer` for counts. */
export function numberFlag(
  text: string | undefined,
  flag: string,
  fallback: number,
  { max, min = 0, integer = false }: { max: number; min?: number; integer?: boolean },
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= min || value > max || (integer && !Number.isInteger(value))) {
    throw new LoadError(
      `${flag} must be ${integer ? 'a whole number' : 'a number'} above ${min}, at most ${max}`,
    );
  }
  return value;
}

/** A duration flag within [minMs, maxMs]. */
export function durationFlag(
  text: string | undefined,
  flag: string,
  fallbackMs: number,
  { minMs, maxMs }: { minMs: number; maxMs: number },
): number {
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text, flag);
  if (ms < minMs || ms > maxMs)
    throw new LoadError(`${flag} must be from ${minMs} ms to ${maxMs / 3_600_000} h`);
  return ms;
}

/** The report directory, made now: a run must not end in an unwritable place after an hour of load. */
export function reportDir(text: string): string {
  const dir = resolve(process.cwd(), text);
  try {
    // Level by level from the nearest existing folder: Node 20's recursive mkdir loops forever
    // where a filesystem answers ENOENT for a parent that exists (/proc).
    const missing: string[] = [];
    for (let at = dir; !existsSync(at); at = dirname(at)) missing.unshift(at);
    for (const level of missing) mkdirSync(level);
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new LoadError(
      `--report ${text.slice(0, 80)}: cannot write there (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return dir;
}

/**
 * A built-in scenario, or a TypeScript/JavaScript file whose default export is a Scenario,
 * bundled with esbuild. The bundle is written beside the file so the packages it imports
 * resolve from there, as they would for the file itself (a read-only folder: into the temp dir,
 * with the packages bundled in).
 */
export async function loadScenario(name: string, target: URL): Promise<Scenario> {
  if (name === 'mobile') return mobileScenario as Scenario;
  if (name === 'http') return httpScenario(`${target.pathname}${target.search}`);
  if (!/\.(ts|mts|js|mjs)$/.test(name)) {
    throw new LoadError(`unknown scenario "${name.slice(0, 60)}": mobile, http, or a .ts/.js file`);
  }
  const file = isAbsolute(name) ? name : resolve(process.cwd(), name);
  let beside = true;
  try {
    accessSync(dirname(file), constants.W_OK);
  } catch {
    beside = false;
  }
  const outfile = beside
    ? join(dirname(file), `.${basename(file)}.${process.pid}.tern-load.mjs`)
    : join(tmpdir(), `tern-scenario-${process.pid}-${Date.now()}.mjs`);
  try {
    const { build } = await import('esbuild');
    await build({
      entryPoints: [file],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      ...(beside ? { packages: 'external' as const } : {}),
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
    rmSync(outfile, { force: true });
  }
}

/**
 * The `/metrics` URLs to watch: the target's, every instance the gateway lists at
 * `GET /v1/admin/routes` (given the admin key; an all-in-one process has no such route), and
 * those given with `--metrics`.
 */
export async function metricsUrls(
  target: URL,
  adminKey: string | undefined,
  extra: readonly string[],
): Promise<string[]> {
  // `--metrics` URLs are checked where they are watched (MetricsWatcher.start).
  const urls = [new URL('/metrics', target.origin).href, ...extra];
  if (!adminKey) return [...new Set(urls)];
  try {
    const answer = await fetch(new URL('/v1/admin/routes', target.origin), {
      headers: { authorization: `Bearer ${adminKey}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (answer.ok) {
      const body = (await answer.json()) as {
        services?: Record<string, { versions?: Record<string, { origin?: unknown }[]> }>;
      };
      for (const service of Object.values(body.services ?? {})) {
        for (const instances of Object.values(service.versions ?? {})) {
          for (const instance of instances) {
            if (typeof instance.origin === 'string') urls.push(new URL('/metrics', instance.origin).href);
          }
        }
      }
    }
  } catch {
    // Not a gateway: the target's own /metrics is the whole picture.
  }
  return [...new Set(urls)];
}
