/**
 * Open-model probe for the benchmarks, run as its own process (on the load generator's core, so
 * nothing else on the generator's event loop can delay its schedule):
 * sends a list of requests at a fixed rate, each latency counted from the time the request was due
 * (not from when it went out), so a stalled server shows in the tail (no coordinated omission).
 *
 * Input: env BENCH_PROBE_FILE, a JSON file {url, rate, requests: [{method, path, body?, headers}],
 * warmup?, collectIds?}; the `warmup` requests go first, unmeasured (sockets open, caches and JIT
 * warm), then one request per 1/rate s, in order. Output: one JSON line (ProbeResult); with
 * `collectIds`, the `id` or `objectId` of every answer, for reads of documents never read before.
 */
import { readFileSync } from 'node:fs';
import { createHttpClient, percentile } from '../auth/http-load';

export interface ProbeRequest {
  method: string;
  path: string;
  body?: unknown;
  headers: Record<string, string>;
}

export interface ProbeInput {
  url: string;
  rate: number;
  requests: ProbeRequest[];
  warmup?: ProbeRequest[];
  collectIds?: boolean;
}

export interface ProbeResult {
  sent: number;
  ok: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How late the probe itself sent requests (its own scheduling), p99. */
  sendLagP99Ms: number;
  ids: string[];
}

const input = JSON.parse(readFileSync(process.env.BENCH_PROBE_FILE ?? '', 'utf8')) as ProbeInput;
// Enough sockets that a slow answer never holds up the next send.
const client = createHttpClient(input.url, 512);
const total = input.requests.length;
const intervalMs = 1000 / input.rate;
const latencies: number[] = [];
const sendLags: number[] = [];
const ids: string[] = [];
let failed = 0;

for (const request of input.warmup ?? []) {
  await client.send(request.method, request.path, request.body, request.headers);
}

await new Promise<void>((done) => {
  const start = performance.now() + 20;
  let next = 0;
  let outstanding = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total && start + next * intervalMs <= now) {
      const due = start + next * intervalMs;
      sendLags.push(now - due);
      const request = input.requests[next] as ProbeRequest;
      next++;
      outstanding++;
      client
        .send(request.method, request.path, request.body, request.headers)
        .then(
          (response) => {
            if (response.status < 200 || response.status > 299) {
              failed++;
              return;
            }
            latencies.push(performance.now() - due);
            if (input.collectIds) {
              const body = JSON.parse(response.body) as { id?: string; objectId?: string };
              ids.push(body.id ?? body.objectId ?? '');
            }
          },
          () => failed++,
        )
        .finally(() => {
          outstanding--;
          if (next >= total && outstanding === 0) done();
        });
    }
    if (next < total) setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
  };
  tick();
});
client.close();

const result: ProbeResult = {
  sent: total,
  ok: latencies.length,
  failed,
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  maxMs: percentile(latencies, 100),
  sendLagP99Ms: percentile(sendLags, 99),
  ids,
};
console.log(JSON.stringify(result));
