/** A request a journey step sends. `json` is sent as the body with `content-type: application/json`. */
export interface StepRequest {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query on the target (`/v1/data/posts?limit=20`). */
  path: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string;
  /** Statuses that count as success; by default any 2xx or 3xx. */
  expect?: number | readonly number[];
}

/**
 * Why a request did not succeed: its status (`status 503`), `timeout`, `connection`, `other`,
 * or `dropped` (an open-model arrival never sent: the in-flight limit was reached).
 */
export type ErrorClass = `status ${number}` | 'timeout' | 'connection' | 'other' | 'dropped';

/** What a step got back. `ok` is false on an unexpected status, a timeout or a connection error. */
export interface StepResponse {
  ok: boolean;
  /** 0 when no response came (timeout, connection). */
  status: number;
  /** Undefined when ok. */
  error: ErrorClass | undefined;
  /** What went wrong, for a failure that is not a status (the first of each class is reported). */
  detail?: string;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json<T = Record<string, unknown>>(): T | undefined;
}

/**
 * One user's view of a journey in progress: steps are timed from when they were meant to start,
 * think time moves that clock, and `state` carries what the user keeps between steps and
 * journeys (tokens, ids).
 */
export interface VirtualUser<Shared = unknown> {
  /** This user's number in the population, from 0. */
  readonly id: number;
  /** What the scenario's setup returned, the same for every user. */
  readonly shared: Shared;
  /** Kept for this user across journeys. */
  readonly state: Record<string, unknown>;
  /** Sends one request as the named step, recorded in that step's histogram. */
  request(step: string, request: StepRequest): Promise<StepResponse>;
  /** Pauses the journey like a person reading: `ms`, or a uniform pick from `[min, max]`. */
  think(ms: number | readonly [number, number]): Promise<void>;
  /** A seeded random number in [0, 1): the same run twice makes the same choices. */
  random(): number;
}

export interface Journey<Shared = unknown> {
  name: string;
  /** Relative share of arrivals (or of a closed-model user's iterations) that take this journey. */
  weight: number;
  run(vu: VirtualUser<Shared>): Promise<void>;
}

/** What a scenario's setup may use: the target, plain requests (not recorded) and the run's options. */
export interface SetupContext {
  target: URL;
  /** The admin credential, when the run was given one (`--admin-key` or `TERN_ADMIN_KEY`). */
  adminKey: string | undefined;
  /** How many distinct users the run's population has. */
  users: number;
  request(request: StepRequest): Promise<StepResponse>;
  log(line: string): void;
}

/** User journeys and their mix, written in TypeScript: `export default { name, journeys } satisfies Scenario`. */
export interface Scenario<Shared = unknown> {
  name: string;
  description?: string;
  /** Runs once before the load (accounts, collections); its result is every user's `shared`. */
  setup?(context: SetupContext): Promise<Shared>;
  journeys: readonly Journey<Shared>[];
}
