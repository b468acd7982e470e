import { isTernError } from '@tern/errors';
import { createLogger, Registry, type Telemetry } from '@tern/telemetry';
import { uniqueName } from '@tern/testing';
import type { Queue } from './queue';

export interface OpenedQueue {
  queue: Queue;
  /** Another instance on the same backing store, standing in for a second process. */
  reopen?: () => Promise<Queue>;
  /** The registry `queue` exports its metrics to, when the harness wants them checked. */
  metrics?: Registry;
  /** Closes every instance opened and removes what the test created. */
  cleanup(): Promise<void>;
}

/** What each contract case gets: a fresh queue per case, and a second instance on the same store. */
export interface ContractContext {
  withQueue(body: (opened: OpenedQueue) => Promise<void>): Promise<void>;
  second(opened: OpenedQueue): Promise<Queue>;
}

export function silentTelemetry(): Telemetry {
  return {
    log: createLogger({ level: 'silent', service: 'test', instance: 'test' }),
    metrics: new Registry(),
  };
}

// Small enough to keep the suite quick, large enough that a busy 2-core CI box does not redeliver by accident.
export const ACK_WAIT_MS = 400;
export const MAX_DELIVERIES = 3;
export const TIMEOUT = { timeout: 30_000 };

export const topicName = () => uniqueName('t').toLowerCase();
export const isCode = (code: string) => (error: unknown) => isTernError(error) && error.code === code;
