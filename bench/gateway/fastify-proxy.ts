/**
 * The Node reference for the gateway benchmark: Fastify with @fastify/http-proxy (undici, its
 * defaults), forwarding everything to BENCH_UPSTREAM. Prints "listening on <url>".
 */
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const upstream = process.env.BENCH_UPSTREAM;
if (!upstream) throw new Error('BENCH_UPSTREAM is required');
const app = Fastify({ logger: false });
await app.register(proxy, { upstream });
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening on ${address}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
