export type {
  Consumer,
  ConsumeOptions,
  DeadLetter,
  MessageHandler,
  PublishOptions,
  PublishResult,
  Queue,
  QueueConfig,
  QueueMessage,
} from './queue';
export { createQueue } from './create-queue';
export { createSqliteQueue, type SqliteQueueConfig } from './sqlite-queue';
export { createNatsQueue, type NatsQueueConfig } from './nats-queue';
export { queueErrors } from './queue-errors';
export { TOPIC_PATTERN, preparePublish, type PreparedPublish } from './queue-input';
