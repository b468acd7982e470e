import { setTimeout as sleep } from 'node:timers/promises';
import { TernError } from '@tern/errors';
import { defineRoute, Type, type ServiceDefinition } from '../src/index';

/** A small service exercising what the runtime offers routes: validation, admin access, slow work. */
export const fixtureService: ServiceDefinition = {
  name: 'fixture',
  create: (deps) => ({
    name: 'fixture',
    migrations: [
      {
        id: 1,
        name: 'create-notes',
        sql: 'CREATE TABLE fixture_notes (id TEXT PRIMARY KEY, text TEXT NOT NULL)',
      },
    ],
    consumers: [
      {
        topic: 'fixture.slow',
        async handle(message, ctx) {
          const { ms } = message.payload as { ms: number };
          ctx.log.info({ ms }, 'slow job started');
          await sleep(ms);
          ctx.log.info({ ms }, 'slow job finished');
        },
      },
    ],
    routes: [
      defineRoute({
        method: 'POST',
        url: '/v1/fixture/jobs',
        summary: 'Queues a slow job.',
        access: 'public',
        schema: {
          body: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
          response: { 202: Type.Object({ id: Type.String() }) },
        },
      }).handle(async ({ body }, ctx) => {
        const { id } = await deps.queue.publish('fixture.slow', body, {
          headers: { 'x-request-id': ctx.requestId },
        });
        return { status: 202, body: { id } };
      }),
      defineRoute({
        method: 'POST',
        url: '/v1/fixture/notes',
        summary: 'Create a note.',
        access: 'public',
        schema: {
          body: Type.Object(
            { id: Type.String({ minLength: 1, maxLength: 64 }), text: Type.String({ maxLength: 1000 }) },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ id: Type.String(), text: Type.String() }) },
        },
      }).handle(async ({ body }, ctx) => {
        ctx.log.info({ noteId: body.id }, 'creating note');
        await deps.store.execute('INSERT INTO fixture_notes (id, text) VALUES ($1, $2)', [
          body.id,
          body.text,
        ]);
        return {
          status: 201,
          body: { id: body.id, text: body.text, secretField: 'must not leak' } as {
            id: string;
            text: string;
          },
        };
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/fixture/notes/:id',
        summary: 'Read a note.',
        access: 'public',
        schema: {
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Object({ id: Type.String(), text: Type.String() }) },
        },
      }).handle(async ({ params }) => {
        const [row] = await deps.store.query<{ id: string; text: string }>(
          'SELECT id, text FROM fixture_notes WHERE id = $1',
          [params.id],
        );
        if (!row)
          throw new TernError({
            code: 'fixture/note-not-found',
            status: 404,
            title: 'Not Found',
            detail: 'No such note.',
          });
        return { status: 200, body: row };
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/fixture/slow',
        summary: 'Answers after a delay (for drain tests).',
        access: 'public',
        schema: {
          querystring: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
          response: { 200: Type.Object({ waitedMs: Type.Integer() }) },
        },
      }).handle(async ({ query }) => {
        await sleep(query.ms);
        return { status: 200, body: { waitedMs: query.ms } };
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/fixture/cached/:key',
        summary: 'Reads a value from the cache.',
        access: 'public',
        schema: {
          params: Type.Object({ key: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Object({ found: Type.Boolean() }) },
        },
      }).handle(async ({ params }) => {
        const value = await deps.cache.get(params.key);
        return { status: 200, body: { found: value !== undefined } };
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/fixture/boom',
        summary: 'Fails with an unexpected error.',
        access: 'public',
        schema: { response: { 200: Type.Object({}) } },
      }).handle(async () => {
        throw new Error('database password=hunter2 leaked into an error message');
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/admin/fixture',
        summary: 'Admin only.',
        access: 'admin',
        schema: { response: { 200: Type.Object({ identity: Type.String() }) } },
      }).handle(async (_input, ctx) => {
        return { status: 200, body: { identity: ctx.identity.kind } };
      }),
    ],
  }),
};
