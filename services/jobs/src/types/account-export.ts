import type { Secret } from '@tern/config';
import type { Store } from '@tern/store';
import { request } from 'undici';
import { PermanentJobError } from '../jobs-errors';
import type { JobType } from '../job-types';

/** How long an export can be downloaded. */
export const EXPORT_TTL_MS = 24 * 3_600_000;
/** An export larger than this fails (for good) instead of filling the database. */
const MAX_EXPORT_BYTES = 16 * 1024 * 1024;
const PAGE = 100;

export interface AccountExportOptions {
  store: Store;
  adminKey: Secret;
  /** Where the public API is: the gateway, or this process. */
  apiUrl(): string | undefined;
}

/** One part of the export could not be gathered because its service is not deployed. */
class NotDeployed extends Error {}

/**
 * `account.export` (any signed-in user, for themselves): gathers the caller's own data into one
 * JSON document, their profile and sessions from auth and every document they own from data,
 * through those services' admin API (services never import each other). The file is kept for
 * `EXPORT_TTL_MS`; the job's result carries its link, `GET /v1/jobs/:id/export`, which only the
 * same user can download. A service that is not deployed is listed under `unavailable`.
 */
export function accountExportJob(options: AccountExportOptions): JobType<Record<string, never>> {
  async function get(path: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    const base = options.apiUrl();
    if (!base) throw new Error('the API URL is not known yet');
    const answer = await request(`${base}${path}`, {
      headers: { authorization: `Bearer ${options.adminKey.reveal()}`, accept: 'application/json' },
      signal,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await answer.body.text();
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    if (answer.statusCode === 200) return body;
    if (answer.statusCode === 404 && /route-not-found$/.test(String(body.code))) throw new NotDeployed(path);
    // The account is gone (deleted since the job was accepted): retrying cannot bring it back.
    if (answer.statusCode === 404)
      throw new PermanentJobError(`GET ${path.split('?')[0]}: ${String(body.code ?? 404)}`);
    // The path only: it names the user, not a secret, but the answer's text could be anything.
    throw new Error(`GET ${path.split('?')[0]} answered ${answer.statusCode} ${String(body.code ?? '')}`);
  }

  return {
    type: 'account.export',
    description: "Gathers the caller's own profile, sessions and documents into a file they can download.",
    access: 'user',
    maxAttempts: 5,
    timeoutMs: 120_000,
    payloadSchema: { type: 'object', additionalProperties: false, properties: {} },
    async run(_payload, ctx) {
      const userId = ctx.ownerId;
      if (!userId) throw new PermanentJobError('an export is made for a signed-in user, for themselves');
      const id = encodeURIComponent(userId);
      const unavailable: string[] = [];
      const part = async <T>(service: string, gather: () => Promise<T>, empty: T): Promise<T> => {
        try {
          return await gather();
        } catch (error) {
          if (!(error instanceof NotDeployed)) throw error;
          unavailable.push(service);
          return empty;
        }
      };
      const user = await part('auth', () => get(`/v1/admin/users/${id}`, ctx.signal), {});
      const sessions = await part(
        'auth',
        async () => (await get(`/v1/admin/users/${id}/sessions`, ctx.signal)).items as unknown[],
        [],
      );
      const documents = await part(
        'data',
        async () => {
          const byCollection: Record<string, unknown[]> = {};
          const collections = (await get('/v1/admin/collections', ctx.signal)).items as { name: string }[];
          const where = encodeURIComponent(JSON.stringify({ ownerId: { eq: userId } }));
          for (const { name } of collections) {
            const items: unknown[] = [];
            let cursor: string | null = null;
            do {
              const page = await get(
                `/v1/data/${encodeURIComponent(name)}?where=${where}&limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
                ctx.signal,
              );
              items.push(...(page.items as unknown[]));
              cursor = page.nextCursor as string | null;
            } while (cursor);
            if (items.length > 0) byCollection[name] = items;
          }
          return byCollection;
        },
        {},
      );
      const exportedAt = new Date().toISOString();
      const content = JSON.stringify({
        exportedAt,
        user,
        sessions,
        documents,
        unavailable: [...new Set(unavailable)],
      });
      const bytes = Buffer.byteLength(content);
      if (bytes > MAX_EXPORT_BYTES) {
        throw new PermanentJobError(
          `the export would be ${bytes} bytes, over the ${MAX_EXPORT_BYTES} allowed`,
        );
      }
      const now = Date.now();
      await options.store.execute(
        `INSERT INTO job_exports (job_id, owner_key, content, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (job_id) DO UPDATE SET content = $3, created_at = $4, expires_at = $5`,
        [ctx.jobId, `u:${userId}`, content, now, now + EXPORT_TTL_MS],
      );
      ctx.log.info({ bytes }, 'account export ready');
      return {
        downloadUrl: `/v1/jobs/${ctx.jobId}/export`,
        expiresAt: new Date(now + EXPORT_TTL_MS).toISOString(),
        bytes,
      };
    },
  };
}
