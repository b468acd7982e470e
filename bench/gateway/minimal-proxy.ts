/**
 * The Node floor for the gateway benchmark: node:http and an undici Pool with a dispatch handler,
 * and nothing else (no routing, headers barely filtered, no errors handled, no metrics). Not a
 * proxy anyone should run: it shows what any proxy written on Node's HTTP stack costs at least,
 * next to nginx's cost for the same work. Forwards to BENCH_UPSTREAM; prints "listening on <url>".
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const upstream = process.env.BENCH_UPSTREAM;
if (!upstream) throw new Error('BENCH_UPSTREAM is required');
const pool = new Pool(upstream, { connections: 128 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'host', 'transfer-encoding']);

class Relay implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: string[] = [];
  private chunks: Buffer[] = [];
  constructor(private readonly response: ServerResponse) {}
  onConnect(): void {}
  onError(): void {
    if (!this.response.headersSent) this.response.writeHead(502);
    this.response.end();
  }
  onHeaders(status: number, raw: Buffer[]): boolean {
    this.status = status;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1');
      if (!HOP_BY_HOP.has(name.toLowerCase()))
        this.headers.push(name, (raw[i + 1] as Buffer).toString('latin1'));
    }
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }
  onComplete(): void {
    this.response.writeHead(this.status, this.headers);
    this.response.end(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
  }
}

const server = createServer((request, response) => {
  const headers: string[] = [];
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has((raw[i] as string).toLowerCase()))
      headers.push(raw[i] as string, raw[i + 1] as string);
  }
  headers.push('x-forwarded-for', request.socket.remoteAddress ?? '');
  pool.dispatch(
    { path: request.url ?? '/', method: (request.method ?? 'GET') as Dispatcher.HttpMethod, headers },
    new Relay(response),
  );
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.close();
  void pool.close().then(() => process.exit(0));
});
