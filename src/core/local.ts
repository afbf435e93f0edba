import fs from 'node:fs'
import path from 'node:path'
import type {Driver, SnapshotRef} from './drivers/driver.js'
import {snapshotsDir} from './drivers/layout.js'
import {makeDirs} from './dirs.js'
import {AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError} from './errors.js'
import {validateKey, validateLabel, validateLabels} from './labels.js'
import {DEFAULT_NAMESPACE} from './namespaces.js'
import type {Db, WriteTx} from './store/metastore.js'
import {Metastore} from './store/metastore.js'
import * as q from './store/snapshots.js'
import {rfc3339Nano} from './time.js'
import {SNAPSHOTTERS, type CommitOptions, type CreateOptions, type Info, type Kind, type LayerStore, type Mount, type Mounter, type Snapshotter, type Usage} from './snapshotter.js'
import {planCleanup, planExtracts, type CleanupPlan} from './cleanup.js'
import {checkMountable, isWithin, liveMountPoints, mountAll, mountsInside, readMountinfo, resolveExisting, unmount} from './mount.js'
import {MountInTheWayError} from './fs/remove.js'
import {checkInterrupt} from './interrupt.js'

function mustGet(db: Db, ns: string, key: string): q.SnapshotRecord {
  const rec = q.getRecord(db, ns, key)
  if (!rec) throw new NotFoundError(`snapshot "${key}" does not exist`, true)
  return rec
}

const article = (kind: Kind): string => (kind === 'Active' ? 'an active snapshot' : kind === 'View' ? 'a view' : 'committed')

/**
 * The one snapshotter: metadata in a per-root sql.js store, disk layout by a
 * driver (src/core/drivers/). Crash order as containerd's: a new snapshot's
 * directory is built under a temp name and renamed into place before its
 * record is persisted; a removed snapshot's record goes before its directory.
 * A kill at any point leaves at worst a directory no record points to.
 * Store and driver stay private: callers go through the three interfaces.
 */
export class LocalSnapshotter implements Snapshotter, Mounter, LayerStore {
  private readonly store: Metastore

  /** Every key is looked up in `namespace`; ids, directories and mounts are the store's, shared by all. */
  constructor(private readonly driver: Driver, readonly root: string, readonly namespace: string = DEFAULT_NAMESPACE) {
    this.store = new Metastore(root)
  }

  get layerFormat() {
    return this.driver.layerFormat
  }

  /** The driver's view of a record. */
  private ref(db: Db, rec: q.SnapshotRecord): SnapshotRef {
    return {id: rec.id, kind: rec.kind, parentIds: q.parentIds(db, rec)}
  }

  get name() {
    return this.driver.name
  }

  async stat(key: string): Promise<Info> {
    const db = await this.store.read()
    const rec = mustGet(db, this.namespace, key)
    return q.toInfo(rec, q.getLabels(db, rec.id))
  }

  async walk(): Promise<Info[]> {
    return q.walkInfos(await this.store.read(), this.namespace)
  }

  /** The namespaces of this store that have snapshots (a namespace exists while it has any). */
  async namespaces(): Promise<string[]> {
    return q.namespaces(await this.store.read())
  }

  async usage(key: string): Promise<Usage> {
    const db = await this.store.read()
    return this.usageOf(db, mustGet(db, this.namespace, key))
  }

  /** Usage of many snapshots (default: all, in key order) from one read of the store. */
  async usages(keys?: readonly string[]): Promise<[string, Usage][]> {
    const db = await this.store.read()
    const recs = keys === undefined ? q.allRecords(db, this.namespace) : keys.map(k => mustGet(db, this.namespace, k))
    return recs.map(rec => [rec.key, this.usageOf(db, rec)])
  }

  private usageOf(db: Db, rec: q.SnapshotRecord): Usage {
    // Committed layers are measured once, at commit; a view owns nothing.
    if (rec.kind === 'Active') return this.driver.usage(this.ref(db, rec))
    return {size: rec.size, inodes: rec.inodes}
  }

  async mounts(key: string): Promise<Mount[]> {
    const db = await this.store.read()
    const rec = mustGet(db, this.namespace, key)
    if (rec.kind === 'Committed') {
      throw new FailedPreconditionError(`snapshot "${key}" is committed: only active snapshots and views have mounts`)
    }
    return this.driver.mounts(this.ref(db, rec))
  }

  prepare(key: string, parent: string, opts: CreateOptions = {}): Promise<Mount[]> {
    return this.createAndMount('Active', key, parent, opts)
  }

  view(key: string, parent: string, opts: CreateOptions = {}): Promise<Mount[]> {
    return this.createAndMount('View', key, parent, opts)
  }

