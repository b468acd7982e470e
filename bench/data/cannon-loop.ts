/**
 * A closed loop on autocannon, for requests that need no per-client state (get by id over a
 * rotating set of ids). It drives about 1.7× what the node:http loop in `auth/http-load.ts` drives
 * from the same core (9,100 against 5,500 reads/s measured on Tern's cached get by id), so a
 * server faster than the node:http client can drive shows as such.
 */
import autocannon from 'autocannon';
import type { ClosedLoopResult } from '../auth/http-load';
import type { ProbeRequest } from '../lib/rate-probe';

export async function cannonLoop(options: {
  url: string;
  connections: number;
  seconds: number;
  /** The requests, sent in turn; a body is sent as JSON. */
  requests: ProbeRequest[];
}): Promise<ClosedLoopResult> {
  let next = 0;
  const first = options.requests[0];
  if (!first) throw new Error('cannonLoop needs at least one request');
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    headers: first.headers,
    requests: [
      {
        method: first.method as 'GET',
        setupRequest: (request) => {
          const chosen = options.requests[next++ % options.requests.length] ?? first;
          if (chosen.body === undefined)
            return { ...request, method: chosen.method as 'GET', path: chosen.path };
          return {
            ...request,
            method: chosen.method as 'POST',
            path: chosen.path,
            body: JSON.stringify(chosen.body),
            headers: { ...request.headers, 'content-type': 'application/json' },
          };
        },
      },
    ],
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  const ok = result.requests.total - result.non2xx;
  const seconds = result.duration;
  return {
    ok,
    failed,
    stopped: 0,
    seconds,
    perSecond: Math.round(ok / seconds),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}
