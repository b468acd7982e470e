import type { Socket } from 'node:net';
import { problemType, PROBLEM_CONTENT_TYPE } from './problem';

/**
 * Requests Node's HTTP parser rejects (oversized headers, a malformed request line) never reach
 * the application (Fastify, the gateway); they still get a problem+json answer instead of a bare
 * status line. For an `http.Server`'s `clientError` event.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, title, code] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'runtime/headers-too-large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'runtime/request-timeout']
        : [400, 'Bad Request', 'runtime/bad-request'];
  const body = JSON.stringify({ type: problemType(code), title, status, code, retryable: status === 408 });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
