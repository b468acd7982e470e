import { createHash } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import safeRegex from 'safe-regex2';
import { TernError } from '@tern/errors';
import type { Dialect } from '@tern/store';
import type { IndexDefinition } from '../query/serving-index';
import { OWNER_ONLY } from '../rules/compile-rule';
import { RULE_MAX_LENGTH } from '../rules/parse-rule';
import { COLLECTION_NAME, FIELD_NAME, fieldSql, isSystemField, tableName } from '../schema/field-sql';

export type { IndexDefinition };

export interface RuleSources {
  read: string;
  create: string;
  update: string;
  delete: string;
}

/** A collection as an administrator declares it (`PUT /v1/admin/collections/:name`). */
export interface CollectionDefinition {
  name: string;
  schema: Record<string, unknown>;
  indexes: IndexDefinition[];
  rules: RuleSources;
  shardKey: string;
}

const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_INDEXES = 32;
const MAX_INDEX_FIELDS = 4;

export const collectionErrors = {
  invalid: (detail: string) =>
    new TernError({ code: 'data/invalid-collection', status: 400, title: 'Bad Request', detail }),
};

/**
 * Checks a definition and fills the defaults: no indexes, owner-only rules, shard key `ownerId`.
 * The JSON Schema must compile (Ajv, strict) and must describe an object; system fields belong
 * to Tern and may not be declared. Throws 400 `data/invalid-collection` naming the problem.
 */
export function parseDefinition(name: string, input: unknown): CollectionDefinition {
  if (!COLLECTION_NAME.test(name)) {
    throw collectionErrors.invalid(
      'A collection name is 1–48 lower-case letters, digits or underscores, starting with a letter.',
    );
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw collectionErrors.invalid('The definition must be a JSON object.');
  }
  const body = input as Record<string, unknown>;
  const unknown = Object.keys(body).filter(
    (key) => !['schema', 'indexes', 'rules', 'shardKey'].includes(key),
  );
  if (unknown.length) throw collectionErrors.invalid(`Unknown parts: ${unknown.join(', ')}.`);
  const schema = body.schema;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw collectionErrors.invalid('`schema` must be a JSON Schema object.');
  }
  if (Buffer.byteLength(JSON.stringify(schema)) > MAX_SCHEMA_BYTES) {
    throw collectionErrors.invalid(`\`schema\` must be at most ${MAX_SCHEMA_BYTES} bytes.`);
  }
  const schemaObject = schema as Record<string, unknown>;
  if (schemaObject.type !== 'object') throw collectionErrors.invalid('`schema.type` must be "object".');
  const declared = Object.keys((schemaObject.properties as Record<string, unknown> | undefined) ?? {});
  const reserved = declared.filter((field) => isSystemField(field));
  if (reserved.length)
    throw collectionErrors.invalid(`System fields cannot be declared: ${reserved.join(', ')}.`);
  const badNames = declared.filter((field) => !FIELD_NAME.test(field));
  if (badNames.length) {
    throw collectionErrors.invalid(
      `Field names must match ${FIELD_NAME.source}: ${badNames.slice(0, 5).join(', ')}.`,
    );
  }
  compileSchema(schemaObject);

  const indexes = parseIndexes(body.indexes);
  const rules = parseRules(body.rules);
  const shardKey = body.shardKey ?? 'ownerId';
  if (
    typeof shardKey !== 'string' ||
    !(shardKey === 'ownerId' || shardKey === 'id' || FIELD_NAME.test(shardKey))
  ) {
    throw collectionErrors.invalid('`shardKey` must be a field name.');
  }
  return { name, schema: schemaObject, indexes, rules, shardKey };
}

/** Longest `pattern` (or `patternProperties` key) a schema may hold. */
const MAX_PATTERN_LENGTH = 1_000;

/**
 * Ajv's regular-expression engine, refusing expressions that backtrack catastrophically (nested
 * quantifiers, such as `(a+)+`): every write is validated against the schema, so one such
 * `pattern` would let a single crafted document hold the event loop for seconds. Ajv hands it
 * every string it compiles as a pattern (`pattern`, `patternProperties`) and nothing else, so a
 * field or a value that merely is called `pattern` is not mistaken for one. safe-regex2 judges
 * star height, which catches the classic cases, not every slow expression; the length cap
 * bounds the rest.
 */
const guardedRegExp = Object.assign(
  (pattern: string, flags: string): RegExp => {
    if (pattern.length > MAX_PATTERN_LENGTH || !safeRegex(pattern)) {
      throw collectionErrors.invalid(
        `\`schema\` holds a regular expression that could take exponential time to match: ${pattern.slice(0, 100)}`,
      );
    }
    return new RegExp(pattern, flags);
  },
  { code: 'new RegExp' },
);

