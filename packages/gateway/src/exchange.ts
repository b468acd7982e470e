import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** Answers up to this size are held whole and sent with their headers in one write. */
const WHOLE_ANSWER_BYTES = 64 * 1024;

/** Response headers the gateway does not pass back: hop-by-hop ones (Node frames the answer itself). */
const NOT_RETURNED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * How one exchange with an upstream instance ended: the status sent to the client, `'retry'`
 * (a 503 that another instance may answer; nothing was sent), or the error that stopped it before
 * anything was sent.
 */
export type ExchangeOutcome = number | 'retry' | Error;

export interface ExchangeOptions {
  response: ServerResponse;
  /** Added after the upstream's headers, replacing any of the same name: request id, rate-limit fields. Flat name, value list, names lower case. */
  own: readonly string[];
  /** Added unless the upstream sent the same name: security and CORS headers. Flat, names lower case. */
  edge: readonly string[];
  /** A 503 is not passed on but reported as `'retry'`. */
  canRetry: boolean;
  /** The upstream's status, as soon as its headers arrive (health and metrics). */
  onStatus(status: number): void;
  /** The answer broke off after its headers were sent: nothing more can be said on it. */
  onBrokenOff(error: Error): void;
}

/** The client left before its answer was complete. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/**
 * One request's exchange with an upstream instance, as an undici dispatch handler: the answer's
 * headers and body are written straight to the client's response, with back-pressure, and a small
 * answer (by Content-Length) goes out with its headers in one write. Used instead of undici's
 * `request()`, whose Readable body and promise per request were most of the gateway's own cost
 * (bench/README.md).
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly done: Promise<ExchangeOutcome>;
  private settle!: (outcome: ExchangeOutcome) => void;
  private abortUpstream: ((error: Error) => void) | undefined;
  private clientGone = false;
  private status = 0;
  private headers: string[] = [];
  private held: Buffer[] | undefined;
  private discarding = false;
  private streaming = false;

  constructor(private readonly options: ExchangeOptions) {
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** The client went away: the upstream request is cancelled (its connection is not kept). */
  clientClosed(): void {
    if (this.clientGone) return;
    this.clientGone = true;
    this.abortUpstream?.(new ClientGoneError());
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new ClientGoneError());
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    // Informational answers (103 Early Hints) are not passed on; Node answers 100-continue itself.
    if (status < 200) return true;
    this.status = status;
    this.options.onStatus(status);
    if (status === 503 && this.options.canRetry) {
      this.discarding = true;
      return true;
    }
    const { headers, length } = answerHeaders(raw, this.options.own, this.options.edge);
    this.headers = headers;
    const { response } = this.options;
    if (length !== undefined && length <= WHOLE_ANSWER_BYTES) {
      this.held = [];
      return true;
    }
    this.streaming = true;
    response.writeHead(status, headers);
    response.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.held) {
      this.held.push(chunk);
      return true;
    }
    return this.options.response.write(chunk);
  }

  onComplete(): void {
    if (this.discarding) {
      this.settle('retry');
      return;
    }
    const { response } = this.options;
    if (this.held) {
      response.writeHead(this.status, this.headers);
      const held = this.held;
      response.end(held.length === 0 ? undefined : held.length === 1 ? held[0] : Buffer.concat(held));
    } else {
      response.end();
    }
    this.settle(this.status);
  }

  onError(error: Error): void {
    if (this.streaming) {
      this.options.response.destroy();
      if (!this.clientGone) this.options.onBrokenOff(error);
      this.settle(this.status);
      return;
    }
    this.settle(this.clientGone ? new ClientGoneError() : error);
  }
}

/**
 * The answer's headers as `writeHead` takes them (a flat name, value list): the upstream's, minus
 * hop-by-hop ones and any its `Connection` header names, then the edge headers it did not set, then
 * the gateway's own. Also the answer's Content-Length, when it gave one.
 */
export function answerHeaders(
  raw: readonly Buffer[],
  own: readonly string[],
  edge: readonly string[],
): { headers: string[]; length: number | undefined } {
  let named: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const tokens = (raw[i + 1] as Buffer).toString('latin1').toLowerCase().split(',');
      for (const token of tokens) (named ??= []).push(token.trim());
    }
  }
  const headers: string[] = [];
  const names: string[] = [];
  let length: number | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    if (NOT_RETURNED.has(lower) || named?.includes(lower) || ownHas(own, lower)) continue;
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (lower === 'content-length') length = Number(value);
    headers.push(name, value);
    names.push(lower);
  }
  for (let i = 0; i < edge.length; i += 2) {
    if (!names.includes(edge[i] as string)) headers.push(edge[i] as string, edge[i + 1] as string);
  }
  for (const value of own) headers.push(value);
  return { headers, length: Number.isSafeInteger(length) ? length : undefined };
}

function ownHas(own: readonly string[], name: string): boolean {
  for (let i = 0; i < own.length; i += 2) if (own[i] === name) return true;
  return false;
}
