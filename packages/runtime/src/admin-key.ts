import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret, type TernConfig } from '@tern/config';

export interface AdminKey {
  key: Secret;
  /** True only in the process that created the key file: that process prints it, once. */
  generated: boolean;
  file: string | undefined;
}

export function adminKeyFile(dataDir: string): string {
  return join(dataDir, 'admin-key');
}

/**
 * The admin credential: TERN_ADMIN_KEY when set; otherwise the key stored in the data dir,
 * generated on first start. Creation uses an exclusive open, so two processes starting at once
 * on one data dir agree on one key.
 */
export function ensureAdminKey(config: Pick<TernConfig, 'adminKey' | 'dataDir'>): AdminKey {
  if (config.adminKey) return { key: config.adminKey, generated: false, file: undefined };
  const file = adminKeyFile(config.dataDir);
  mkdirSync(config.dataDir, { recursive: true });
  const fresh = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return { key: new Secret(fresh), generated: true, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { key: readAdminKey(config.dataDir), generated: false, file };
}

export function readAdminKey(dataDir: string): Secret {
  const value = readFileSync(adminKeyFile(dataDir), 'utf8').trim();
  if (value.length < 32) throw new Error(`the admin key in ${adminKeyFile(dataDir)} is damaged (too short)`);
  return new Secret(value);
}
