import type { TernConfig } from '@tern/config';
import { ensureAdminKey, startHost, type ServiceDefinition } from '@tern/runtime';
import { untilSignal } from './until-signal';

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
  const exitCode = untilSignal(host.log, () => host.stop());
  out(`Tern is listening on ${host.url} (services: ${host.services.join(', ')})`);
  const code = await exitCode;
  // Let pino flush, then leave even if a stray handle would keep the loop alive.
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}
