export {
  fingerprintOf,
  idempotencyErrors,
  idempotentWrite,
  pruneIdempotencyKeys,
  IDEMPOTENCY_KEY,
  IDEMPOTENCY_MIGRATIONS,
  IDEMPOTENCY_TTL_MS,
  type IdempotencyRequest,
  type StoredResponse,
} from './idempotent-write';
