/**
 * A small HTTP/1.1 load generator on node:http keep-alive sockets, for loads autocannon cannot
 * express: per-client state (a refresh-token chain), rotating bodies, an open-model schedule.
 */
import { Agent, request as httpRequest } from 'node:http';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpClient {
  send(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResponse>;
  close(): void;
}

export function createHttpClient(baseUrl: string, maxSockets: number): HttpClient {
  const { hostname, port } = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    send(method, path, body, headers = {}) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const allHeaders: Record<string, string | number> = { ...headers };
      if (payload !== undefined) {
        allHeaders['content-type'] = 'application/json';
        allHeaders['content-length'] = Buffer.byteLength(payload);
      }
      return new Promise((resolve, reject) => {
        const request = httpRequest(
          { host: hostname, port, method, path, agent, headers: allHeaders },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on('error', reject);
          },
        );
        request.on('error', reject);
        request.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

/** What one step of a virtual client came to; `stop` ends that client (e.g. its chain broke). */
export type StepOutcome = 'ok' | 'failed' | 'stop';

export interface ClosedLoopResult {
  ok: number;
  failed: number;
  stopped: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Closed model: `clients` virtual clients, each sending its next request when the previous one
 * answered, for `seconds`. Counts the steps that completed inside the window.
 */
export async function closedLoop(options: {
  clients: number;
  seconds: number;
  step: (client: number) => Promise<StepOutcome>;
  signal?: AbortSignal;
}): Promise<ClosedLoopResult> {
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let stopped = 0;
  const running = () => performance.now() < deadline && !options.signal?.aborted;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, client) => {
      while (running()) {
        const sent = performance.now();
        const outcome = await options.step(client).catch((): StepOutcome => 'failed');
        const ended = performance.now();
        if (ended > deadline) break;
        if (outcome === 'ok') {
          ok++;
          latencies.push(ended - sent);
        } else failed++;
        if (outcome === 'stop') {
          stopped++;
          break;
        }
      }
    }),
  );
  const seconds = (Math.min(performance.now(), deadline) - started) / 1000;
  return {
    ok,
    failed,
    stopped,
    seconds,
    perSecond: Math.round(ok / seconds),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** The value below which `p` % of `values` fall (nearest rank), rounded to 0.1. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[index] ?? Number.NaN) * 10) / 10;
}
