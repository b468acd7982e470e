// A stand-in service instance for the gateway tests, run as its own process so a test can
// SIGKILL it: answers with its id and what it received; `?delay=ms` waits, `?status=n` answers n;
// POST /fixture/ready and /fixture/not-ready flip what /readyz answers. `?stream=bytes` answers
// that many bytes (a repeating 0-255 pattern) in 64 KiB chunks without a Content-Length, with
// back-pressure; GET /fixture/streams tells how many such answers finished and how many were cut.
import { createServer } from 'node:http';

const id = process.env.FIXTURE_ID ?? 'fixture';
let ready = true;
const streams = { finished: 0, cut: 0 };
const PATTERN = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => i % 256));

async function streamAnswer(response, size) {
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': id });
  let cut = false;
  response.on('close', () => {
    if (!response.writableFinished) cut = true;
  });
  for (let sent = 0; sent < size && !cut; sent += PATTERN.length) {
    const chunk = PATTERN.subarray(0, Math.min(PATTERN.length, size - sent));
    if (!response.write(chunk)) {
      await new Promise((resolve) => {
        const done = () => {
          response.off('drain', done);
          response.off('close', done);
          resolve();
        };
        response.on('drain', done);
        response.on('close', done);
      });
    }
  }
  if (cut) streams.cut += 1;
  else {
    response.end();
    streams.finished += 1;
  }
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', 'http://fixture');
  if (url.pathname === '/readyz') {
    response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: ready ? 'ready' : 'not-ready', instance: id }));
    return;
  }
  if (url.pathname === '/fixture/ready' || url.pathname === '/fixture/not-ready') {
    ready = url.pathname === '/fixture/ready';
    response.end('ok');
    return;
  }
  if (url.pathname === '/fixture/streams') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(streams));
    return;
  }
  if (url.searchParams.has('stream')) {
    await streamAnswer(response, Number(url.searchParams.get('stream')));
    return;
  }
  let bytes = 0;
  for await (const chunk of request) bytes += chunk.length;
  const delay = Number(url.searchParams.get('delay') ?? 0);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const status = Number(url.searchParams.get('status') ?? 200);
  response.writeHead(status, {
    'content-type': 'application/json',
    'x-upstream': id,
    'keep-alive': 'timeout=30',
    'set-cookie': ['a=1', 'b=2'],
  });
  response.end(
    JSON.stringify({
      instance: id,
      method: request.method,
      url: request.url,
      headers: request.headers,
      bytes,
    }),
  );
});
// An upgrade is accepted and then everything received is echoed back, prefixed with this id once.
server.on('upgrade', (request, socket) => {
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-upstream: ${id}\r\n` +
      `x-seen-request-id: ${request.headers['x-request-id'] ?? ''}\r\n\r\n`,
  );
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.FIXTURE_PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
