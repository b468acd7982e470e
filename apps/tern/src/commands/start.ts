import type { TernConfig } from '@tern/config';
import { ensureAdminKey, startHost, type ServiceDefinition } from '@tern/runtime';

export interface StartOptions {
  config: TernConfig;
  catalog: readonly ServiceDefinition[];
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Serves until SIGTERM/SIGINT, then drains; resolves to the exit code. */
export async function startCommand({ config, catalog, out, err }: StartOptions): Promise<number> {
  // Before anything can fail, so a first start that fails still shows the key it created.
  const adminKey = ensureAdminKey(config);
  if (adminKey.generated) {
    err(`Generated an admin key in ${adminKey.file} (shown once; \`npx tern admin-key\` prints it again):`);
    err(`  ${adminKey.key.reveal()}`);
  }
  const host = await startHost({ config, catalog });
  // Handlers go in before the "listening" line: a supervisor may signal the moment it reads it.
  const exitCode = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        host.log.warn({ signal }, 'second signal: exiting without draining');
        resolve(1);
        return;
      }
      host.log.info({ signal }, 'signal received');
      host.stop().then(
        ({ forced }) => resolve(forced ? 1 : 0),
        (error: unknown) => {
          host.log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  out(`Tern is listening on ${host.url} (services: ${host.services.join(', ')})`);
  const code = await exitCode;
  // Let pino flush, then leave even if a stray handle would keep the loop alive.
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}