  private async createAndMount(kind: Kind, key: string, parent: string, opts: CreateOptions): Promise<Mount[]> {
    // A target mount() would refuse is refused before anything is created.
    if (opts.mountAt !== undefined) this.assertTargetOutsideStore(opts.mountAt)
    const mounts = await this.create(kind, key, parent, opts)
    if (opts.mountAt === undefined) return mounts
    try {
      await this.mount(key, opts.mountAt)
    } catch (err) {
      // The command failed: take back the snapshot it made.
      await this.remove(key).catch(() => {})
      throw err
    }
    return mounts
  }

  private async create(kind: Kind, key: string, parent: string, opts: CreateOptions): Promise<Mount[]> {
    validateKey(key)
    if (parent !== '') validateKey(parent, 'parent')
    const labels = opts.labels ?? {}
    validateLabels(labels)
    return this.store.write(async tx => {
      const db = tx.db
      if (q.getRecord(db, this.namespace, key)) throw new AlreadyExistsError(`snapshot "${key}": already exists`)
      let parentId: number | null = null
      if (parent !== '') {
        const p = q.getRecord(db, this.namespace, parent)
        if (!p) throw new NotFoundError(`parent snapshot "${parent}" does not exist`, true)
        if (p.kind !== 'Committed') throw new InvalidArgumentError(`parent "${parent}" is ${article(p.kind)}, not a committed snapshot`)
        parentId = p.id
      }
      q.insertSnapshot(db, this.namespace, key, kind, parentId, rfc3339Nano(), labels)
      const ref = this.ref(db, mustGet(db, this.namespace, key))
      if (this.driver.needsDir(ref)) {
        const dir = await this.materialise(ref, tx)
        try {
          // The last point a signal can stop a long copy and take it back.
          checkInterrupt()
          tx.commit()
        } catch (err) {
          await this.driver.removeDir(dir)
          throw err
        }
        tx.onRollback?.(() => this.driver.removeDir(dir))
      }
      return this.driver.mounts(ref)
    }, {create: true})
  }

  /** Build the snapshot's directory under a temp name, then rename it into place. */
  private async materialise(ref: SnapshotRef, tx: WriteTx): Promise<string> {
    const tmp = this.driver.tempPath(ref.kind)
    const dir = this.driver.dirOf(ref)
    try {
      await this.driver.build(tmp, ref)
      // Nothing has this id: a directory by that name is an orphan of a writer killed before it persisted,
      // unless this process stalled and lost the lock to a writer that has since recorded the id. Check first.
      if (fs.existsSync(dir)) {
        tx.assertHeld()
        await this.driver.removeDir(dir)
      }
      fs.renameSync(tmp, dir)
    } catch (err) {
      await this.driver.removeDir(tmp)
      throw err
    }
    return dir
  }

  /**
   * Commit the active snapshot `key` as `name`. With `expectParent`, refused
   * unless `key` sits on that parent (unpack's check that a layer goes on the
   * layer below it). The driver makes the committed directory before the
   * record says Committed; an active directory it leaves behind is deleted
   * after (killed in between, cleanup deletes it).
   */
  async commit(name: string, key: string, opts: CommitOptions = {}): Promise<void> {
    validateKey(name, 'name')
    const labels = opts.labels ?? {}
    validateLabels(labels)
    // Measure before taking the lock: a synchronous walk of a big layer would
    // starve the lock's refresh timer and let another writer take it over.
    const db0 = await this.store.read()
    const pre = mustGet(db0, this.namespace, key)
    const u = pre.kind === 'Active' ? this.driver.usage(this.ref(db0, pre)) : undefined
    const moved = await this.store.write(async tx => {
      const db = tx.db
      const rec = mustGet(db, this.namespace, key)
      if (q.getRecord(db, this.namespace, name)) throw new AlreadyExistsError(`snapshot "${name}": already exists`)
      if (rec.kind !== 'Active') {
        throw new FailedPreconditionError(`snapshot "${key}" is ${article(rec.kind)}, not active: only active snapshots can be committed`)
      }
      if (opts.expectParent !== undefined && rec.parent !== opts.expectParent) {
        throw new FailedPreconditionError(`snapshot "${key}" has parent "${rec.parent}", not "${opts.expectParent}"`)
      }
      // A committed layer must not change: not while a mount of ours can still write to it.
      this.assertNotMounted(db, [rec.id], 'commit')
      // Removed and prepared again between the measurement and the lock: measure the new one.
      const usage = u !== undefined && rec.id === pre.id ? u : this.driver.usage(this.ref(db, rec))
      const active = this.driver.dirOf({id: rec.id, kind: 'Active'})
      const committed = this.driver.dirOf({id: rec.id, kind: 'Committed'})
      await this.driver.commitDir(rec.id)
      q.commitRecord(db, rec.id, name, rfc3339Nano(), usage.size, usage.inodes, labels)
      try {
        tx.commit()
      } catch (err) {
        if (committed !== active) await this.driver.removeDir(committed)
        throw err
      }
      if (committed === active) return undefined
      // In an atomic batch the record changes when the batch commits: a rollback takes the new
      // directory back, and the active one goes only once the commit is durable.
      tx.onRollback?.(() => this.driver.removeDir(committed))
      if (tx.afterCommit) {
        tx.afterCommit(() => this.driver.removeDir(active))
        return undefined
      }
      return active
    })
    if (moved !== undefined) await this.driver.removeDir(moved)
  }

