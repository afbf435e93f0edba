import type {Info, Kind, Labels} from '../snapshotter.js'
import type {Db} from './metastore.js'

/** One snapshot row with what drivers need: its id and its chain of parent ids. */
export interface SnapshotRecord {
  id: number
  namespace: string
  key: string
  kind: Kind
  parentId: number | null
  parent: string
  created: string
  updated: string
  size: number
  inodes: number
}

const SELECT = `SELECT s.id, s.namespace, s.key, s.kind, s.parent_id AS parentId, coalesce(p.key, '') AS parent,
                       s.created, s.updated, s.size, s.inodes
                  FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`

// Every query by key is within one namespace (`ns`); by id, it needs none: ids are
// unique in the whole store, and a parent is always in its child's namespace.

export function getRecord(db: Db, ns: string, key: string): SnapshotRecord | undefined {
  return db.get<SnapshotRecord>(`${SELECT} WHERE s.namespace = ? AND s.key = ?`, [ns, key])
}

/** Every record of the namespace in bytewise key order; with no `ns`, of every namespace (cleanup's view), by namespace then key. */
export function allRecords(db: Db, ns?: string): SnapshotRecord[] {
  if (ns === undefined) return db.all<SnapshotRecord>(`${SELECT} ORDER BY s.namespace, s.key`)
  return db.all<SnapshotRecord>(`${SELECT} WHERE s.namespace = ? ORDER BY s.key`, [ns])
}

/** The namespaces that have snapshots, in bytewise order. */
export function namespaces(db: Db): string[] {
  return db.values('SELECT DISTINCT namespace FROM snapshots ORDER BY namespace').map(r => r[0] as string)
}

export function getLabels(db: Db, id: number): Labels {
  const labels: Labels = {}
  for (const [k, v] of db.values('SELECT key, value FROM labels WHERE snapshot_id = ? ORDER BY key', [id])) labels[k as string] = v as string
  return labels
}

export function toInfo(rec: SnapshotRecord, labels: Labels): Info {
  return {kind: rec.kind, name: rec.key, parent: rec.parent, labels, created: rec.created, updated: rec.updated}
}

/** Ids of the parent chain, nearest first (overlay's lowerdir order). */
export function parentIds(db: Db, rec: SnapshotRecord): number[] {
  if (rec.parentId === null) return []
  return db.values(
    `WITH RECURSIVE chain(id, parent_id, depth) AS (
       SELECT id, parent_id, 0 FROM snapshots WHERE id = ?
       UNION ALL
       SELECT s.id, s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent_id
     ) SELECT id FROM chain ORDER BY depth`,
    [rec.parentId],
  ).map(r => r[0] as number)
}

export function childKeys(db: Db, id: number, limit = 3): string[] {
  return db.values('SELECT key FROM snapshots WHERE parent_id = ? ORDER BY key LIMIT ?', [id, limit]).map(r => r[0] as string)
}

export function countChildren(db: Db, id: number): number {
  return Number(db.values('SELECT count(*) FROM snapshots WHERE parent_id = ?', [id])[0]![0])
}

/** Every snapshot of the namespace with its labels, in bytewise key order (SQLite's BINARY collation is memcmp on UTF-8). */
export function walkInfos(db: Db, ns: string): Info[] {
  const labels = new Map<number, Labels>()
  for (const [id, k, v] of db.values('SELECT l.snapshot_id, l.key, l.value FROM labels l JOIN snapshots s ON s.id = l.snapshot_id WHERE s.namespace = ? ORDER BY l.snapshot_id, l.key', [ns])) {
    let l = labels.get(id as number)
    if (!l) labels.set(id as number, (l = {}))
    l[k as string] = v as string
  }
  return db.values(
    `SELECT s.id, s.key, s.kind, coalesce(p.key, ''), s.created, s.updated
       FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id WHERE s.namespace = ? ORDER BY s.key`,
    [ns],
  ).map(([id, key, kind, parent, created, updated]) => ({
    kind: kind as Kind,
    name: key as string,
    parent: parent as string,
    labels: labels.get(id as number) ?? {},
    created: created as string,
    updated: updated as string,
  }))
}

