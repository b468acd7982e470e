/**
 * The Node reference for the jobs benchmark: Fastify answering `POST /v1/jobs` with 202 after
 * BullMQ's `queue.add` (Redis at BENCH_REDIS_URL), and a BullMQ Worker (concurrency 8) in the
 * same process running a no-op. `GET /stats` gives the enqueue-to-start delays seen since the
 * last `POST /stats/reset` (BullMQ's own `processedOn − timestamp`, ms) and the jobs not yet done. Prints "listening on <url>".
 */
import Fastify from 'fastify';
import { Queue, Worker } from 'bullmq';

const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const name = process.env.BENCH_QUEUE ?? `bench-jobs-${process.pid}`;
const queue = new Queue(name, { connection });
let delays: number[] = [];
const worker = new Worker(
  name,
  async (job) => {
    delays.push((job.processedOn ?? Date.now()) - job.timestamp);
  },
  { connection, concurrency: 8 },
);

const app = Fastify({ logger: false });
app.post('/v1/jobs', async (request, reply) => {
  const body = request.body as { type: string; payload: unknown };
  const job = await queue.add(body.type, body.payload, { removeOnComplete: true, removeOnFail: 1000 });
  return reply.code(202).send({ id: job.id, status: 'queued' });
});
app.get('/stats', async () => {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return { delays, pending: Object.values(counts).reduce((sum, count) => sum + count, 0) };
});
app.post('/stats/reset', async () => {
  delays = [];
  return {};
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening on ${address}`);
process.on('SIGTERM', () => {
  void (async () => {
    await app.close();
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    process.exit(0);
  })();
});
