import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Identity } from '@tern/runtime';
import type { Logger } from '@tern/telemetry';
import { jobsErrors } from './jobs-errors';

/**
 * Who may enqueue a job type: any signed-in user (`user`), users with a role (`{ role }`, and
 * admins), operators (`admin`: the admin credential or a user with the admin role), or services
 * only (`service`: the admin credential, which services call each other with; no user at all).
 */
export type JobAccess = 'user' | 'admin' | 'service' | { role: string };

export interface JobRunContext {
  jobId: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** The user who enqueued the job; undefined for the admin credential and schedules. */
  ownerId: string | undefined;
  log: Logger;
  /** Aborted when the job's time is up or the worker is stopping for good. */
  signal: AbortSignal;
}

/** A kind of background work: its payload's JSON Schema, who may enqueue it, and its handler. */
export interface JobType<P = never> {
  type: string;
  description: string;
  /** JSON Schema (draft 2020-12 subset Ajv takes) of the payload, checked when the job is accepted. */
  payloadSchema: Record<string, unknown>;
  access: JobAccess;
  /** Attempts before the job is dead (a dead letter). Default 5. */
  maxAttempts?: number;
  /** One attempt's time limit. Default 60 s. */
  timeoutMs?: number;
  /**
   * The payload holds a secret (a one-time code in a mail): it is never shown by the API, and is
   * replaced by `{"redacted": true}` once the job has succeeded, failed or been cancelled. A dead
   * letter keeps it, so that it can be replayed.
   */
  secretPayload?: boolean;
  /** Checks beyond the schema, at accept time (throws a TernError 4xx). */
  check?(payload: P): void;
  /**
   * Does the work; what it resolves to (JSON) is the job's result. Throwing retries with backoff;
   * a `PermanentJobError` fails the job at once. Must be idempotent: a job runs at least once.
   */
  run(payload: P, ctx: JobRunContext): Promise<unknown>;
}

export interface RegisteredJobType extends JobType<unknown> {
  maxAttempts: number;
  timeoutMs: number;
  validate: ValidateFunction;
}

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_TIMEOUT_MS = 60_000;
const TYPE_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export interface JobTypeRegistry {
  get(type: string): RegisteredJobType | undefined;
  /** The type, if `identity` may enqueue it: 400 for an unknown type, 403 for a refused caller. */
  admit(type: string, identity: Identity): RegisteredJobType;
  all(): RegisteredJobType[];
}

export function createJobTypeRegistry(types: readonly JobType<never>[]): JobTypeRegistry {
  const ajv = addFormats.default(
    new Ajv({ strict: true, allErrors: false, coerceTypes: false, useDefaults: false }),
  );
  const byName = new Map<string, RegisteredJobType>();
  for (const definition of types) {
    if (!TYPE_NAME.test(definition.type))
      throw new Error(`job type "${definition.type}" is not a dotted name`);
    if (byName.has(definition.type)) throw new Error(`job type "${definition.type}" is registered twice`);
    byName.set(definition.type, {
      ...(definition as unknown as JobType<unknown>),
      maxAttempts: definition.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      timeoutMs: definition.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      validate: ajv.compile(definition.payloadSchema),
    });
  }
  return {
    get: (type) => byName.get(type),
    admit(type, identity) {
      const registered = byName.get(type);
      if (!registered) throw jobsErrors.unknownType(type);
      if (!mayEnqueue(registered.access, identity)) throw jobsErrors.forbidden(type);
      return registered;
    },
    all: () => [...byName.values()],
  };
}

function mayEnqueue(access: JobAccess, identity: Identity): boolean {
  if (identity.kind === 'admin') return true;
  if (identity.kind !== 'user' || access === 'service') return false;
  if (access === 'user') return true;
  if (access === 'admin') return identity.roles.includes('admin');
  return identity.roles.includes(access.role) || identity.roles.includes('admin');
}
