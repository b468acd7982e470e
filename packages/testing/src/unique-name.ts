import { randomBytes } from 'node:crypto';

/** A name no other test (or parallel test process) uses: databases, key prefixes, streams. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
