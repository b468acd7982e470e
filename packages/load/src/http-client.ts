import { Agent, errors as undiciErrors } from 'undici';
import type { ErrorClass, StepRequest, StepResponse } from './scenario';

/** Caps one response body: a load test measures, it does not buffer downloads. */
const MAX_BODY = 1024 * 1024;

/** The error class of a failed request, for the report's "errors by class". */
export function classifyError(error: unknown): 'timeout' | 'connection' | 'other' {
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return 'timeout';
  }
  const code = (error as { code?: unknown }).code;
  if (
    error instanceof undiciErrors.SocketError ||
    error instanceof undiciErrors.ClientDestroyedError ||
    error instanceof undiciErrors.ClientClosedError ||
    (typeof code === 'string' && /^(ECONN|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)/.test(code))
  ) {
    return 'connection';
  }
  return 'other';
}

function expected(status: number, expect: StepRequest['expect']): boolean {
  if (expect === undefined) return status >= 200 && status < 400;
  return typeof expect === 'number' ? status === expect : expect.includes(status);
}

function answer(
  ok: boolean,
  status: number,
  error: ErrorClass | undefined,
  text: string,
  detail?: string,
): StepResponse {
  let parsed: { value: unknown } | undefined;
  return {
    ok,
    status,
    error,
    ...(detail === undefined ? {} : { detail }),
    text,
    json<T>() {
      if (!parsed) {
        try {
          parsed = { value: JSON.parse(text) };
        } catch {
          parsed = { value: undefined };
        }
      }
      return parsed.value as T | undefined;
    },
  };
}

/**
 * HTTP/1.1 keep-alive connections to one origin (undici), as many as the load needs up to
 * `connections`: an open-model run opens a connection rather than queue a request behind a slow
 * one, so a late answer never delays the next send.
 */
export class HttpClient {
  private readonly agent: Agent;

  constructor(
    private readonly origin: string,
    private readonly options: { timeoutMs: number; connections: number },
  ) {
    this.agent = new Agent({
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.timeoutMs },
    });
  }

  async send(request: StepRequest): Promise<StepResponse> {
    const headers: Record<string, string> = { ...request.headers };
    let body = request.body;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers['content-type'] ??= 'application/json';
    }
    try {
      const response = await this.agent.request({
        origin: this.origin,
        path: request.path,
        method: request.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size <= MAX_BODY) chunks.push(chunk as Buffer);
      }
      const text =
        chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
      const ok = expected(response.statusCode, request.expect);
      return answer(ok, response.statusCode, ok ? undefined : `status ${response.statusCode}`, text);
    } catch (error) {
      return answer(
        false,
        0,
        classifyError(error),
        '',
        String((error as Error).message ?? error).slice(0, 200),
      );
    }
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}
