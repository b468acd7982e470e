import type { Migration } from '@tern/store';

/** The registry of collections; each collection's own table is created by its definition (see field-sql.ts). */
export const DATA_MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'create-collection-registry',
    sql: `CREATE TABLE data_collections (
      name TEXT PRIMARY KEY,
      definition TEXT NOT NULL,
      revision INTEGER NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
  },
];
