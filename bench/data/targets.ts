/**
 * The two servers behind one interface: how each one signs a user up, declares the `notes`
 * collection/class with its index, seeds documents, and spells get by id, create and the list query.
 * The same user data on both: title, score (0..SCORES-1, so about DOCS/SCORES documents share a
 * score), tags; each document readable and writable by its owner only.
 */
import { createHttpClient, type HttpClient } from '../auth/http-load';
import type { ProbeRequest } from '../lib/rate-probe';
import { psql } from './servers';

export const SCORES = 500;

export interface Target {
  name: 'Tern' | 'Parse';
  url: string;
  pid: number;
  client: HttpClient;
  get(id: string): ProbeRequest;
  create(index: number): ProbeRequest;
  list(score: number): ProbeRequest;
  /** The id in a create's answer. */
  idOf(body: string): string;
  /** The documents in a list's answer. */
  countOf(body: string): number;
}

export function noteBody(index: number) {
  return { title: `note ${index}`, score: index % SCORES, tags: { batch: index % 7, kind: 'bench' } };
}

async function expectJson(client: HttpClient, request: ProbeRequest, status: number): Promise<unknown> {
  const response = await client.send(request.method, request.path, request.body, request.headers);
  if (response.status !== status) {
    throw new Error(`${request.method} ${request.path}: ${response.status} ${response.body.slice(0, 300)}`);
  }
  return JSON.parse(response.body);
}

/** Runs `count` jobs, `concurrency` at a time. */
async function pool(count: number, concurrency: number, job: (index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

/** Tern's data service: a user from /v1/auth/signup, owner-only default rules, index (score, createdAt). */
export async function tern(
  url: string,
  pid: number,
  adminKey: string,
  docs: number,
  sockets: number,
): Promise<{ target: Target; ids: string[] }> {
  const client = createHttpClient(url, sockets);
  const admin = { authorization: `Bearer ${adminKey}` };
  await expectJson(
    client,
    {
      method: 'PUT',
      path: '/v1/admin/collections/notes',
      headers: admin,
      body: {
        schema: {
          type: 'object',
          properties: {
            title: { type: 'string', maxLength: 200 },
            score: { type: 'number' },
            tags: { type: 'object' },
          },
          required: ['title'],
          additionalProperties: false,
        },
        indexes: [{ fields: ['score', 'createdAt'] }],
      },
    },
    201,
  );
  const signup = (await expectJson(
    client,
    {
      method: 'POST',
      path: '/v1/auth/signup',
      headers: {},
      body: { email: 'bench-data@example.com', password: 'bench-password-1' },
    },
    201,
  )) as { accessToken: string };
  const headers = { authorization: `Bearer ${signup.accessToken}` };
  const target: Target = {
    name: 'Tern',
    url,
    pid,
    client,
    get: (id) => ({ method: 'GET', path: `/v1/data/notes/${id}`, headers }),
    create: (index) => ({ method: 'POST', path: '/v1/data/notes', headers, body: noteBody(index) }),
    list: (score) => ({
      method: 'GET',
      path: `/v1/data/notes?where=${encodeURIComponent(JSON.stringify({ score: { eq: score } }))}&orderBy=-createdAt&limit=20`,
      headers,
    }),
    idOf: (body) => (JSON.parse(body) as { id: string }).id,
    countOf: (body) => (JSON.parse(body) as { items: unknown[] }).items.length,
  };
  const ids: string[] = [];
  await pool(docs, 16, async (index) => {
    ids.push(((await expectJson(client, target.create(index), 201)) as { id: string }).id);
  });
  return { target, ids };
}

/**
 * Parse Server: a user from /parse/users (session token), class `notes` with class-level
 * permissions requiring a signed-in user, each object's ACL its owner only (read and write), and
 * the same index (score, createdAt) created in PostgreSQL.
 */
export async function parse(
  url: string,
  pid: number,
  keys: { appId: string; masterKey: string; database: string },
  docs: number,
  sockets: number,
): Promise<{ target: Target; ids: string[] }> {
  const client = createHttpClient(url, sockets);
  const app = { 'x-parse-application-id': keys.appId };
  const signedIn = { requiresAuthentication: true };
  await expectJson(
    client,
    {
      method: 'POST',
      path: '/parse/schemas/notes',
      headers: { ...app, 'x-parse-master-key': keys.masterKey },
      body: {
        className: 'notes',
        fields: { title: { type: 'String' }, score: { type: 'Number' }, tags: { type: 'Object' } },
        classLevelPermissions: {
          find: signedIn,
          count: signedIn,
          get: signedIn,
          create: signedIn,
          update: signedIn,
          delete: signedIn,
          addField: {},
          protectedFields: {},
        },
      },
    },
    200,
  );
  psql('CREATE INDEX notes_score_created_at ON "notes" ("score", "createdAt")', keys.database);
  const user = (await expectJson(
    client,
    {
      method: 'POST',
      path: '/parse/users',
      headers: app,
      body: { username: 'bench-data', password: 'bench-password-1', email: 'bench-data@example.com' },
    },
    201,
  )) as { objectId: string; sessionToken: string };
  const headers = { ...app, 'x-parse-session-token': user.sessionToken };
  const ACL = { [user.objectId]: { read: true, write: true } };
  const target: Target = {
    name: 'Parse',
    url,
    pid,
    client,
    get: (id) => ({ method: 'GET', path: `/parse/classes/notes/${id}`, headers }),
    create: (index) => ({
      method: 'POST',
      path: '/parse/classes/notes',
      headers,
      body: { ...noteBody(index), ACL },
    }),
    list: (score) => ({
      method: 'GET',
      path: `/parse/classes/notes?where=${encodeURIComponent(JSON.stringify({ score }))}&order=-createdAt&limit=20`,
      headers,
    }),
    idOf: (body) => (JSON.parse(body) as { objectId: string }).objectId,
    countOf: (body) => (JSON.parse(body) as { results: unknown[] }).results.length,
  };
  // One create per request, as a client would (/parse/batch fails in this version: its router
  // match throws on sub-requests under Express 5).
  const ids: string[] = [];
  await pool(docs, 16, async (index) => {
    ids.push(((await expectJson(client, target.create(index), 201)) as { objectId: string }).objectId);
  });
  return { target, ids };
}
