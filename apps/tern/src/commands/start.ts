import type { TernConfig } from '@tern/config';
import { startHost, type ServiceDefinition } from '@tern/runtime';

export interface StartOptions {
  config: TernConfig;
  catalog: readonly ServiceDefinition[];
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Serves until SIGTERM/SIGINT, then drains; resolves to the exit code. */
export async function startCommand({ config, catalog, out, err }: StartOptions): Promise<number> {
  const host = await startHost({ config, catalog });
  if (host.adminKey.generated) {
    err(
      `Generated an admin key in ${host.adminKey.file} (shown once; \`npx tern admin-key\` prints it again):`,
    );
    err(`  ${host.adminKey.key.reveal()}`);
  }
  out(`Tern is listening on ${host.url} (services: ${host.services.join(', ')})`);

  return new Promise<number>((resolve) => {
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
  }).then((code) => {
    // Let pino flush, then leave even if a stray handle would keep the loop alive.
    setTimeout(() => process.exit(code), 50).unref();
    return code;
  });
}
