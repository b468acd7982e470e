import { inspect } from 'node:util';

/**
 * A value that must never be printed. Logging, JSON-serialising or inspecting it shows
 * `[redacted]`; only `reveal()` returns the value, so every use is easy to find.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/**
 * A connection URL reduced to scheme, host, port and path, for logs and error messages: user
 * names, passwords, tokens (`nats://token@host`) and query parameters (`?password=`) are dropped.
 */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    const credentials = url.username || url.password ? '[redacted]@' : '';
    const query = url.search ? '?[redacted]' : '';
    return `${url.protocol}//${credentials}${url.host}${url.pathname === '/' ? '' : url.pathname}${query}`;
  } catch {
    return '[unparseable url]';
  }
}
