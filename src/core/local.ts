import fs from 'node:fs'
import path from 'node:path'
import type {Driver} from './drivers/driver.js'
import {makeTempDir, REMOVING_PREFIX, snapshotDir, snapshotsDir} from './drivers/layout.js'
import {AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError} from './errors.js'
import {validateKey, validateLabels} from './labels.js'
import type {Db} from './store/metastore.js'
import {Metastore} from './store/metastore.js'
import * as q from './store/snapshots.js'
import {rfc3339Nano} from './time.js'
import type {CreateOptions, Info, Kind, Mount, Snapshotter, Usage} from './snapshotter.js'
import {diskUsage} from './usage.js'

function mustGet(db: Db, key: string): q.SnapshotRecord {
  const rec = q.getRecord(db, key)
  if (!rec) throw new NotFoundError(`snapshot "${key}" does not exist`)
  return rec
}

const article = (kind: Kind): string => (kind === 'Active' ? 'an active snapshot' : kind === 'View' ? 'a view' : 'committed')

/**
 * The one snapshotter: metadata in a per-root sql.js store, disk layout by a
 * driver (overlay or native). Crash order as containerd's: a new snapshot's
 * directory is built under a temp name and renamed into place before its
 * record is persisted; a removed snapshot's record goes before its directory.
 * A kill at any point leaves at worst a directory no record points to.
 */
export class LocalSnapshotter implements Snapshotter {
  readonly store: Metastore

  constructor(readonly driver: Driver, readonly root: string) {
    this.store = new Metastore(root)
  }

  get name() {
    return this.driver.name
  }

  async stat(key: string): Promise<Info> {
    const db = await this.store.read()
    const rec = mustGet(db, key)
    return q.toInfo(rec, q.getLabels(db, rec.id))
  }

  async walk(): Promise<Info[]> {
    return q.walkInfos(await this.store.read())
  }

  async usage(key: string): Promise<Usage> {
    const db = await this.store.read()
    const rec = mustGet(db, key)
    // Committed layers are measured once, at commit; a view owns nothing.
    if (rec.kind === 'Active') return diskUsage(this.driver.layerPath(rec.id))
    return {size: rec.size, inodes: rec.inodes}
  }

  async mounts(key: string): Promise<Mount[]> {
    const db = await this.store.read()
    const rec = mustGet(db, key)
    if (rec.kind === 'Committed') {
      throw new FailedPreconditionError(`snapshot "${key}" is committed: only active snapshots and views have mounts`)
    }
    return this.driver.mounts({id: rec.id, kind: rec.kind, parentIds: q.parentIds(db, rec)})
  }

  prepare(key: string, parent: string, opts: CreateOptions = {}): Promise<Mount[]> {
    return this.create('Active', key, parent, opts)
  }

  view(key: string, parent: string, opts: CreateOptions = {}): Promise<Mount[]> {
    return this.create('View', key, parent, opts)
  }

  private async create(kind: Kind, key: string, parent: string, opts: CreateOptions): Promise<Mount[]> {
    validateKey(key)
    if (parent !== '') validateKey(parent, 'parent')
    const labels = opts.labels ?? {}
    validateLabels(labels)
    return this.store.write(async tx => {
      const db = tx.db
      if (q.getRecord(db, key)) throw new AlreadyExistsError(`snapshot "${key}": already exists`)
      let parentId: number | null = null
      if (parent !== '') {
        const p = q.getRecord(db, parent)
        if (!p) throw new NotFoundError(`parent snapshot "${parent}" does not exist`)
        if (p.kind !== 'Committed') throw new InvalidArgumentError(`parent "${parent}" is ${article(p.kind)}, not a committed snapshot`)
        parentId = p.id
      }
      const id = q.insertSnapshot(db, key, kind, parentId, rfc3339Nano(), labels)
      const rec = mustGet(db, key)
      const ref = {id, kind, parentIds: q.parentIds(db, rec)}
      if (this.driver.needsDir(ref)) {
        const dir = await this.materialise(ref)
        try {
          tx.commit()
        } catch (err) {
          fs.rmSync(dir, {recursive: true, force: true})
          throw err
        }
      }
      return this.driver.mounts(ref)
    })
  }

