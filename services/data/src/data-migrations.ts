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
  {
    id: 2,
    name: 'create-change-log',
    // The columns are named as in a collection's table, so a read rule's SQL applies to it as is.
    sql: {
      sqlite: `CREATE TABLE data_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX data_changes_feed ON data_changes (collection, seq);`,
      postgres: `CREATE TABLE data_changes (
        seq BIGSERIAL PRIMARY KEY,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        body JSONB NOT NULL
      );
      CREATE INDEX data_changes_feed ON data_changes (collection, seq);`,
    },
  },
  {
    id: 3,
    name: 'create-change-watermarks',
    // How far each collection's change log has been pruned: older cursors must resync.
    sql: 'CREATE TABLE data_change_watermarks (collection TEXT PRIMARY KEY, pruned_through BIGINT NOT NULL)',
  },
];