  /**
   * Remove a snapshot; with `recursive`, it and every descendant in one
   * transaction. Refused, removing nothing, while any of them has children
   * left, is mounted by ctrsnap, or has anything mounted inside its directory.
   */
  async remove(key: string, opts: {recursive?: boolean} = {}): Promise<string[]> {
    let removed: string[] = []
    const doomed = await this.store.write(async tx => {
      const rec = mustGet(tx.db, this.namespace, key)
      const subtree = opts.recursive ? q.descendants(tx.db, rec.id) : [{id: rec.id, key, kind: rec.kind}]
      if (!opts.recursive) this.assertNoChildren(tx.db, key, rec.id)
      this.assertNotMounted(tx.db, subtree.map(s => s.id), 'remove')
      this.assertNothingMountedInside(subtree)
      removed = subtree.map(s => s.key)
      return this.removeLocked(tx, subtree)
    })
    await this.deleteDirs(doomed)
    return removed
  }

  private assertNoChildren(db: Db, key: string, id: number): void {
    const n = q.countChildren(db, id)
    if (n > 0) {
      const shown = q.childKeys(db, id)
      throw new FailedPreconditionError(
        `cannot remove snapshot "${key}": it has ${n === 1 ? 'a child' : `${n} children`} (${shown.join(', ')}${n > shown.length ? ', ...' : ''}); use --recursive to remove them too`,
      )
    }
  }

  /**
   * Refuse to `verb` a snapshot ctrsnap has mounted (a live mount with a
   * record; `except` is one being undone), naming the target and the way out:
   * freeing a directory under a live mount is undefined behaviour, and a
   * committed layer that a mount can still write to is not immutable.
   * Mounts made by hand are containerd's business, as in containerd.
   */
  assertNotMounted(db: Db, ids: readonly number[], verb: 'remove' | 'commit', except?: string): void {
    const live = liveMountPoints()
    const mounted = q.mountsOfSnapshots(db, ids).filter(m => m.target !== except && live.has(m.target))
    if (mounted.length > 0) {
      const m = mounted[0]!
      throw new FailedPreconditionError(`cannot ${verb} snapshot "${m.key}": it is mounted at ${m.target} (run: ctrsnap unmount ${m.target})`)
    }
  }

  /** Refuse, before any record goes, to remove a snapshot whose directory has something mounted inside it (any mount, ours or not). */
  private assertNothingMountedInside(snaps: readonly {id: number; key: string; kind: Kind}[]): void {
    const entries = readMountinfo()
    for (const s of snaps) {
      const mp = mountsInside(this.driver.dirOf(s), entries)[0]
      if (mp !== undefined) throw new FailedPreconditionError(`cannot remove snapshot "${s.key}": ${mp} is mounted inside its directory (run: umount ${mp})`)
    }
  }

  /**
   * Delete the directories of removed snapshots (their records are gone,
   * crash order). Should a mount have appeared inside one since the check,
   * removeTree stops at it: the directory stays, an orphan for cleanup, which
   * leaves it alone for as long as the mount lives.
   */
  private async deleteDirs(doomed: readonly string[]): Promise<void> {
    let failed: unknown
    for (const dir of doomed) {
      try {
        await this.driver.removeDir(dir)
      } catch (err) {
        failed ??= err
      }
    }
    if (failed instanceof MountInTheWayError) {
      throw new FailedPreconditionError(`the snapshot is removed, but its directory ${failed.dir} is left: ${failed.reason}; unmount it, then run ctrsnap cleanup (which leaves it alone while the mount lives)`)
    }
    if (failed !== undefined) throw failed
  }

