import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { counter, histogram, type Telemetry } from '@tern/telemetry';
import { authErrors } from './auth-errors';

export interface PasswordHasherOptions {
  /** argon2id memory cost in KiB (OWASP: 19456) and iterations (OWASP: 2); parallelism is 1. */
  memoryKiB: number;
  iterations: number;
  /** Hashes computed at once: one worker thread each. */
  concurrency: number;
  /** Hashes allowed to wait for a worker; beyond that callers get 503 `auth/busy` at once. */
  maxWaiting?: number;
}

export interface PasswordHasher {
  hash(password: string, signal?: AbortSignal): Promise<string>;
  /** Whether `password` matches `hash`; a malformed hash is a mismatch. */
  verify(hash: string, password: string, signal?: AbortSignal): Promise<boolean>;
  /** Burns the time of one verification, for unknown accounts, so they answer as slowly as known ones. */
  verifyDummy(password: string, signal?: AbortSignal): Promise<void>;
  /** Whether `hash` was made with other parameters than the current ones (and should be redone). */
  needsRehash(hash: string): boolean;
  close(): Promise<void>;
}

type Job = { op: 'hash'; password: string } | { op: 'verify'; hash: string; password: string };

interface Pending {
  job: Job;
  resolve(value: string | boolean): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  queuedAt: number;
}

// Each worker lowers its own thread's priority (Linux nice values are per thread): hashing takes
// every idle cycle, yet the event loop, at normal priority, preempts it, so a login storm does
// not stall cheap requests. The code is evaluated, not loaded from a file, so it works the same
// from TypeScript sources and from the start-up bundle.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try { require('node:os').setPriority(19); } catch {}
const argon2 = require(workerData.argon2Path);
const options = { algorithm: 2, memoryCost: workerData.memoryKiB, timeCost: workerData.iterations, parallelism: 1 };
parentPort.on('message', (job) => {
  try {
    const result = job.op === 'hash' ? argon2.hashSync(job.password, options) : argon2.verifySync(job.hash, job.password);
    parentPort.postMessage({ ok: true, result });
  } catch (error) {
    // A hash that cannot be decoded matches no password.
    if (job.op === 'verify') parentPort.postMessage({ ok: true, result: false });
    else parentPort.postMessage({ ok: false, message: String(error && error.message).slice(0, 200) });
  }
});
`;

/**
 * argon2id (via @node-rs/argon2) on a small pool of low-priority worker threads, off the event
 * loop. Hand-written rather than a pool library because the threads must lower their own
 * priority; see bench/README.md for what that buys under a login storm.
 */
export function createPasswordHasher(options: PasswordHasherOptions, telemetry: Telemetry): PasswordHasher {
  const argon2Path = createRequire(import.meta.url).resolve('@node-rs/argon2');
  const maxWaiting = options.maxWaiting ?? options.concurrency * 64;
  const params = `$argon2id$v=19$m=${options.memoryKiB},t=${options.iterations},p=1$`;
  const duration = histogram(
    telemetry.metrics,
    'tern_auth_password_hash_seconds',
    'Time to hash or verify one password, waiting for a worker included.',
    ['op'],
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  const refused = counter(
    telemetry.metrics,
    'tern_auth_password_hash_refused_total',
    'Password hashes refused because too many were waiting.',
    [],
  );
  const waiting: Pending[] = [];
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const busy = new Map<Worker, Pending>();
  let closed = false;
  let failures = 0;

  function remove(worker: Worker): void {
    for (const list of [idle, all]) {
      const index = list.indexOf(worker);
      if (index >= 0) list.splice(index, 1);
    }
  }

  function spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { argon2Path, memoryKiB: options.memoryKiB, iterations: options.iterations },
    });
    worker.unref();
    worker.on('message', (message: { ok: boolean; result?: string | boolean; message?: string }) => {
      const pending = busy.get(worker);
      busy.delete(worker);
      if (pending) {
        duration.observe({ op: pending.job.op }, (performance.now() - pending.queuedAt) / 1000);
        if (message.ok) pending.resolve(message.result as string | boolean);
        else pending.reject(new Error(`argon2 failed: ${message.message}`));
      }
      failures = 0;
      idle.push(worker);
      dispatch();
    });
    worker.on('error', (error) => {
      const pending = busy.get(worker);
      busy.delete(worker);
      pending?.reject(error);
      remove(worker);
      if (closed) return;
      // A worker that keeps failing (argon2 cannot load, say) is restarted with growing pauses,
      // not in a tight loop; meanwhile work waits, and is refused once too much waits.
      failures += 1;
      telemetry.log.error({ err: error, failures }, 'password hashing worker failed; starting another');
      setTimeout(
        () => {
          if (closed) return;
          idle.push(spawn());
          dispatch();
        },
        Math.min(30_000, 100 * 2 ** Math.min(failures, 9)),
      ).unref();
    });
    all.push(worker);
    return worker;
  }
  for (let i = 0; i < options.concurrency; i++) idle.push(spawn());

  function dispatch(): void {
    while (idle.length > 0 && waiting.length > 0) {
      const pending = waiting.shift() as Pending;
      // The caller gave up (timeout, disconnect) while waiting: skip its hash entirely.
      if (pending.signal?.aborted) {
        pending.reject(pending.signal.reason);
        continue;
      }
      const worker = idle.pop() as Worker;
      busy.set(worker, pending);
      worker.postMessage(pending.job);
    }
  }

  function run(job: Job, signal: AbortSignal | undefined): Promise<string | boolean> {
    if (closed) return Promise.reject(new Error('password hasher is closed'));
    if (waiting.length >= maxWaiting) {
      refused.inc();
      return Promise.reject(authErrors.busy());
    }
    return new Promise((resolve, reject) => {
      waiting.push({ job, resolve, reject, signal, queuedAt: performance.now() });
      dispatch();
    });
  }

  // A real hash of a random password, so verifying against it costs exactly what a real one costs.
  const dummyHash = run({ op: 'hash', password: `dummy-${Math.random()}` }, undefined) as Promise<string>;
  dummyHash.catch(() => undefined);

  return {
    async hash(password, signal) {
      return (await run({ op: 'hash', password }, signal)) as string;
    },
    async verify(hash, password, signal) {
      if (!hash.startsWith('$argon2')) return false;
      return (await run({ op: 'verify', hash, password }, signal)) === true;
    },
    async verifyDummy(password, signal) {
      await run({ op: 'verify', hash: await dummyHash, password }, signal);
    },
    needsRehash(hash) {
      return !hash.startsWith(params);
    },
    async close() {
      closed = true;
      const closedError = new Error('password hasher is closed');
      for (const pending of [...waiting.splice(0), ...busy.values()]) pending.reject(closedError);
      busy.clear();
      await Promise.all(all.map((worker) => worker.terminate()));
    },
  };
}
