import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createSqliteQueue } from '@tern/queue';
import { createSqliteStore } from '@tern/store';
import { createLogger, createMetricsRegistry } from '@tern/telemetry';
import { runOutboxContract } from './outbox.contract';

runOutboxContract('SQLite store + SQLite queue', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-outbox-'));
  const telemetry = {
    log: createLogger({
      level: 'warn',
      service: 't',
      instance: 't',
      destination: new Writable({ write: (_c, _e, done) => done() }),
    }),
    metrics: createMetricsRegistry({ service: 't', instance: 't' }),
  };
  const store = await createSqliteStore({ file: join(dir, 'tern.db') }, telemetry);
  const queue = await createSqliteQueue({ file: join(dir, 'queue.db') }, telemetry);
  return {
    store,
    queue,
    async cleanup() {
      await queue.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
