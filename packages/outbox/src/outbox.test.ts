import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteQueue } from '@tern/queue';
import { createSqliteStore } from '@tern/store';
import { quietTelemetry } from '@tern/testing';
import { runOutboxContract } from './outbox.contract';

runOutboxContract('SQLite store + SQLite queue', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-outbox-'));
  const telemetry = quietTelemetry();
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
