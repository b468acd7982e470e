import { defineRoute, Type, type Route } from '@tern/runtime';
import { parseDefinition } from '../collections/collection-definition';
import { collectionNotFound, type CollectionRegistry } from '../collection-registry';

const Name = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 48, pattern: '^[a-z][a-z0-9_]*$' }),
});
const Definition = Type.Object({
  name: Type.String(),
  schema: Type.Record(Type.String(), Type.Unknown()),
  indexes: Type.Array(Type.Object({ fields: Type.Array(Type.String()), unique: Type.Boolean() })),
  rules: Type.Object({
    read: Type.String(),
    create: Type.String(),
    update: Type.String(),
    delete: Type.String(),
  }),
  shardKey: Type.String(),
});

/** The admin API over collections: define (create or change), list, describe, drop. */
export function collectionRoutes(registry: CollectionRegistry): Route[] {
  return [
    defineRoute({
      method: 'PUT',
      url: '/v1/admin/collections/:name',
      summary: 'Creates a collection or applies a changed definition (schema, indexes, rules, shard key).',
      description: 'New indexes are built online (CONCURRENTLY on PostgreSQL); removed ones are dropped.',
      tags: ['admin', 'data'],
      access: 'admin',
      schema: {
        params: Name,
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: Definition, 201: Definition },
      },
    }).handle(async ({ params, body }) => {
      const definition = parseDefinition(params.name, body);
      const { created } = await registry.put(definition);
      return created ? { status: 201, body: definition } : { status: 200, body: definition };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/collections',
      summary: 'Every collection with its definition.',
      tags: ['admin', 'data'],
      access: 'admin',
      schema: { response: { 200: Type.Object({ items: Type.Array(Definition) }) } },
    }).handle(async () => ({ status: 200, body: { items: await registry.list() } })),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/collections/:name',
      summary: "A collection's definition.",
      tags: ['admin', 'data'],
      access: 'admin',
      schema: { params: Name, response: { 200: Definition } },
    }).handle(async ({ params }) => ({ status: 200, body: (await registry.get(params.name)).definition })),

    defineRoute({
      method: 'DELETE',
      url: '/v1/admin/collections/:name',
      summary: 'Drops a collection and every document in it.',
      tags: ['admin', 'data'],
      access: 'admin',
      schema: { params: Name, response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    }).handle(async ({ params }) => {
      if (!(await registry.drop(params.name))) throw collectionNotFound(params.name);
      return { status: 200, body: { status: 'ok' as const } };
    }),
  ];
}
