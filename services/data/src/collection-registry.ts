import { randomUUID } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { isUniqueViolation, type Store } from '@tern/store';
import { TernError } from '@tern/errors';
import {
  compileSchema,
  createIndexSql,
  createCollectionSql,
  diffIndexes,
  dropIndexSql,
  type CollectionDefinition,
} from './collections/collection-definition';
import { createChangeLog } from './change-log';
import { compileRule, type CompiledRule } from './rules/compile-rule';
import { tableName } from './schema/field-sql';

/** A collection ready to serve: its definition with the schema and rules compiled once. */
export interface Collection {
  definition: CollectionDefinition;
  revision: number;
  /** Differs between a collection and one created later under the same name (after a drop). */
  incarnation: string;
  validate: ValidateFunction;
  rules: Record<'read' | 'create' | 'update' | 'delete', CompiledRule>;
}

const duplicateValues = (fields: string[]) =>
  new TernError({
    code: 'data/duplicate-values',
    status: 409,
    title: 'Conflict',
    detail: `Documents already hold duplicate values of (${fields.join(', ')}); a unique index cannot be built until they differ.`,
    details: { fields },
  });

// PostgreSQL: an index entry above the B-tree row limit (about 2.7 KB).
const INDEX_ROW_TOO_BIG = '54000';
const unindexableValues = (fields: string[]) =>
  new TernError({
    code: 'data/unindexable-values',
    status: 409,
    title: 'Conflict',
    detail: `Documents hold values of (${fields.join(', ')}) too large for an index entry (about 2.7 KB); the definition is not applied.`,
    details: { fields },
  });

export const collectionNotFound = (name: string) =>
  new TernError({
    code: 'data/collection-not-found',
    status: 404,
    title: 'Not Found',
    detail: `There is no collection ${name}.`,
  });

// Definitions change rarely; another instance's change is seen within this long.
const CACHE_MS = 2_000;

/**
 * Where collection definitions live (the `data_collections` table) and how they reach every
 * instance: read through a short cache, compiled once per revision.
 */
export function createCollectionRegistry(store: Store) {
  const changeLog = createChangeLog(store.kind);
  const cache = new Map<string, { collection: Collection | undefined; loadedAt: number }>();

  function compile(definition: CollectionDefinition, revision: number, incarnation: string): Collection {
    return {
      definition,
      revision,
      incarnation,
      validate: compileSchema(definition.schema),
      rules: {
        read: compileRule(definition.rules.read),
        create: compileRule(definition.rules.create),
        update: compileRule(definition.rules.update),
        delete: compileRule(definition.rules.delete),
      },
    };
  }

  async function load(name: string): Promise<Collection | undefined> {
    const cached = cache.get(name);
    if (cached && performance.now() - cached.loadedAt < CACHE_MS) return cached.collection;
    const rows = await store.query<{ definition: string; revision: number; incarnation: string }>(
      'SELECT definition, revision, incarnation FROM data_collections WHERE name = $1',
      [name],
    );
    const row = rows[0];
    const collection =
      row === undefined
        ? undefined
        : cached?.collection &&
            cached.collection.revision === Number(row.revision) &&
            cached.collection.incarnation === row.incarnation
          ? cached.collection
          : compile(
              JSON.parse(row.definition) as CollectionDefinition,
              Number(row.revision),
              row.incarnation,
            );
    cache.set(name, { collection, loadedAt: performance.now() });
    return collection;
  }

  return {
    /** The collection, or 404 `data/collection-not-found`. */
    async get(name: string): Promise<Collection> {
      const collection = await load(name);
      if (!collection) throw collectionNotFound(name);
      return collection;
    },

    async list(): Promise<CollectionDefinition[]> {
      const rows = await store.query<{ definition: string }>(
        'SELECT definition FROM data_collections ORDER BY name',
      );
      return rows.map((row) => JSON.parse(row.definition) as CollectionDefinition);
    },

    /**
     * Creates or changes a collection: its table, then the index difference (on PostgreSQL built
     * CONCURRENTLY, outside any transaction, so writes go on), then the definition. Rules and
     * schema are compiled first, so a bad definition changes nothing.
     */
    async put(definition: CollectionDefinition): Promise<{ created: boolean; revision: number }> {
      compile(definition, 0, '');
      const existing = await store.query<{ definition: string; revision: number }>(
        'SELECT definition, revision FROM data_collections WHERE name = $1',
        [definition.name],
      );
      const before = existing[0] ? (JSON.parse(existing[0].definition) as CollectionDefinition) : undefined;
      for (const statement of createCollectionSql(store.kind, definition.name))
        await store.execute(statement);
      const { create, drop } = diffIndexes(definition.name, before?.indexes ?? [], definition.indexes);
      for (const index of create) {
        try {
          await store.execute(createIndexSql(store.kind, definition.name, index));
        } catch (error) {
          // Whatever stopped it, a failed CONCURRENTLY build leaves an invalid index behind on
          // PostgreSQL, which the next `CREATE INDEX … IF NOT EXISTS` would take as built.
          await store.execute(dropIndexSql(store.kind, definition.name, index)).catch(() => undefined);
          if (isUniqueViolation(error)) throw duplicateValues(index.fields);
          if ((error as { code?: unknown }).code === INDEX_ROW_TOO_BIG) throw unindexableValues(index.fields);
          throw error;
        }
      }
      for (const index of drop) await store.execute(dropIndexSql(store.kind, definition.name, index));
      const revision = Number(existing[0]?.revision ?? 0) + 1;
      await store.execute(
        `INSERT INTO data_collections (name, definition, revision, updated_at, incarnation)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, revision = excluded.revision,
           updated_at = excluded.updated_at`,
        [definition.name, JSON.stringify(definition), revision, Date.now(), randomUUID()],
      );
      cache.delete(definition.name);
      return { created: before === undefined, revision };
    },

    /**
     * Drops a collection, all its documents and its change feed. A cursor into the feed of the
     * dropped collection then answers 410 (resync), also after a collection of the same name is
     * created again, whose documents' cached copies are keyed by a new incarnation.
     */
    async drop(name: string): Promise<boolean> {
      const removed = await store.transaction(async (tx) => {
        const result = await tx.execute('DELETE FROM data_collections WHERE name = $1', [name]);
        await changeLog.reset(tx, name);
        return result;
      });
      await store.execute(`DROP TABLE IF EXISTS ${tableName(name)}`);
      cache.delete(name);
      return removed.rowCount > 0;
    },
  };
}

export type CollectionRegistry = ReturnType<typeof createCollectionRegistry>;
