import {
  defineRoute,
  RawJson,
  Type,
  type Identity,
  type RequestContext,
  type Route,
  type ServiceDeps,
} from '@tern/runtime';
import { fingerprintOf, idempotentWrite, type StoredResponse } from '@tern/idempotency';
import { createBatcher, isConsistencyToken, type Queryable } from '@tern/store';
import { documentCacheKey } from '../cache-invalidation';
import { createChangeLog, type ChangeOp } from '../change-log';
import { BUILT_IN_INDEXES } from '../collections/collection-definition';
import { collectionNotFound, type Collection, type CollectionRegistry } from '../collection-registry';
import { dataErrors } from '../data-errors';
import {
  bodyOf,
  documentJson,
  documentStore,
  mergePatch,
  toView,
  unstorable,
  type DocumentView,
} from '../document-store';
import { isSystemField, tableName } from '../schema/field-sql';
import { compileQuery, encodeCursor, parseQuery, servingIndex, type ReadRule } from '../query/compile-query';
import { queryErrors } from '../query/query-errors';
import type { RuleAuth } from '../rules/compile-rule';

const Params = Type.Object({
  collection: Type.String({ minLength: 1, maxLength: 48, pattern: '^[a-z][a-z0-9_]*$' }),
});
const DocParams = Type.Object({
  collection: Type.String({ minLength: 1, maxLength: 48, pattern: '^[a-z][a-z0-9_]*$' }),
  id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
});
const Doc = Type.Record(Type.String(), Type.Unknown());
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  'if-match': Type.Optional(Type.String({ maxLength: 64 })),
});
/** A write's consistency token, sent back on reads that must see that write (replicas). */
const CONSISTENCY = 'tern-consistency';
const ReadHeaders = Type.Object({ [CONSISTENCY]: Type.Optional(Type.String({ maxLength: 64 })) });
const COUNT_CACHE_MS = 30_000;
// Read-through cache of documents by id: found documents for a minute, misses briefly (so a
// flood of requests for ids that do not exist costs one query per id, not one each).
const DOCUMENT_TTL_MS = 60_000;
const MISS_TTL_MS = 5_000;
const SECOND_DROP_MS = 1_000;

type Caller = { kind: 'admin' } | { kind: 'user'; auth: RuleAuth } | { kind: 'anonymous' };

function callerOf(identity: Identity): Caller {
  if (identity.kind === 'admin') return { kind: 'admin' };
  if (identity.kind === 'user') {
    return {
      kind: 'user',
      auth: {
        id: identity.id,
        roles: identity.roles,
        claims: identity.claims,
        anonymous: identity.anonymous,
      },
    };
  }
  return { kind: 'anonymous' };
}

/** The admin credential is above the rules; everyone else is judged by them. */
function allowed(
  collection: Collection,
  operation: 'read' | 'create' | 'update' | 'delete',
  caller: Caller,
  doc: DocumentView,
) {
  if (caller.kind === 'admin') return true;
  return collection.rules[operation].evaluate(caller.kind === 'user' ? caller.auth : undefined, doc);
}

function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?([1-9][0-9]{0,9})"?$/.exec(header.trim());
  if (!match?.[1]) throw dataErrors.invalidIfMatch();
  return Number(match[1]);
}

/** Before anything serializes the body (the idempotency fingerprint, the database). */
function checkStorable(body: Record<string, unknown>): void {
  const problem = unstorable(body);
  if (problem) throw dataErrors.invalidDocument([problem]);
}

function validate(collection: Collection, body: Record<string, unknown>): void {
  const system = Object.keys(body).filter(isSystemField);
  if (system.length) {
    throw dataErrors.invalidDocument(
      system.map((key) => ({ path: `/${key}`, message: 'is a system field, set by Tern' })),
    );
  }
  if (!collection.validate(body)) {
    throw dataErrors.invalidDocument(
      (collection.validate.errors ?? []).map((error) => ({
        path: error.instancePath,
        message: error.message ?? 'is invalid',
      })),
    );
  }
}

