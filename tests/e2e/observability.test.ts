import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@tern/testing';
import { metricSum } from './metric-sum';
import { spawnTern, type TernProcess } from './spawn-tern';

const ADMIN_KEY = 'e2e-observability-admin-key-long-enough-0123';

/** One span as the OTLP/HTTP JSON exporter sends it, with the service that sent it. */
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const SPAN_KIND = { server: 2, client: 3, producer: 4, consumer: 5 };

/** A local OTLP/HTTP receiver: keeps every span posted to /v1/traces. */
async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; server: Server }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url !== '/v1/traces' || request.headers['content-type'] !== 'application/json') {
        response.writeHead(415).end();
        return;
      }
      const payload = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: {
            spans: {
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              kind: number;
              attributes?: { key: string; value: Record<string, unknown> }[];
            }[];
          }[];
        }[];
      };
      for (const resource of payload.resourceSpans) {
        const service =
          resource.resource.attributes.find((attribute) => attribute.key === 'service.name')?.value
            .stringValue ?? '?';
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: Object.fromEntries(
                (span.attributes ?? []).map((attribute) => [
                  attribute.key,
                  Object.values(attribute.value)[0],
                ]),
              ),
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, server };
}

/** The JSON log lines a process wrote that carry `traceId`. */
function linesOfTrace(process: TernProcess, traceId: string): Record<string, unknown>[] {
  return process.stdout
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(traceId))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('observability: one request through the services shape', () => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const stream = uniqueName('OBS').toUpperCase();
  const redisPrefix = `${uniqueName('obs')}:`;
  let jobs: TernProcess;
  let worker: TernProcess;
  let gateway: TernProcess;

  before(async () => {
    database = await createTestDatabase();
    receiver = await startOtlpReceiver();
    const common = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      NATS_URL: TEST_NATS_URL,
      TERN_NATS_STREAM: stream,
      TERN_REDIS_KEY_PREFIX: redisPrefix,
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER_ARG: '1',
    };
    jobs = await spawnTern(['start', '--service', 'jobs', '--port', '0'], {
      ...common,
      TERN_INSTANCE_ID: 'jobs-1',
    });
    worker = await spawnTern(['start', '--service', 'worker', '--port', '0'], {
      ...common,
      TERN_INSTANCE_ID: 'worker-1',
    });
    gateway = await spawnTern(['start', '--service', 'gateway', '--port', '0'], {
      ...common,
      TERN_INSTANCE_ID: 'gw-1',
      TERN_GATEWAY_UPSTREAMS: `jobs=${jobs.url}`,
    });
  });

  after(async () => {
    await gateway?.stop();
    await Promise.all([jobs?.stop(), worker?.stop()]);
    receiver?.server.close();
    await database?.drop();
    await deleteNatsStreams(stream);
    await deleteRedisKeys(redisPrefix);
  });

  it('yields one trace gateway → service → queue → worker, a log line per process with its ids, and metrics that moved', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const to = `${uniqueName('obs')}@example.com`;
    const accepted = await fetch(`${gateway.url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${clientSpan}-01`,
      },
      body: JSON.stringify({ type: 'email.send', payload: { to, subject: 'Traced', text: 'hello' } }),
    });
    assert.equal(accepted.status, 202, await accepted.clone().text());
    const { statusUrl } = (await accepted.json()) as { statusUrl: string };
    await waitFor(
      async () => {
        const job = await fetch(`${gateway.url}${statusUrl}`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        return ((await job.json()) as { status: string }).status === 'succeeded';
      },
      { timeoutMs: 20_000, what: 'the job to succeed' },
    );

    // The spans arrive in the exporters' next batches (every second).
    const trace = () => receiver.spans.filter((span) => span.traceId === traceId);
    const consumerSpan = () =>
      trace().find((span) => span.kind === SPAN_KIND.consumer && span.name === 'process jobs.run.email.send');
    await waitFor(
      () => consumerSpan() !== undefined && trace().some((span) => span.service === 'tern-gateway'),
      {
        timeoutMs: 20_000,
        what: `the trace's spans at the receiver (${receiver.spans.length} spans so far)`,
      },
    );
    const spans = trace();
    const byId = new Map(spans.map((span) => [span.spanId, span]));

    const edge = spans.find((span) => span.service === 'tern-gateway' && span.kind === SPAN_KIND.server);
    assert.ok(edge, 'the gateway span');
    assert.equal(edge.parentSpanId, clientSpan, "the gateway continues the client's trace");
    assert.equal(edge.attributes['http.response.status_code'], 202);

    const service = spans.find((span) => span.service === 'tern-jobs' && span.name === 'POST /v1/jobs');
    assert.ok(service, 'the service span');
    assert.equal(service.parentSpanId, edge.spanId, "the service continues the gateway's span");
    assert.equal(service.kind, SPAN_KIND.server);

    const publish = spans.find((span) => span.kind === SPAN_KIND.producer);
    assert.ok(publish, 'the queue hop');
    assert.equal(publish.name, 'publish jobs.run.email.send');
    // The publish happened inside the request (its ancestors lead to the service span).
    let ancestor = byId.get(publish.parentSpanId);
    while (ancestor && ancestor !== service) ancestor = byId.get(ancestor.parentSpanId);
    assert.equal(ancestor, service, 'the publish is part of the request');

    const consumed = consumerSpan() as ReceivedSpan;
    assert.equal(consumed.parentSpanId, publish.spanId, "the worker's span continues the publish");
    assert.ok(['tern-jobs', 'tern-worker'].includes(consumed.service));
    assert.equal(consumed.attributes['messaging.system'], 'nats');

    // Database calls are spans too, in the request and in the worker.
    const queries = spans.filter((span) => span.attributes['db.system.name'] === 'postgresql');
    assert.ok(
      queries.some((span) => span.service === 'tern-jobs'),
      'a query of the accept',
    );
    assert.ok(
      queries.some((span) => span.service === consumed.service && span.spanId !== consumed.spanId),
      'a query of the worker',
    );

    // A log line in each process it touched, sharing the trace id.
    const edgeLines = linesOfTrace(gateway, traceId);
    assert.ok(
      edgeLines.some((line) => line.msg === 'request' && line.status === 202 && line.spanId === edge.spanId),
      'the gateway logged the request with its span',
    );
    const serviceLines = linesOfTrace(jobs, traceId);
    assert.ok(
      serviceLines.some((line) => line.msg === 'request' && line.route === '/v1/jobs' && line.status === 202),
      'the service logged the request',
    );
    const workerProcess = consumed.service === 'tern-worker' ? worker : jobs;
    assert.ok(
      linesOfTrace(workerProcess, traceId).some(
        (line) => line.msg === 'job succeeded' && line.jobType === 'email.send',
      ),
      'the worker logged the job under the same trace',
    );
    for (const line of [...edgeLines, ...serviceLines]) {
      assert.equal(line.traceId, traceId);
      assert.ok(!JSON.stringify(line).includes(ADMIN_KEY), 'no credential in a log line');
    }

    // Metrics that moved.
    assert.ok(
      (await metricSum(gateway, 'tern_gateway_requests_total', { upstream: 'jobs', status: '202' })) >= 1,
    );
    assert.ok(
      (await metricSum(jobs, 'tern_http_request_duration_seconds_count', {
        route: '/v1/jobs',
        status: '202',
      })) >= 1,
    );
    const attempts = async (process: TernProcess) =>
      metricSum(process, 'tern_jobs_attempts_total', { type: 'email.send', outcome: 'succeeded' });
    assert.equal((await attempts(jobs)) + (await attempts(worker)), 1);
  });

  it("serves the live dashboard's data at the gateway: its own and each instance's, with their health", async () => {
    const refused = await fetch(`${gateway.url}/_/dashboard/data`);
    assert.equal(refused.status, 401);
    const answer = await fetch(`${gateway.url}/_/dashboard/data`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(answer.status, 200);
    const data = (await answer.json()) as {
      processes: { service: string; instance: string; samples: [string, Record<string, string>, number][] }[];
      instances: { service: string; origin: string; available: boolean }[];
      unreachable: unknown[];
    };
    assert.deepEqual(
      data.processes.map((process) => `${process.service}/${process.instance}`),
      ['gateway/gw-1', 'jobs/jobs-1'],
    );
    assert.deepEqual(
      data.instances.map((instance) => [instance.service, instance.origin, instance.available]),
      [['jobs', jobs.url, true]],
    );
    assert.deepEqual(data.unreachable, []);
    const gatewaySamples = data.processes[0]?.samples ?? [];
    assert.ok(
      gatewaySamples.some(
        ([name, labels]) => name === 'tern_gateway_requests_total' && labels.upstream === 'jobs',
      ),
    );
    const page = await fetch(`${gateway.url}/_/dashboard`, {
      headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}` },
    });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Tern · live<\/title>/);
  });

  it('starts a trace at the gateway when the client sends none, and passes a malformed one over', async () => {
    for (const traceparent of [
      undefined,
      '00-zz-not-a-trace-01',
      `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`,
    ]) {
      const answer = await fetch(`${gateway.url}/v1/jobs/${'0'.repeat(8)}-0000-0000-0000-000000000000`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(traceparent ? { traceparent } : {}) },
      });
      assert.equal(answer.status, 404);
      const requestId = answer.headers.get('x-request-id') as string;
      const line = await waitFor(
        () =>
          jobs.stdout
            .join('')
            .split('\n')
            .filter((text) => text.includes(requestId) && text.includes('"msg":"request"'))
            .map((text) => JSON.parse(text) as { traceId?: string })[0],
        { what: 'the service request line' },
      );
      assert.match(line.traceId ?? '', /^[0-9a-f]{32}$/);
      assert.notEqual(line.traceId, '0'.repeat(32));
    }
  });
});
