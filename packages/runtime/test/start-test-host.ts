import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '@tern/config';
import { startHost, type RunningHost, type ServiceDefinition } from '../src/index';

export interface TestHost {
  host: RunningHost;
  url: string;
  adminKey: string;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  rawLogs: string[];
  close(): Promise<void>;
}

/** Starts a real host on a free loopback port with its own data dir, capturing its logs. */
export async function startTestHost(
  catalog: ServiceDefinition[],
  env: Record<string, string> = {},
): Promise<TestHost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tern-host-'));
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const config = loadConfig({
    env: { PORT: '0', TERN_HOST: '127.0.0.1', TERN_DATA_DIR: dataDir, TERN_LOG_LEVEL: 'debug', ...env },
  });
  const host = await startHost({ config, catalog, logDestination: destination });
  return {
    host,
    url: host.url,
    adminKey: host.adminKey.key.reveal(),
    logs,
    rawLogs,
    async close() {
      await host.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