  /**
   * A mount target must neither be inside a store of this root nor hide one
   * (the store itself, the root, or any ancestor such as /): the snapshot
   * would be mounted over ctrsnap's own data.
   */
  private assertTargetOutsideStore(target: string): void {
    const t = resolveExisting(target)
    for (const name of SNAPSHOTTERS) {
      const store = resolveExisting(path.join(path.dirname(this.root), name))
      if (isWithin(t, store)) throw new InvalidArgumentError(`cannot mount at ${target}: it is inside ctrsnap's store ${store}`)
      if (isWithin(store, t)) throw new InvalidArgumentError(`cannot mount at ${target}: it would hide ctrsnap's store ${store}`)
    }
  }

  /** Delete the records (children first), persist, then move the directories aside; returns them for deletion. */
  private removeLocked(tx: WriteTx, snaps: readonly {id: number; kind: Kind}[]): string[] {
    for (const s of snaps) q.deleteSnapshot(tx.db, s.id)
    tx.commit()
    // In an atomic batch the records go when the batch commits: the directories too, then.
    if (tx.afterCommit) {
      tx.afterCommit(() => this.deleteDirs(this.moveAside(snaps)))
      return []
    }
    return this.moveAside(snaps)
  }

  private moveAside(snaps: readonly {id: number; kind: Kind}[]): string[] {
    const doomed: string[] = []
    for (const s of snaps) {
      // Renamed under the lock so cleanup sees it as in flight, not as an orphan to race over.
      const gone = this.driver.removingPath(s)
      try {
        fs.renameSync(this.driver.dirOf(s), gone)
        doomed.push(gone)
      } catch {
        // no directory (a native view), or already gone
      }
    }
    return doomed
  }

  /**
   * Mount an active snapshot or view at `target` (created if missing) and
   * record it. Overlay paths are made relative to snapshots/ so chains up to
   * the kernel's 500 layers fit in mount(2)'s one page of options.
   */
  async mount(key: string, target: string): Promise<Mount[]> {
    this.assertTargetOutsideStore(target)
    const mounts = await this.mounts(key)
    const base = snapshotsDir(this.root)
    const runnable = checkMountable(key, mounts, base)
    makeDirs(target)
    const real = fs.realpathSync(target)
    if (liveMountPoints().has(real)) throw new FailedPreconditionError(`${target} is already a mount point; unmount it first`)
    await mountAll(runnable, real, base)
    try {
      await this.store.write(tx => {
        q.insertMount(tx.db, real, mustGet(tx.db, this.namespace, key).id, rfc3339Nano())
        tx.onRollback?.(() => unmount(real))
      })
    } catch (err) {
      await unmount(real).catch(() => {})
      throw err
    }
    return mounts
  }

  /** Undo a mount ctrsnap made; with `remove`, also remove its snapshot (checked before anything is undone). */
  async unmount(target: string, opts: {remove?: boolean} = {}): Promise<{target: string; key: string; wasMounted: boolean; removed: boolean}> {
    let real: string
    try {
      real = fs.realpathSync(target)
    } catch {
      real = path.resolve(target)
    }
    const doomed: string[] = []
    const result = await this.store.write(async tx => {
      const rec = q.mountRecord(tx.db, this.namespace, real)
      if (!rec) throw new NotFoundError(`no snapshot mounted by ctrsnap at ${target}`, true)
      if (opts.remove) {
        // Every refusal before the unmount, so a refused --rm leaves the mount as it was.
        this.assertNoChildren(tx.db, rec.key, rec.snapshotId)
        this.assertNotMounted(tx.db, [rec.snapshotId], 'remove', real)
        this.assertNothingMountedInside([{id: rec.snapshotId, key: rec.key, kind: mustGet(tx.db, this.namespace, rec.key).kind}])
      }
      const wasMounted = liveMountPoints().has(real)
      if (wasMounted) await unmount(real)
      q.deleteMount(tx.db, real)
      if (opts.remove) doomed.push(...this.removeLocked(tx, [{id: rec.snapshotId, kind: mustGet(tx.db, this.namespace, rec.key).kind}]))
      return {target: real, key: rec.key, wasMounted, removed: opts.remove === true}
    })
    await this.deleteDirs(doomed)
    return result
  }

