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
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Bring an opened database to SCHEMA_VERSION. */
export function migrate(db: Database, file: string): void {
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
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.exec('BEGIN')
    db.exec(MIGRATIONS[v]!)
    db.exec(`PRAGMA user_version = ${v + 1}`)
    db.exec('COMMIT')
  }
}

function hasTables(db: Database): boolean {
  return Number(db.exec("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0]?.values[0]?.[0] ?? 0) > 0
}