/** Compiles a document schema once; refuses schemas Ajv's strict mode refuses, and remote references. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const ajv = addFormats.default(
    new Ajv({
      strict: true,
      allErrors: false,
      coerceTypes: false,
      useDefaults: false,
      loadSchema: undefined,
      code: { regExp: guardedRegExp },
    }),
  );
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    if (error instanceof TernError) throw error;
    throw collectionErrors.invalid(
      `\`schema\` is not a valid JSON Schema: ${(error as Error).message.slice(0, 300)}`,
    );
  }
  // An async validator answers a Promise, which every write would take for a pass.
  if ((validate as { $async?: unknown }).$async) {
    throw collectionErrors.invalid('`schema` must not be `$async`: documents are validated synchronously.');
  }
  return validate;
}

function parseIndexes(input: unknown): IndexDefinition[] {
  if (input === undefined) return [];
  if (!Array.isArray(input) || input.length > MAX_INDEXES) {
    throw collectionErrors.invalid(`\`indexes\` must be a list of at most ${MAX_INDEXES} indexes.`);
  }
  const seen = new Set<string>();
  return input.map((raw: unknown, position) => {
    const index = raw as { fields?: unknown; unique?: unknown };
    const fields = index?.fields;
    if (
      !Array.isArray(fields) ||
      fields.length === 0 ||
      fields.length > MAX_INDEX_FIELDS ||
      !fields.every(
        (field) => typeof field === 'string' && (isSystemField(field) || FIELD_NAME.test(field)),
      ) ||
      new Set(fields).size !== fields.length
    ) {
      throw collectionErrors.invalid(
        `indexes[${position}].fields must list 1–${MAX_INDEX_FIELDS} distinct top-level field names.`,
      );
    }
    if (index.unique !== undefined && typeof index.unique !== 'boolean') {
      throw collectionErrors.invalid(`indexes[${position}].unique must be true or false.`);
    }
    const extra = Object.keys(index).filter((key) => key !== 'fields' && key !== 'unique');
    if (extra.length)
      throw collectionErrors.invalid(`indexes[${position}] has unknown parts: ${extra.join(', ')}.`);
    const definition = { fields: fields as string[], unique: index.unique === true };
    const key = indexName('x', definition);
    if (seen.has(key)) throw collectionErrors.invalid(`indexes[${position}] repeats an earlier index.`);
    seen.add(key);
    return definition;
  });
}

function parseRules(input: unknown): RuleSources {
  const rules: RuleSources = { read: OWNER_ONLY, create: OWNER_ONLY, update: OWNER_ONLY, delete: OWNER_ONLY };
  if (input === undefined) return rules;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw collectionErrors.invalid('`rules` must be an object of read, create, update, delete.');
  }
  for (const [operation, source] of Object.entries(input)) {
    if (!(operation in rules)) throw collectionErrors.invalid(`Unknown rule \`${operation}\`.`);
    if (typeof source !== 'string' || source.length === 0 || source.length > RULE_MAX_LENGTH) {
      throw collectionErrors.invalid(`rules.${operation} must be a rule of 1–${RULE_MAX_LENGTH} characters.`);
    }
    rules[operation as keyof RuleSources] = source;
  }
  return rules;
}

/** A stable name for an index: the same fields and uniqueness give the same name on every instance. */
export function indexName(collection: string, index: IndexDefinition): string {
  const digest = createHash('sha256')
    .update(`${index.unique ? 'u' : 'n'}:${index.fields.join(',')}`)
    .digest('hex')
    .slice(0, 12);
  return `data_ix_${collection}_${digest}`;
}

/**
 * Indexes every collection has, whatever it declares: the default list order, and the owner's
 * documents in that order (what an owner-only read rule pushed into a query needs).
 */
export const BUILT_IN_INDEXES: IndexDefinition[] = [
  { fields: ['createdAt'], unique: false },
  { fields: ['ownerId', 'createdAt'], unique: false },
];

/** The table of a collection (see field-sql.ts for the layout), and its built-in indexes. */
export function createCollectionSql(dialect: Dialect, collection: string): string[] {
  return [
    createTableSql(dialect, collection),
    ...BUILT_IN_INDEXES.map((index) =>
      // A new table is empty: a plain build is instant and may run where CONCURRENTLY may not.
      createIndexSql(dialect, collection, index).replace(' CONCURRENTLY', ''),
    ),
  ];
}

/** The table of a collection (see field-sql.ts for the layout). */
export function createTableSql(dialect: Dialect, collection: string): string {
  const body = dialect === 'postgres' ? 'JSONB' : 'TEXT';
  return `CREATE TABLE IF NOT EXISTS ${tableName(collection)} (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body ${body} NOT NULL
  )`;
}

/**
 * An expression index over exactly the expressions queries use. On PostgreSQL it is built
 * CONCURRENTLY (run it outside a transaction), so adding one never blocks writes; on SQLite a
 * build holds the write lock for its duration.
 */
export function createIndexSql(dialect: Dialect, collection: string, index: IndexDefinition): string {
  const columns = index.fields.map((field) => {
    const expression = fieldSql(dialect, field);
    return isSystemField(field) ? expression : `(${expression})`;
  });
  const concurrently = dialect === 'postgres' ? ' CONCURRENTLY' : '';
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX${concurrently} IF NOT EXISTS ${indexName(collection, index)} ON ${tableName(collection)} (${columns.join(', ')})`;
}

export function dropIndexSql(dialect: Dialect, collection: string, index: IndexDefinition): string {
  return `DROP INDEX${dialect === 'postgres' ? ' CONCURRENTLY' : ''} IF EXISTS ${indexName(collection, index)}`;
}

/** What changing a collection's indexes from `before` to `after` takes. */
export function diffIndexes(
  collection: string,
  before: IndexDefinition[],
  after: IndexDefinition[],
): { create: IndexDefinition[]; drop: IndexDefinition[] } {
  const names = (list: IndexDefinition[]) => new Set(list.map((index) => indexName(collection, index)));
  const [had, wants] = [names(before), names(after)];
  return {
    create: after.filter((index) => !had.has(indexName(collection, index))),
    drop: before.filter((index) => !wants.has(indexName(collection, index))),
  };
}
