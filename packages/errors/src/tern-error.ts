/**
 * The one error model. Everything that can go wrong on purpose is a TernError with a stable,
 * namespaced `code` (documented in docs/errors.md), an HTTP `status`, and whether a retry
 * could succeed. The runtime renders it as RFC 9457 problem+json in exactly one place.
 */
export interface TernErrorOptions {
  code: string;
  status: number;
  title: string;
  detail?: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class TernError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(options: TernErrorOptions) {
    super(
      options.detail ?? options.title,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'TernError';
    this.code = options.code;
    this.status = options.status;
    this.title = options.title;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}

export function isTernError(value: unknown): value is TernError {
  return value instanceof TernError;
}
