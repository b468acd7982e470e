import { existsSync } from 'node:fs';
import type { TernConfig } from '@tern/config';
import { adminKeyFile, readAdminKey } from '@tern/runtime';

export function printAdminKey(
  config: TernConfig,
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  if (config.adminKey) {
    err('TERN_ADMIN_KEY is set in the environment; that is the admin key (not printed).');
    return 1;
  }
  if (!existsSync(adminKeyFile(config.dataDir))) {
    err(`No admin key in ${config.dataDir} yet: \`npm start\` generates one on first start.`);
    return 1;
  }
  out(readAdminKey(config.dataDir).reveal());
  return 0;
}
