import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpClient } from './http-client';
import { LoadError } from './load-error';
import { seededRandom } from './random';
import type { Recorder } from './recorder';
import type { ErrorClass, Scenario, StepRequest, VirtualUser } from './scenario';

export interface SessionOptions {
  target: URL;
  scenario: Scenario<unknown>;
  /** Distinct users: an open-model arrival is one of them; a closed-model run has at most this many at once. */
  users: number;
  timeoutMs: number;
  /** Connections to the target at most. */
  connections: number;
  /** Multiplies every think time (0: none, for a saturation search). */
  thinkScale: number;
  seed: number;
  adminKey: string | undefined;
  log(line: string): void;
}

/**
 * What every stretch of a run shares: the connections, the scenario's setup result and the
 * population of users with their state (a user signed in during a ramp stays signed in).
 */
export class LoadSession {
  readonly client: HttpClient;
  readonly random: () => number;
  private readonly states: Record<string, unknown>[];
  /** Journeys that threw, by journey, with the first message of each. */
  readonly journeyErrors = new Map<string, { count: number; first: string }>();
  /** The first message of each error class that is not a status (a timeout, a refused connection). */
  readonly errorDetails = new Map<ErrorClass, string>();
  shared: unknown;

  constructor(readonly options: SessionOptions) {
    if (!Number.isInteger(options.users) || options.users < 1)
      throw new LoadError('the population needs at least 1 user');
    const { scenario } = options;
    if (!Array.isArray(scenario.journeys) || scenario.journeys.length === 0) {
      throw new LoadError(`scenario ${String(scenario.name)} has no journeys`);
    }
    for (const journey of scenario.journeys) {
      if (typeof journey?.name !== 'string' || typeof journey.run !== 'function') {
        throw new LoadError(
          `scenario ${String(scenario.name)}: every journey needs a name and a run function`,
        );
      }
      if (!Number.isFinite(journey.weight) || !(journey.weight > 0)) {
        throw new LoadError(`journey ${journey.name} needs a weight above 0`);
      }
    }
    this.client = new HttpClient(options.target.origin, {
      timeoutMs: options.timeoutMs,
      connections: options.connections,
    });
    this.random = seededRandom(options.seed);
    this.states = Array.from({ length: options.users }, () => ({}));
  }

  /**
   * Runs the scenario's setup. Ctrl-C (`signal`) ends the wait at once, even for a setup that
   * hangs: the run that follows then stops before it starts, and reports itself interrupted.
   */
  async setup(signal?: AbortSignal): Promise<void> {
    const { scenario, target, adminKey, users, log } = this.options;
    if (!scenario.setup || signal?.aborted) return;
    const INTERRUPTED = Symbol('interrupted');
    const interrupted = new Promise<typeof INTERRUPTED>((resolve) =>
      signal?.addEventListener('abort', () => resolve(INTERRUPTED), { once: true }),
    );
    try {
      const shared = await Promise.race([
        scenario.setup({
          target,
          adminKey,
          users,
          log,
          request: (request: StepRequest) => this.client.send(request),
        }),
        interrupted,
      ]);
      if (shared !== INTERRUPTED) this.shared = shared;
    } catch (error) {
      throw new LoadError(`scenario ${scenario.name}: setup failed: ${(error as Error).message}`);
    }
  }

  /**
   * One journey's view of user `id`. `due` is when its first step is meant to start
   * (performance.now() time): the scheduled arrival, so a late start counts in its latency.
   */
  user(
    id: number,
    due: number,
    recorder: Recorder,
    run: { stopped: boolean; abort: AbortSignal },
  ): VirtualUser {
    const { client, random, errorDetails } = this;
    const thinkScale = this.options.thinkScale;
    let next = due;
    return {
      id,
      shared: this.shared,
      state: this.states[id % this.states.length] as Record<string, unknown>,
      random,
      async request(step, request) {
        const intended = next;
        const response = await client.send(request);
        const end = performance.now();
        if (!run.stopped) recorder.record(step, (end - intended) * 1_000, response.error);
        if (response.error && response.detail && !errorDetails.has(response.error)) {
          errorDetails.set(response.error, response.detail);
        }
        next = end;
        return response;
      },
      async think(ms) {
        const pause = typeof ms === 'number' ? ms : ms[0] + random() * (ms[1] - ms[0]);
        next += Math.max(0, pause) * thinkScale;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait, undefined, { signal: run.abort });
      },
    };
  }

  noteJourneyError(journey: string, error: unknown): void {
    const entry = this.journeyErrors.get(journey);
    if (entry) entry.count++;
    else
      this.journeyErrors.set(journey, {
        count: 1,
        first: String((error as Error).message ?? error).slice(0, 200),
      });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
