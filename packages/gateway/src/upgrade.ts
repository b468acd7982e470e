import type { IncomingMessage } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Duplex } from 'node:stream';

/**
 * Tunnels an upgrade (a WebSocket handshake) to an instance: the handshake is sent on a fresh
 * connection with the gateway's headers, then bytes flow both ways untouched until either side
 * closes. The instance's own answer (101, or a refusal) reaches the client as it is.
 */
export function tunnelUpgrade(options: {
  request: IncomingMessage;
  client: Duplex;
  head: Buffer;
  origin: string;
  headers: Record<string, string | string[]>;
  timeoutMs: number;
  onError: (error: Error) => void;
}): void {
  const { request, client, head } = options;
  const target = new URL(options.origin);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const upstream: Socket =
    target.protocol === 'https:'
      ? connectTls({ host: target.hostname, port, servername: target.hostname })
      : connectTcp({ host: target.hostname, port });
  upstream.setTimeout(options.timeoutMs, () => upstream.destroy(new Error('upgrade timed out')));
  let connected = false;

  upstream.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
    connected = true;
    upstream.setTimeout(0);
    const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`, `host: ${target.host}`];
    for (const [name, value] of Object.entries(options.headers)) {
      for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', (error) => {
    options.onError(error);
    if (!connected && client.writable) {
      const body = '{"code":"gateway/upstream-unreachable","status":502,"title":"Bad Gateway"}';
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/problem+json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else {
      client.destroy();
    }
  });
  upstream.on('close', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
}

/** The headers of an upgrade request sent upstream: the forwarded ones plus the upgrade itself. */
export function upgradeHeaders(
  forwarded: Record<string, string | string[]>,
  request: IncomingMessage,
): Record<string, string | string[]> {
  return {
    ...forwarded,
    connection: 'Upgrade',
    upgrade: request.headers.upgrade ?? 'websocket',
  };
}
