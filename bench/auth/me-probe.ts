/**
 * Open-model latency probe, run as its own process so nothing else on the load generator's
 * event loop can delay its schedule: `GET /v1/auth/me` at a fixed rate, each request's latency
 * counted from the time it was due to be sent (not from when it went out), so a stalled server
 * shows in the tail instead of silently slowing the probe down (no coordinated omission).
 *
 * Input: env BENCH_PROBE = {"url", "tokens": [...], "rate", "seconds"}. Output: one JSON line.
 */
import { createHttpClient, percentile } from './http-load';

interface ProbeInput {
  url: string;
  tokens: string[];
  rate: number;
  seconds: number;
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
}

const input = JSON.parse(process.env.BENCH_PROBE ?? '{}') as ProbeInput;
// Enough sockets that a slow answer never holds up the next send.
const client = createHttpClient(input.url, 256);
const total = Math.round(input.rate * input.seconds);
const intervalMs = 1000 / input.rate;
const latencies: number[] = [];
const sendLags: number[] = [];
let failed = 0;

// A few requests first: sockets open, tokens land in the verifier's cache, JIT warms up.
for (const token of input.tokens) {
  await client.send('GET', '/v1/auth/me', undefined, { authorization: `Bearer ${token}` });
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
      const token = input.tokens[next % input.tokens.length] ?? '';
      next++;
      outstanding++;
      client
        .send('GET', '/v1/auth/me', undefined, { authorization: `Bearer ${token}` })
        .then(
          (response) => {
            if (response.status === 200) latencies.push(performance.now() - due);
            else failed++;
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
};
console.log(JSON.stringify(result));