export function insertSnapshot(db: Db, ns: string, key: string, kind: Kind, parentId: number | null, now: string, labels: Labels): number {
  db.run('INSERT INTO snapshots (namespace, key, kind, parent_id, created, updated) VALUES (?, ?, ?, ?, ?, ?)', [ns, key, kind, parentId, now, now])
  const id = db.lastInsertId()
  setLabels(db, id, labels)
  return id
}

function setLabels(db: Db, id: number, labels: Labels): void {
  for (const [k, v] of Object.entries(labels)) {
    db.run('INSERT OR REPLACE INTO labels (snapshot_id, key, value) VALUES (?, ?, ?)', [id, k, v])
  }
}

/** Active → committed under a new name: same id and parent, fresh times, only the given labels. */
export function commitRecord(db: Db, id: number, name: string, now: string, size: number, inodes: number, labels: Labels): void {
  db.run(`UPDATE snapshots SET key = ?, kind = 'Committed', created = ?, updated = ?, size = ?, inodes = ? WHERE id = ?`, [name, now, now, size, inodes, id])
  db.run('DELETE FROM labels WHERE snapshot_id = ?', [id])
  setLabels(db, id, labels)
}

export function updateLabels(db: Db, id: number, changes: Record<string, string | null>, now: string): void {
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) db.run('DELETE FROM labels WHERE snapshot_id = ? AND key = ?', [id, k])
    else db.run('INSERT OR REPLACE INTO labels (snapshot_id, key, value) VALUES (?, ?, ?)', [id, k, v])
  }
  db.run('UPDATE snapshots SET updated = ? WHERE id = ?', [now, id])
}

export function deleteSnapshot(db: Db, id: number): void {
  db.run('DELETE FROM labels WHERE snapshot_id = ?', [id])
  db.run('DELETE FROM mounts WHERE snapshot_id = ?', [id])
  db.run('DELETE FROM snapshots WHERE id = ?', [id])
}

/** Ids that have a record, in any namespace: everything else under snapshots/ is an orphan. */
export function allIds(db: Db): Set<number> {
  return new Set(db.values('SELECT id FROM snapshots').map(r => r[0] as number))
}

export interface MountRecord {
  target: string
  key: string
  snapshotId: number
  created: string
}

const SELECT_MOUNT = 'SELECT m.target, s.key, m.snapshot_id AS snapshotId, m.created FROM mounts m JOIN snapshots s ON s.id = m.snapshot_id'

/** Mount records of one namespace, or with no `ns` of all (cleanup judges every record of the store). */
export function mountRecords(db: Db, ns?: string): MountRecord[] {
  if (ns === undefined) return db.all<MountRecord>(`${SELECT_MOUNT} ORDER BY m.target`)
  return db.all<MountRecord>(`${SELECT_MOUNT} WHERE s.namespace = ? ORDER BY m.target`, [ns])
}

export function mountRecord(db: Db, ns: string, target: string): MountRecord | undefined {
  return db.get<MountRecord>(`${SELECT_MOUNT} WHERE m.target = ? AND s.namespace = ?`, [target, ns])
}

export function mountsOfSnapshots(db: Db, ids: readonly number[]): MountRecord[] {
  if (ids.length === 0) return []
  return db.all<MountRecord>(`${SELECT_MOUNT} WHERE m.snapshot_id IN (${ids.map(() => '?').join(',')}) ORDER BY m.target`, [...ids])
}

export function insertMount(db: Db, target: string, id: number, now: string): void {
  db.run('INSERT OR REPLACE INTO mounts (target, snapshot_id, created) VALUES (?, ?, ?)', [target, id, now])
}

export function deleteMount(db: Db, target: string): void {
  db.run('DELETE FROM mounts WHERE target = ?', [target])
}

/** The snapshot and every descendant, deepest first, so they can be removed children first. */
export function descendants(db: Db, id: number): {id: number; key: string}[] {
  return db.values(
    `WITH RECURSIVE sub(id, key, depth) AS (
       SELECT id, key, 0 FROM snapshots WHERE id = ?
       UNION ALL
       SELECT s.id, s.key, sub.depth + 1 FROM snapshots s JOIN sub ON s.parent_id = sub.id
     ) SELECT id, key FROM sub ORDER BY depth DESC, key`,
    [id],
  ).map(([i, k]) => ({id: i as number, key: k as string}))
}
