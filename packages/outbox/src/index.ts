export { createOutbox, OUTBOX_MIGRATIONS, type Outbox, type OutboxEvent } from './outbox';
export { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './outbox-relay';