/** Documents under /v1/data/:collection: create, read, replace, patch, delete, and queries. */
export function documentRoutes(deps: ServiceDeps, registry: CollectionRegistry): Route[] {
  const { store, outbox, cache } = deps;
  const changeLog = createChangeLog(store.kind);

  /**
   * A document by id through the cache. A miss is cached as `null`, briefly. Writes delete the
   * key after they commit and before they answer, so a caller never reads their own write stale.
   * What the cache is filled with is read on the primary: a replica's copy may be older than a
   * write another instance already answered, and the cache is shared. A read carrying a
   * consistency token skips the cache and reads where that write is visible.
   */
  async function cachedDocument(
    collection: Collection,
    id: string,
    after: string | undefined,
  ): Promise<DocumentView | undefined> {
    const { name } = collection.definition;
    if (after !== undefined) {
      return whileCollectionExists(collection, documentStore.get(store.reader({ after }), name, id));
    }
    // One lookup: a cached miss comes back as `null`; a fresh miss loads as `null` too, cached for
    // the shorter time under the same guard as a document (not if a write deleted the key meanwhile).
    const loaded = await cache.getOrLoad<DocumentView | null>(
      documentCacheKey(collection, id),
      DOCUMENT_TTL_MS,
      async () => (await whileCollectionExists(collection, documentStore.get(store, name, id))) ?? null,
      { nullTtlMs: MISS_TTL_MS },
    );
    return loaded ?? undefined;
  }

  const drop = (collection: Collection, id: string) =>
    cache.delete(documentCacheKey(collection, id)).catch((error: unknown) => {
      deps.log.warn(
        { err: error, collection: collection.definition.name },
        'could not drop a document from the cache',
      );
    });
  /**
   * Drops a written document's key now, and once more a moment later: a load that another
   * instance began before the write (so read the old row) and finished after the first drop
   * would otherwise keep the old copy cached for the whole TTL; the second drop bounds that to
   * SECOND_DROP_MS. (Within one instance the cache itself already discards such a load.)
   */
  const forget = async (collection: Collection, id: string) => {
    await drop(collection, id);
    setTimeout(() => void drop(collection, id), SECOND_DROP_MS).unref();
  };
  // Keyed by the collection itself: one dropped and created again under its name starts afresh.
  const counts = new WeakMap<Collection, { count: number; at: number }>();

  /** The collection's document count, read at most every COUNT_CACHE_MS. */
  async function sizeOf(collection: Collection): Promise<number> {
    const cached = counts.get(collection);
    if (cached && performance.now() - cached.at < COUNT_CACHE_MS) return cached.count;
    const rows = await store
      .reader()
      .query<{ n: number | bigint }>(`SELECT COUNT(*) AS n FROM ${tableName(collection.definition.name)}`);
    const count = Number(rows[0]?.n ?? 0);
    counts.set(collection, { count, at: performance.now() });
    return count;
  }

  /**
   * Runs a write once per Idempotency-Key (when given), in one transaction with its event, then
   * drops the document's cached copy before the answer goes out.
   */
  async function write(
    ctx: RequestContext,
    headers: Record<string, string | string[] | undefined>,
    request: { method: string; collection: Collection; id: string; body: unknown },
    run: (tx: Queryable) => Promise<StoredResponse>,
  ): Promise<StoredResponse & { consistency?: string }> {
    const key = header(headers, 'idempotency-key');
    const scope = ctx.identity.kind === 'user' ? `user:${ctx.identity.id}` : ctx.identity.kind;
    // A create's fingerprint is its collection, not the id the server picked for this attempt.
    const path = `/v1/data/${request.collection.definition.name}`;
    const url = `${path}${request.method === 'POST' ? '' : `/${request.id}`}`;
    const result = await whileCollectionExists<StoredResponse & { consistency?: string }>(
      request.collection,
      key === undefined
        ? store.transactionWithToken(run).then(({ result, consistency }) => ({ ...result, consistency }))
        : idempotentWrite(
            store,
            { scope, key, fingerprint: fingerprintOf(request.method, url, request.body) },
            run,
          ),
    );
    await forget(request.collection, request.id);
    return result;
  }

  /** The document a change or delete applies to: 404 if the caller may not see it, 412 if `If-Match` is stale. */
  async function currentForWrite(
    tx: Queryable,
    collection: Collection,
    caller: Caller,
    id: string,
    expected: number | undefined,
  ): Promise<DocumentView> {
    const current = await documentStore.get(tx, collection.definition.name, id);
    if (!current || !allowed(collection, 'read', caller, current)) throw dataErrors.notFound();
    if (expected !== undefined && expected !== current.version)
      throw dataErrors.versionMismatch(current.version);
    return current;
  }

  const event = (requestId: string, collection: string, op: ChangeOp, doc: DocumentView) => ({
    topic: `data.${collection}.changed`,
    payload: { op, collection, id: doc.id, version: doc.version, ownerId: doc.ownerId },
    headers: { 'x-request-id': requestId },
  });

  /** Last in each write's transaction: the event through the outbox, and the change feed entry. */
  const changed = async (
    tx: Queryable,
    ctx: RequestContext,
    collection: string,
    op: ChangeOp,
    doc: DocumentView,
  ) => {
    await outbox.add(tx, event(ctx.requestId, collection, op, doc));
    await changeLog.append(tx, collection, op, doc);
  };

  type NewDocument = { id: string; ownerId: string; body: Record<string, unknown>; ctx: RequestContext };
  type Created = { doc: DocumentView | undefined; consistency?: string };
  /** Creates without an Idempotency-Key, on PostgreSQL: concurrent ones share a transaction. */
  const creates = createBatcher<NewDocument, Created>({
    one: async (collection, item) => {
      const { result, consistency } = await store.transactionWithToken(async (tx) => {
        const created = await documentStore.insert(tx, collection, item);
        if (created) await changed(tx, item.ctx, collection, 'create', created);
        return created;
      });
      return { doc: result, consistency };
    },
    many: async (collection, items) => {
      const { result, consistency } = await store.transactionWithToken(async (tx) => {
        const created = await documentStore.insertMany(tx, collection, items);
        const done = items.flatMap((item, index) => {
          const doc = created[index];
          return doc ? [{ item, doc }] : [];
        });
        if (done.length > 0) {
          await outbox.add(
            tx,
            done.map(({ item, doc }) => event(item.ctx.requestId, collection, 'create', doc)),
          );
          await changeLog.appendMany(
            tx,
            collection,
            'create',
            done.map(({ doc }) => doc),
          );
        }
        return created;
      });
      return result.map((doc) => ({ doc, consistency }));
    },
  });

  /** The read rule as SQL for this caller, pushed into list and change-feed queries. */
  const readRuleFor =
    (collection: Collection, caller: Caller): ReadRule =>
    (firstParam) =>
      caller.kind === 'admin'
        ? 'all'
        : collection.rules.read.toSql(
            caller.kind === 'user' ? caller.auth : undefined,
            store.kind,
            firstParam,
          );

  const respond = (result: StoredResponse & { consistency?: string }) => {
    const body = result.body as DocumentView | { status: 'ok' };
    const version = (body as DocumentView).version;
    const headers: Record<string, string> = {};
    if (typeof version === 'number') headers.etag = `"${version}"`;
    if (result.consistency) headers[CONSISTENCY] = result.consistency;
    return { status: result.status as 200, body: body as never, headers };
  };

  return [
    defineRoute({
      method: 'POST',
      url: '/v1/data/:collection',
      summary: 'Creates a document; the server picks a time-ordered id unless the client sends its own.',
      tags: ['data'],
      access: 'user',
      serializer: 'json',
      schema: { params: Params, headers: IdempotencyHeaders, body: Doc, response: { 201: Doc } },
    }).handle(async ({ params, body, headers }, ctx) => {
      checkStorable(body);
      const collection = await registry.get(params.collection);
      const caller = callerOf(ctx.identity);
      const { id: requestedId, ownerId: requestedOwner, ...fields } = body;
      if (
        requestedId !== undefined &&
        (typeof requestedId !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(requestedId))
      ) {
        throw dataErrors.invalidDocument([{ path: '/id', message: 'must be 1–128 letters, digits, - or _' }]);
      }
      // `GET /v1/data/:collection/changes` is the change feed: such a document could never be read.
      if (requestedId === 'changes') {
        throw dataErrors.invalidDocument([{ path: '/id', message: 'changes is reserved (the change feed)' }]);
      }
      const ownerId = caller.kind === 'user' ? caller.auth.id : requestedOwner;
      if (typeof ownerId !== 'string' || ownerId.length === 0 || ownerId.length > 128) {
        throw dataErrors.invalidDocument([
          { path: '/ownerId', message: 'the admin credential must name the owner' },
        ]);
      }
      if (caller.kind === 'user' && requestedOwner !== undefined && requestedOwner !== caller.auth.id) {
        throw dataErrors.forbidden('create');
      }
      validate(collection, fields);
      const id = (requestedId as string | undefined) ?? documentStore.newId();
      const now = new Date().toISOString();
      const draft: DocumentView = { ...fields, id, ownerId, version: 1, createdAt: now, updatedAt: now };
      if (!allowed(collection, 'create', caller, draft)) throw dataErrors.forbidden('create');
      if (store.kind === 'postgres' && header(headers, 'idempotency-key') === undefined) {
        const { doc: created, consistency } = await whileCollectionExists(
          collection,
          creates.submit(params.collection, { id, ownerId, body: fields, ctx }),
        );
        if (!created) throw dataErrors.idTaken();
        await forget(collection, id);
        return { ...respond({ status: 201, body: created, consistency }), status: 201 as const };
      }
      const result = await write(ctx, headers, { method: 'POST', collection, id, body }, async (tx) => {
        const created = await documentStore.insert(tx, params.collection, { id, ownerId, body: fields });
        if (!created) throw dataErrors.idTaken();
        await changed(tx, ctx, params.collection, 'create', created);
        return { status: 201, body: created };
      });
      const answer = respond(result);
      return { ...answer, status: 201 as const };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/data/:collection/:id',
      summary: 'One document, if the read rule allows it (otherwise 404, as if it did not exist).',
      tags: ['data'],
      access: 'user',
      serializer: 'json',
      schema: { params: DocParams, headers: ReadHeaders, response: { 200: Doc } },
    }).handle(async ({ params, headers }, ctx) => {
      const collection = await registry.get(params.collection);
      const doc = await cachedDocument(collection, params.id, consistencyOf(headers));
      if (!doc || !allowed(collection, 'read', callerOf(ctx.identity), doc)) throw dataErrors.notFound();
      return { status: 200, body: doc, headers: { etag: `"${doc.version}"` } };
    }),

    ...(['PUT', 'PATCH'] as const).map((method) =>
      defineRoute({
        method,
        url: '/v1/data/:collection/:id',
        summary:
          method === 'PUT' ? 'Replaces a document.' : 'Changes a document by JSON merge patch (RFC 7396).',
        description: 'If-Match: <version> makes it conditional (412 when the document moved on).',
        tags: ['data'],
        access: 'user',
        serializer: 'json',
        schema: { params: DocParams, headers: IdempotencyHeaders, body: Doc, response: { 200: Doc } },
      }).handle(async ({ params, body, headers }, ctx) => {
        checkStorable(body);
        const collection = await registry.get(params.collection);
        const caller = callerOf(ctx.identity);
        const expected = parseIfMatch(header(headers, 'if-match'));
        const result = await write(ctx, headers, { method, collection, id: params.id, body }, async (tx) => {
          const current = await currentForWrite(tx, collection, caller, params.id, expected);
          const fields =
            method === 'PUT' ? body : (mergePatch(bodyOf(current), body) as Record<string, unknown>);
          validate(collection, fields);
          const next: DocumentView = { ...fields, ...pickSystem(current) };
          // The rule must hold before and after: a change cannot move a document out of its rule's reach.
          if (
            !allowed(collection, 'update', caller, current) ||
            !allowed(collection, 'update', caller, next)
          ) {
            throw dataErrors.forbidden('update');
          }
          const updated = await documentStore.replace(
            tx,
            params.collection,
            params.id,
            current.version,
            fields,
          );
          if (!updated) throw dataErrors.versionMismatch(undefined);
          await changed(tx, ctx, params.collection, 'update', updated);
          return { status: 200, body: updated };
        });
        return respond(result);
      }),
    ),

    defineRoute({
      method: 'DELETE',
      url: '/v1/data/:collection/:id',
      summary: 'Deletes a document.',
      tags: ['data'],
      access: 'user',
      serializer: 'json',
      schema: {
        params: DocParams,
        headers: IdempotencyHeaders,
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    }).handle(async ({ params, headers }, ctx) => {
      const collection = await registry.get(params.collection);
      const caller = callerOf(ctx.identity);
      const expected = parseIfMatch(header(headers, 'if-match'));
      const result = await write(
        ctx,
        headers,
        { method: 'DELETE', collection, id: params.id, body: null },
        async (tx) => {
          const current = await currentForWrite(tx, collection, caller, params.id, expected);
          if (!allowed(collection, 'delete', caller, current)) throw dataErrors.forbidden('delete');
          if (!(await documentStore.delete(tx, params.collection, params.id, current.version))) {
            throw dataErrors.versionMismatch(undefined);
          }
          await changed(tx, ctx, params.collection, 'delete', current);
          return { status: 200, body: { status: 'ok' } };
        },
      );
      return respond(result) as { status: 200; body: { status: 'ok' }; headers: Record<string, string> };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/data/:collection/changes',
      summary:
        'Creates, updates and deletes (tombstones) after a position, in commit order, for offline sync.',
      description:
        'Without `since`: no items and the current head, to follow from. With it: changes after it that the read rule lets the caller see; resume from `cursor`; `hasMore` says whether to ask again at once. A cursor older than the retention answers 410 data/cursor-expired. (A document id `changes` is reserved.)',
      tags: ['data'],
      access: 'user',
      serializer: 'json',
      schema: {
        params: Params,
        headers: ReadHeaders,
        querystring: Type.Object(
          {
            since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                op: Type.String(),
                id: Type.String(),
                version: Type.Integer(),
                document: Type.Union([Doc, Type.Null()]),
              }),
            ),
            cursor: Type.String(),
            hasMore: Type.Boolean(),
          }),
        },
      },
    }).handle(async ({ params, query, headers }, ctx) => {
      const collection = await registry.get(params.collection);
      const caller = callerOf(ctx.identity);
      // Checked, though the feed is always read on the primary: reading it gives committed changes
      // their positions (change-log.ts), a write, and the primary holds every change.
      consistencyOf(headers);
      if (query.since === undefined) {
        // No position yet: start following from now (sync the collection in full with list queries first).
        const head = await changeLog.head(store, params.collection);
        return { status: 200, body: { items: [], cursor: String(head), hasMore: false } };
      }
      const since = Number(query.since);
      if (since < (await changeLog.prunedThrough(store, params.collection))) throw dataErrors.cursorExpired();
      const page = await changeLog.read(
        store,
        params.collection,
        since,
        query.limit ?? 100,
        readRuleFor(collection, caller),
      );
      return {
        status: 200,
        body: { items: page.items, cursor: String(page.position), hasMore: page.hasMore },
      };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/data/:collection',
      summary: 'Documents matching a query, those the read rule grants, a page at a time.',
      description:
        '`where` is URL-encoded JSON `{"field": {"op": value}}` (eq, ne, lt, lte, gt, gte, in, prefix); `orderBy` a field, `-` for descending; `limit` ≤ 100; `cursor` from the previous page.',
      tags: ['data'],
      access: 'user',
      serializer: 'json',
      schema: {
        params: Params,
        headers: ReadHeaders,
        querystring: Type.Object(
          {
            where: Type.Optional(Type.String({ maxLength: 8192 })),
            orderBy: Type.Optional(Type.String({ maxLength: 80 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 16_384 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Doc), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        },
      },
    }).handle(async ({ params, query, headers }, ctx) => {
      const collection = await registry.get(params.collection);
      const after = consistencyOf(headers);
      const parsed = parseQuery(query);
      const serving = servingIndex(parsed, [...BUILT_IN_INDEXES, ...collection.definition.indexes]);
      if (
        !serving.served &&
        (await whileCollectionExists(collection, sizeOf(collection))) > deps.config.data.unindexedQueryLimit
      ) {
        throw queryErrors.unindexedQuery(params.collection, serving.suggestion);
      }
      const caller = callerOf(ctx.identity);
      const compiled = compileQuery(store.kind, params.collection, parsed, readRuleFor(collection, caller));
      if (compiled === 'none') return { status: 200, body: { items: [], nextCursor: null } };
      const rows = await whileCollectionExists(
        collection,
        store.reader({ after }).query(compiled.sql, compiled.params),
      );
      // The answer is assembled from the rows' JSON text; only the last row of the page is
      // parsed, for the cursor (the read rule is already in the SQL).
      const page = rows.slice(0, parsed.limit);
      const lastRow = page[page.length - 1];
      const last = rows.length > parsed.limit && lastRow ? toView(lastRow) : undefined;
      const nextCursor = last
        ? encodeCursor(parsed, { id: last.id, sortValue: last[parsed.orderBy.field] })
        : null;
      const items = page.map(documentJson).join(',');
      return {
        status: 200,
        body: new RawJson(`{"items":[${items}],"nextCursor":${JSON.stringify(nextCursor)}}`),
      };
    }),
  ];
}

/** One header's value (the schema already refused repeated ones by their type). */
function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A statement on a collection's table, as 404 if the table is gone: a collection dropped on
 * another instance is still in this one's registry cache for a moment.
 */
async function whileCollectionExists<T>(collection: Collection, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    const missing =
      code === '42P01' || (typeof message === 'string' && message.startsWith('no such table: data_c_'));
    throw missing ? collectionNotFound(collection.definition.name) : error;
  }
}

/** The `Tern-Consistency` token a read carries, checked; 400 when it is not one Tern issued. */
function consistencyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const token = header(headers, CONSISTENCY);
  if (token !== undefined && !isConsistencyToken(token)) throw dataErrors.invalidConsistencyToken();
  return token;
}

function pickSystem(doc: DocumentView) {
  return {
    id: doc.id,
    ownerId: doc.ownerId,
    version: doc.version,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}
