import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { activeTraceIds } from './tracing';

export type { Logger } from 'pino';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Paths pino removes from every log line. Credentials travel in headers and bodies; none of
 * them may ever reach a log (tests in logger.test.ts prove each path).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'adminKey',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.secret',
  '*.adminKey',
  '*.authorization',
];

export interface LoggerConfig {
  level: LogLevel;
  service: string;
  instance: string;
  /** Where lines go; standard output when absent. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
}

/** Error properties that client libraries attach and that may carry data or credentials. */
const UNSAFE_ERROR_FIELDS = [
  'command',
  'args',
  'client',
  'connection',
  'config',
  'options',
  'parameters',
  'previousErrors',
];

/**
 * pino's standard error serializer, minus what drivers attach to their errors: ioredis puts the
 * failed command's arguments (a cached value, an AUTH password) on `command`, pg can attach the
 * client with its connection settings. Message, code, stack and cause stay.
 */
export function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (typeof serialized !== 'object' || serialized === null) return serialized;
  for (const field of UNSAFE_ERROR_FIELDS) delete serialized[field];
  return serialized;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: config.service, instance: config.instance },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
    // Every line written inside a request's or a message's span carries its trace and span ids.
    mixin: () => activeTraceIds() ?? {},
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
