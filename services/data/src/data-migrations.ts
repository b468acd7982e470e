import type { Migration } from '@tern/store';

/** The change log's table, in each dialect's types; the columns are named as in a collection's table. */
const changeLog = (seq: string, json: string) => `CREATE TABLE data_changes (
  seq ${seq},
  collection TEXT NOT NULL,
  op TEXT NOT NULL,
  id TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  body ${json} NOT NULL
);
CREATE INDEX data_changes_feed ON data_changes (collection, seq);`;

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
      sqlite: changeLog('INTEGER PRIMARY KEY AUTOINCREMENT', 'TEXT'),
      postgres: changeLog('BIGSERIAL PRIMARY KEY', 'JSONB'),
    },
  },
  {
    id: 3,
    name: 'create-change-watermarks',
    // How far each collection's change log has been pruned: older cursors must resync.
    sql: 'CREATE TABLE data_change_watermarks (collection TEXT PRIMARY KEY, pruned_through BIGINT NOT NULL)',
  },
  {
    id: 4,
    name: 'add-collection-incarnation',
    // Tells a collection from one created later under the same name; part of its cache keys.
    sql: "ALTER TABLE data_collections ADD COLUMN incarnation TEXT NOT NULL DEFAULT ''",
  },
  {
    id: 5,
    name: 'change-log-positions',
    // A change's feed position is given after its transaction committed (see change-log.ts); the
    // changes logged so far were appended under the old per-collection lock, so seq is their position.
    sql: `ALTER TABLE data_changes ADD COLUMN pos BIGINT;
    UPDATE data_changes SET pos = seq;
    DROP INDEX data_changes_feed;
    CREATE UNIQUE INDEX data_changes_position ON data_changes (collection, pos);
    CREATE INDEX data_changes_unpositioned ON data_changes (collection, seq) WHERE pos IS NULL;`,
  },
];