  /**
   * Make disk and metadata agree again (see planCleanup). A dry run only
   * reads; a real run holds the lock, so nothing it judges can change under it.
   */
  async cleanup(opts: {dryRun?: boolean} = {}): Promise<CleanupPlan> {
    if (opts.dryRun || !fs.existsSync(this.root)) return planCleanup(this.driver, this.root, await this.store.read())
    return this.store.write(async tx => {
      const plan = await planCleanup(this.driver, this.root, tx.db)
      for (const item of plan.items) if (item.kind === 'stale-mount') q.deleteMount(tx.db, item.path)
      checkInterrupt()
      // Extract snapshots as any removal: records persisted first (removeLocked commits), then their directories (moved to rm-*).
      const doomed = this.removeLocked(tx, plan.items.flatMap(i => (i.snapshot ? [{id: i.snapshot.id, kind: 'Active' as const}] : [])))
      const paths = [...plan.items.filter(i => i.kind !== 'stale-mount' && !i.snapshot).map(i => i.path), ...doomed]
      const left = new Set<string>()
      const skipped = [...plan.skipped]
      // One at a time, letting a signal in between: interrupted, cleanup stops and leaves the rest to the next run.
      for (const p of paths) {
        await new Promise(resolve => setImmediate(resolve))
        checkInterrupt()
        try {
          await this.driver.removeDir(p)
        } catch (err) {
          // Mounted inside since the plan was made: left alone, as the plan leaves a mounted directory.
          if (!(err instanceof MountInTheWayError)) throw err
          left.add(p)
          skipped.push({path: p, reason: err.reason})
        }
      }
      return {items: plan.items.filter(i => !left.has(i.path)), skipped}
    })
  }

  /**
   * Remove the extract snapshots of these layers that a killed unpack left
   * (planExtracts), so an unpack can extract them again: what `cleanup`
   * would do for them, in this namespace. Returns their keys.
   */
  async reclaimExtracts(chainIds: readonly string[]): Promise<string[]> {
    const only = new Set(chainIds)
    // Most unpacks find none: look before taking the lock.
    if ((await planExtracts(this.driver, await this.store.read(), undefined, only, this.namespace)).items.length === 0) return []
    let keys: string[] = []
    const doomed = await this.store.write(async tx => {
      const {items} = await planExtracts(this.driver, tx.db, undefined, only, this.namespace)
      keys = items.map(i => i.snapshot!.key)
      // Extract snapshots are active ones (planExtracts takes no other).
      return this.removeLocked(tx, items.map(i => ({id: i.snapshot!.id, kind: 'Active' as const})))
    })
    await this.deleteDirs(doomed)
    return keys
  }

  /** Mount records, each with whether the kernel still has it. */
  async mountRecords(): Promise<(q.MountRecord & {live: boolean})[]> {
    const live = liveMountPoints()
    return q.mountRecords(await this.store.read(), this.namespace).map(m => ({...m, live: live.has(m.target)}))
  }

  /**
   * Where a snapshot's layers are on disk, for code that reads or writes them
   * directly (the layer applier): its own layer directory (null for a native
   * view, which has none) and its parents', nearest first. On overlay these
   * are `fs` (upper) directories; on native and btrfs, full trees.
   */
  async layerPaths(key: string): Promise<{kind: Kind; own: string | null; parents: string[]}> {
    const db = await this.store.read()
    const ref = this.ref(db, mustGet(db, this.namespace, key))
    const own = this.driver.needsDir(ref) ? this.driver.layerDir(ref) : null
    return {kind: ref.kind, own, parents: ref.parentIds.map(id => this.driver.layerDir({id, kind: 'Committed'}))}
  }

  stagingDir(): string {
    return this.driver.stagingDir()
  }

  lockPath(name: string): string {
    const dir = this.driver.lockDir()
    makeDirs(dir)
    return path.join(dir, name)
  }

  async changeSet(key: string): Promise<string | undefined> {
    const db = await this.store.read()
    return this.driver.changeSet(this.ref(db, mustGet(db, this.namespace, key)))
  }

  async withTree<T>(key: string, fn: (dir: string | null) => Promise<T>): Promise<T> {
    const db = await this.store.read()
    const tree = await this.driver.tree(this.ref(db, mustGet(db, this.namespace, key)), key)
    try {
      return await fn(tree.dir)
    } finally {
      await tree.release()
    }
  }

  /** For tests and tools that judge the disk: the directory of a snapshot's own layer, by key. */
  async ownLayerDir(key: string): Promise<string> {
    const db = await this.store.read()
    return this.driver.layerDir(mustGet(db, this.namespace, key))
  }

  async updateLabels(key: string, changes: Record<string, string | null>): Promise<Info> {
    for (const [k, v] of Object.entries(changes)) if (v !== null) validateLabel(k, v)
    return this.store.write(tx => {
      const rec = mustGet(tx.db, this.namespace, key)
      q.updateLabels(tx.db, rec.id, changes, rfc3339Nano())
      tx.commit()
      return q.toInfo(mustGet(tx.db, this.namespace, key), q.getLabels(tx.db, rec.id))
    })
  }
}
