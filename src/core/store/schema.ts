import type {Database} from 'sql.js'
import {CorruptStoreError} from '../errors.js'

/**
 * Ordered migrations; migration i takes user_version i to i+1. Append only:
 * a released step is never edited, so every file reaches the same schema.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE snapshots (
     id        INTEGER PRIMARY KEY AUTOINCREMENT,
     key       TEXT NOT NULL UNIQUE,
     kind      TEXT NOT NULL CHECK (kind IN ('View', 'Active', 'Committed')),
     parent_id INTEGER REFERENCES snapshots(id),
     created   TEXT NOT NULL,
     updated   TEXT NOT NULL,
     size      INTEGER NOT NULL DEFAULT 0,
     inodes    INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX snapshots_parent ON snapshots(parent_id);
   CREATE TABLE labels (
     snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
     key         TEXT NOT NULL,
     value       TEXT NOT NULL,
     PRIMARY KEY (snapshot_id, key)
   ) WITHOUT ROWID;`,
  // Mounts ctrsnap performed: the live state is always checked against /proc/self/mountinfo.
  `CREATE TABLE mounts (
     target      TEXT PRIMARY KEY,
     snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
     created     TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX mounts_snapshot ON mounts(snapshot_id);`,
  // Namespaces: a key is unique within its namespace; earlier snapshots are in `default`.
  // SQLite cannot change a UNIQUE constraint in place: rebuild the table, keeping every
  // id (directories are named by id, and labels and mounts point at it) and AUTOINCREMENT's
  // high-water mark (an id once used, even by a removed snapshot, is never given again).
  `CREATE TABLE snapshots_ns (
     id        INTEGER PRIMARY KEY AUTOINCREMENT,
     namespace TEXT NOT NULL,
     key       TEXT NOT NULL,
     kind      TEXT NOT NULL CHECK (kind IN ('View', 'Active', 'Committed')),
     parent_id INTEGER REFERENCES snapshots(id),
     created   TEXT NOT NULL,
     updated   TEXT NOT NULL,
     size      INTEGER NOT NULL DEFAULT 0,
     inodes    INTEGER NOT NULL DEFAULT 0,
     UNIQUE (namespace, key)
   );
   INSERT INTO snapshots_ns (id, namespace, key, kind, parent_id, created, updated, size, inodes)
     SELECT id, 'default', key, kind, parent_id, created, updated, size, inodes FROM snapshots;
   DELETE FROM sqlite_sequence WHERE name = 'snapshots_ns';
   INSERT INTO sqlite_sequence (name, seq) SELECT 'snapshots_ns', seq FROM sqlite_sequence WHERE name = 'snapshots';
   DROP TABLE snapshots;
   ALTER TABLE snapshots_ns RENAME TO snapshots;
   CREATE INDEX snapshots_parent ON snapshots(parent_id);`,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Bring an opened database to SCHEMA_VERSION; returns true when it changed anything. */
export function migrate(db: Database, file: string): boolean {
  let version: number
  try {
    version = Number(db.exec('PRAGMA user_version')[0]?.values[0]?.[0] ?? 0)
    db.exec('PRAGMA foreign_keys = ON')
  } catch (err) {
    throw new CorruptStoreError(`${file}: not a ctrsnap metadata database (${(err as Error).message})`, {cause: err})
  }
  if (version > SCHEMA_VERSION) {
    throw new CorruptStoreError(`${file}: schema version ${version} is newer than this ctrsnap understands (${SCHEMA_VERSION}); upgrade ctrsnap`)
  }
  if (version === 0 && hasTables(db)) {
    throw new CorruptStoreError(`${file}: not a ctrsnap metadata database (it has tables but no schema version)`)
  }
  if (version === SCHEMA_VERSION) return false
  // Off while migrating (it cannot change inside a transaction): a table rebuild drops a
  // table others reference. Each step is checked before it commits instead.
  db.exec('PRAGMA foreign_keys = OFF')
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.exec('BEGIN')
    db.exec(MIGRATIONS[v]!)
    if (db.exec('PRAGMA foreign_key_check').length > 0) {
      db.exec('ROLLBACK')
      throw new CorruptStoreError(`${file}: references between snapshots, labels and mounts are broken (found while upgrading the schema to version ${v + 1})`)
    }
    db.exec(`PRAGMA user_version = ${v + 1}`)
    db.exec('COMMIT')
  }
  db.exec('PRAGMA foreign_keys = ON')
  // A rebuilt table leaves free pages: without them the file stays as small as before
  // (metadata.db is written whole, next to its old copy, on every change).
  db.exec('VACUUM')
  return true
}

function hasTables(db: Database): boolean {
  return Number(db.exec("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0]?.values[0]?.[0] ?? 0) > 0
}
