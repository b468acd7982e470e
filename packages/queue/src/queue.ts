export interface QueueMessage<T = unknown> {
  /** Unique per published message (the dedup id when one was given). */
  id: string;
  topic: string;
  payload: T;
  headers: Record<string, string>;
  /** 1 on first delivery. */
  deliveries: number;
  publishedAt: Date;
}

export interface PublishOptions {
  /**
   * A republish with the same id within the dedup window (2 minutes) is dropped and reported
   * `duplicate`. Ids are unique per queue, across topics: the same id published to another topic
   * is dropped too. Include the topic in the id when ids can repeat across topics
   * (`orders.paid:o_1`, not `o_1`).
   */
  dedupId?: string;
  headers?: Record<string, string>;
}

export interface PublishResult {
  id: string;
  duplicate: boolean;
}

export interface ConsumeOptions {
  /** Durable consumer name: messages are shared among all consumers of one group, across processes. */
  group: string;
  /** Handlers running at once in this process. Default 1. */
  concurrency?: number;
  /** A delivery not acked within this time is redelivered (the worker is presumed dead). Default 30 s. */
  ackWaitMs?: number;
  /** After this many failed deliveries the message is dead-lettered. Default 5. */
  maxDeliveries?: number;
}

/** Returns normally → ack. Throws → nak, redelivered after a backoff with jitter. */
export type MessageHandler<T = unknown> = (message: QueueMessage<T>) => Promise<void>;

export interface Consumer {
  /** Stops taking new messages and waits for in-flight handlers to finish. */
  stop(): Promise<void>;
}

export interface DeadLetter {
  message: QueueMessage;
  group: string;
  errors: string[];
  deadAt: Date;
}

export interface Queue {
  readonly kind: 'sqlite' | 'nats';
  /** Resolves once the message is durably stored. */
  publish(topic: string, payload: unknown, options?: PublishOptions): Promise<PublishResult>;
  consume<T = unknown>(topic: string, handler: MessageHandler<T>, options: ConsumeOptions): Promise<Consumer>;
  /** Dead-lettered messages of a topic, newest last. */
  deadLetters(topic: string, limit?: number): Promise<DeadLetter[]>;
  ping(): Promise<void>;
  /** Stops all consumers (draining in-flight handlers) and closes connections. */
  close(): Promise<void>;
}

/** `stream` namespaces everything this queue creates (NATS stream and subjects; nothing for SQLite). */
export type QueueConfig = { kind: 'sqlite'; file: string } | { kind: 'nats'; url: string; stream: string };
