import type { Telemetry } from '@tern/telemetry';
import { createPostgresStore } from './postgres-store';
import { createSqliteStore } from './sqlite-store';
import type { Store, StoreConfig } from './store';

export async function createStore(config: StoreConfig, telemetry: Telemetry): Promise<Store> {
  switch (config.kind) {
    case 'sqlite':
      return createSqliteStore({ file: config.file }, telemetry);
    case 'postgres':
      return createPostgresStore(
        {
          url: config.url,
          poolSize: config.poolSize,
          statementTimeoutMs: config.statementTimeoutMs,
          replicas: config.replicas,
        },
        telemetry,
      );
    default: {
      const unknown: never = config;
      // Only the kind: the rest of the config may hold a password.
      throw new Error(`unknown store kind: ${String((unknown as { kind: unknown }).kind)}`);
    }
  }
}