  /** Build the snapshot's directory under a temp name, then rename it into place. */
  private async materialise(ref: {id: number; kind: Kind; parentIds: number[]}): Promise<string> {
    const tmp = makeTempDir(this.root)
    const dir = snapshotDir(this.root, ref.id)
    try {
      await this.driver.populate(tmp, ref)
      // Nothing has this id: a directory by that name is an orphan of a writer killed before it persisted.
      fs.rmSync(dir, {recursive: true, force: true})
      fs.renameSync(tmp, dir)
    } catch (err) {
      fs.rmSync(tmp, {recursive: true, force: true})
      throw err
    }
    return dir
  }

  async commit(name: string, key: string, opts: CreateOptions = {}): Promise<void> {
    validateKey(name, 'name')
    const labels = opts.labels ?? {}
    validateLabels(labels)
    await this.store.write(async tx => {
      const db = tx.db
      const rec = mustGet(db, key)
      if (q.getRecord(db, name)) throw new AlreadyExistsError(`snapshot "${name}": already exists`)
      if (rec.kind !== 'Active') {
        throw new FailedPreconditionError(`snapshot "${key}" is ${article(rec.kind)}, not active: only active snapshots can be committed`)
      }
      const u = diskUsage(this.driver.layerPath(rec.id))
      q.commitRecord(db, rec.id, name, rfc3339Nano(), u.size, u.inodes, labels)
    })
  }

  async remove(key: string): Promise<void> {
    const doomed = await this.store.write(async tx => {
      const db = tx.db
      const rec = mustGet(db, key)
      const n = q.countChildren(db, rec.id)
      if (n > 0) {
        const shown = q.childKeys(db, rec.id)
        throw new FailedPreconditionError(
          `cannot remove snapshot "${key}": it has ${n === 1 ? 'a child' : `${n} children`} (${shown.join(', ')}${n > shown.length ? ', ...' : ''})`,
        )
      }
      q.deleteSnapshot(db, rec.id)
      tx.commit()
      // Rename under the lock so cleanup sees it as in flight, not as an orphan to race over.
      const dir = snapshotDir(this.root, rec.id)
      const gone = path.join(snapshotsDir(this.root), `${REMOVING_PREFIX}${rec.id}`)
      try {
        fs.renameSync(dir, gone)
        return gone
      } catch {
        return undefined // no directory (native view), or already gone
      }
    })
    // The record is gone; a failure here leaves an orphan directory for cleanup, never a dangling record.
    if (doomed) fs.rmSync(doomed, {recursive: true, force: true})
  }

  /**
   * Where a snapshot's layers are on disk, for code that reads or writes them
   * directly (unpack, diff): its own directory (null for a native view, which
   * has none) and its parents' layer directories, nearest first. On overlay
   * these are `fs` (upper) directories; on native, full trees.
   */
  async layerPaths(key: string): Promise<{kind: Kind; own: string | null; parents: string[]}> {
    const db = await this.store.read()
    const rec = mustGet(db, key)
    const parents = q.parentIds(db, rec)
    const own = this.driver.needsDir({kind: rec.kind, parentIds: parents}) ? this.driver.layerPath(rec.id) : null
    return {kind: rec.kind, own, parents: parents.map(id => this.driver.layerPath(id))}
  }

  async updateLabels(key: string, changes: Record<string, string | null>): Promise<Info> {
    return this.store.write(tx => {
      const rec = mustGet(tx.db, key)
      q.updateLabels(tx.db, rec.id, changes, rfc3339Nano())
      tx.commit()
      return q.toInfo(mustGet(tx.db, key), q.getLabels(tx.db, rec.id))
    })
  }
}
