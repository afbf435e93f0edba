/**
 * The btrfs driver, after containerd 1.6's btrfs snapshotter: every snapshot
 * is a subvolume, and a child is a btrfs snapshot of its parent's subvolume
 * (O(1) in the parent's size: no copying).
 *
 * Layout under the snapshotter root (`<root>/btrfs/`), containerd's, by kind:
 *   active/<id>     writable subvolume: empty when it has no parent, else a snapshot of snapshots/<parent>
 *   view/<id>       read-only snapshot of snapshots/<parent> (or a read-only empty subvolume)
 *   snapshots/<id>  committed: a read-only snapshot of what was active/<id>
 * plus, in each of the three, the core's in-flight names (`new-<pid>-*`, `rm-<id>`):
 * a read-only subvolume can be renamed within its directory but not into
 * another one (EROFS). A snapshot's directory depends on its kind; commit moves it.
 *
 * What fits today's Driver interface (src/core/drivers/driver.ts): `needsDir`.
 * What does not, and replaces the rest of it here (the plan for step 1 of
 * issue 10 is at the end of bench/btrfs/REFERENCE.md):
 *   checkRoot()                  the root must be on btrfs; no fallback
 *   dirOf(ref)                   replaces layerPath(id): the path depends on the kind
 *   kindDirs()                   what cleanup scans for orphans (three dirs, not one)
 *   tempPath(kind), removingPath the in-flight names, per kind directory (see above)
 *   createDir(dest, parent, kind) replaces populate(tempDir): a subvolume cannot be made
 *                                inside an existing temp dir, it must be created at `dest`
 *   commitDir(id) / dirOf        commit = read-only snapshot active/<id> -> snapshots/<id> before
 *                                the record is persisted, then removeDir(active/<id>) after it
 *   removeDir(path)              `btrfs subvolume delete` (rm -rf cannot remove a read-only one)
 *   inUse(path, mountinfo)       a subvolid= mount does not name the directory in mountinfo
 *   mounts(ref): Promise         the subvolume id is read from disk (async, not pure data)
 *   usage(ref)                   containerd's: an active's usage is measured against its parent
 * Crash order (the core's, with these hooks): a kill at any step leaves at worst
 * a subvolume no record points to in its kind's directory, which cleanup removes with removeDir.
 */
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {FailedPreconditionError} from '../errors.js'
import {run} from '../exec.js'
import {readMountinfo, type MountinfoEntry} from '../mount.js'
import type {Kind, Mount, Usage} from '../snapshotter.js'
import {diskUsage} from '../usage.js'
import type {SnapshotRef} from './driver.js'
import {REMOVING_PREFIX, TEMP_PREFIX} from './layout.js'

/** statfs(2) f_type of btrfs (linux/magic.h). */
export const BTRFS_SUPER_MAGIC = 0x9123683e

const KIND_DIR: Record<Kind, string> = {Active: 'active', View: 'view', Committed: 'snapshots'}

/** The nearest existing directory at or above `p`: a root not yet created is judged by where it will be. */
function nearestExisting(p: string): string {
  let dir = path.resolve(p)
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}

/**
 * Refuse a root that is not on btrfs (containerd skips the plugin then; ctrsnap
 * never falls back silently). `shown` is the root as the user named it.
 */
export function assertOnBtrfs(root: string, shown: string = root, statfs: (p: string) => {type: number} = fs.statfsSync): void {
  if (statfs(nearestExisting(root)).type !== BTRFS_SUPER_MAGIC) {
    throw new FailedPreconditionError(`${shown} is not on a btrfs file system`)
  }
}

/** The mount holding `p`: the entry with the longest mount point at or above it (the last one mounted there wins). */
export function mountOf(p: string, entries: readonly MountinfoEntry[]): MountinfoEntry | undefined {
  let best: MountinfoEntry | undefined
  for (const e of entries) {
    const inside = e.mountPoint === '/' || p === e.mountPoint || p.startsWith(e.mountPoint + '/')
    if (inside && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e
  }
  return best
}

/** `btrfs inspect-internal rootid` prints the subvolume (tree) id holding a path. */
export function parseRootId(stdout: string): number {
  const m = /^\s*(\d+)\s*$/.exec(stdout)
  if (!m) throw new Error(`unexpected output of btrfs inspect-internal rootid: ${JSON.stringify(stdout)}`)
  return Number(m[1])
}

/** containerd's btrfs mounts: the device, the subvolume by id, `ro` for anything not active. */
export function btrfsMounts(device: string, subvolId: number, kind: Kind): Mount[] {
  const options = [`subvolid=${subvolId}`]
  if (kind !== 'Active') options.push('ro')
  return [{type: 'btrfs', source: device, options}]
}

/** Whether a mountinfo entry mounts subvolume `subvolId` of `device` (mountinfo names it by id and by its path in the fs, not by ours). */
export function mountsSubvol(e: MountinfoEntry, device: string, subvolId: number): boolean {
  return e.fsType === 'btrfs' && e.source === device && e.superOptions.split(',').includes(`subvolid=${subvolId}`)
}

// containerd's fs.DiffUsage (continuity): the blocks and inodes of what is
// added or modified in `dir` relative to `parent`, each inode once. Deleted
// entries count nothing; an unchanged directory counts nothing even when its
// contents changed. Not compared (unlike containerd): security.capability.

function sameContent(a: string, b: string): boolean {
  const fa = fs.openSync(a, 'r')
  const fb = fs.openSync(b, 'r')
  try {
    const ba = Buffer.alloc(64 * 1024)
    const bb = Buffer.alloc(64 * 1024)
    for (;;) {
      const na = fs.readSync(fa, ba)
      const nb = fs.readSync(fb, bb)
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false
      if (na === 0) return true
    }
  } finally {
    fs.closeSync(fa)
    fs.closeSync(fb)
  }
}

/** continuity's sameFile without the capability check. */
function sameFile(pa: string, a: fs.BigIntStats, pb: string, b: fs.BigIntStats): boolean {
  if (a.dev === b.dev && a.ino === b.ino) return true
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false
  if (b.isDirectory()) return true
  if (a.size !== b.size) return false
  const sec = 1_000_000_000n
  if (a.mtimeNs / sec !== b.mtimeNs / sec) return false
  const na = a.mtimeNs % sec
  const nb = b.mtimeNs % sec
  // Both whole seconds: perhaps truncated times, so look at the content.
  if (na === 0n && nb === 0n) {
    if (b.isSymbolicLink()) return fs.readlinkSync(pa, 'buffer').equals(fs.readlinkSync(pb, 'buffer'))
    return b.size === 0n || sameContent(pa, pb)
  }
  return na === nb
}

export function diffUsage(parent: string, dir: string): Usage {
  const seen = new Set<string>()
  let blocks = 0n
  const stack = ['']
  while (stack.length > 0) {
    const rel = stack.pop()!
    for (const name of fs.readdirSync(path.join(dir, rel))) {
      const r = path.join(rel, name)
      const pb = path.join(dir, r)
      const pa = path.join(parent, r)
      const b = fs.lstatSync(pb, {bigint: true})
      const a = fs.lstatSync(pa, {bigint: true, throwIfNoEntry: false})
      if (!a || !sameFile(pa, a, pb, b)) {
        const id = `${b.dev}:${b.ino}`
        if (!seen.has(id)) {
          seen.add(id)
          blocks += b.blocks
        }
      }
      if (b.isDirectory()) stack.push(r)
    }
  }
  return {size: Number(blocks * 512n), inodes: seen.size}
}

/** A subvolume's root directory has inode 256 (BTRFS_FIRST_FREE_OBJECTID) on btrfs. */
function isSubvolume(p: string, st: fs.Stats): boolean {
  return st.isDirectory() && st.ino === 256 && fs.statfsSync(p).type === BTRFS_SUPER_MAGIC
}

export class BtrfsDriver {
  readonly name = 'btrfs' as const
  #device: string | undefined

  /** `root` is the snapshotter root (`<root>/btrfs`); `shownRoot` the user's --root, for messages. */
  constructor(readonly root: string, readonly shownRoot: string = root) {}

  checkRoot(): void {
    assertOnBtrfs(this.root, this.shownRoot)
  }

  /** The device the root's btrfs is mounted from: the source of every mount line (containerd's mount.Lookup). */
  device(): string {
    if (this.#device === undefined) {
      this.checkRoot()
      const at = fs.realpathSync(nearestExisting(this.root))
      const e = mountOf(at, readMountinfo())
      if (!e || e.fsType !== 'btrfs') throw new FailedPreconditionError(`${this.shownRoot} is not on a btrfs file system`)
      this.#device = e.source
    }
    return this.#device
  }

  /** Every snapshot has a subvolume of its own, views included. */
  needsDir(): boolean {
    return true
  }

  dirOf(ref: {id: number; kind: Kind}): string {
    return path.join(this.root, KIND_DIR[ref.kind], String(ref.id))
  }

  /** The directories whose numeric entries are snapshot subvolumes, each owned by records of one kind. */
  kindDirs(): {dir: string; kind: Kind}[] {
    return (Object.entries(KIND_DIR) as [Kind, string][]).map(([kind, d]) => ({dir: path.join(this.root, d), kind}))
  }

  /**
   * A free in-flight name for a new snapshot of `kind` (`new-<pid>-XXXXXX`, as
   * layout.ts's makeTempDir, but not created: createDir makes the subvolume
   * there). It is in the kind's own directory because a read-only subvolume
   * cannot be renamed into another directory (EROFS: its `..` would change).
   */
  tempPath(kind: Kind): string {
    const dir = path.join(this.root, KIND_DIR[kind])
    fs.mkdirSync(dir, {recursive: true, mode: 0o755})
    for (;;) {
      const p = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`)
      if (!fs.existsSync(p)) return p
    }
  }

  /** Where the core renames a snapshot's subvolume before deleting it (`rm-<id>`), in the same directory for the same reason. */
  removingPath(ref: {id: number; kind: Kind}): string {
    return path.join(this.root, KIND_DIR[ref.kind], `${REMOVING_PREFIX}${ref.id}`)
  }

  /**
   * Make the subvolume of a new active snapshot or view at `dest` (which must
   * not exist; its directory must be in the same subvolume as where it will
   * live): a snapshot of `parentDir`, read-only for a view; without a parent a
   * new empty subvolume, writable even for a view, as containerd makes it
   * (only the view's mount line says `ro`).
   */
  async createDir(dest: string, parentDir: string | null, kind: 'Active' | 'View'): Promise<void> {
    this.checkRoot()
    for (const {dir} of this.kindDirs()) fs.mkdirSync(dir, {recursive: true, mode: 0o755})
    fs.chmodSync(this.root, 0o700)
    if (parentDir === null) await run('btrfs', ['-q', 'subvolume', 'create', dest])
    else await run('btrfs', ['-q', 'subvolume', 'snapshot', ...(kind === 'View' ? ['-r'] : []), parentDir, dest])
  }

  /**
   * First half of commit: a read-only snapshot of active/<id> at snapshots/<id>,
   * taken before the record says Committed. Anything already at snapshots/<id>
   * is an orphan of a commit killed before it persisted (the record still says
   * Active), so it goes first. After the record is persisted, the core removes
   * active/<id> with removeDir; killed in between, cleanup does.
   */
  async commitDir(id: number): Promise<string> {
    const committed = this.dirOf({id, kind: 'Committed'})
    if (fs.existsSync(committed)) await this.removeDir(committed)
    await run('btrfs', ['-q', 'subvolume', 'snapshot', '-r', this.dirOf({id, kind: 'Active'}), committed])
    return committed
  }

  /**
   * Delete a snapshot's subvolume, and first any subvolume nested in it (made
   * by a user inside an active snapshot: btrfs refuses to delete a subvolume
   * that has some). A plain directory (not a subvolume) is removed as one.
   */
  async removeDir(p: string): Promise<void> {
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    if (!st) return
    if (!isSubvolume(p, st)) {
      fs.rmSync(p, {recursive: true, force: true})
      return
    }
    try {
      await run('btrfs', ['-q', 'subvolume', 'delete', p])
    } catch (err) {
      const nested = await this.nestedSubvolumes(p)
      if (nested.length === 0) throw err
      for (const n of nested) await run('btrfs', ['-q', 'subvolume', 'delete', n])
      await run('btrfs', ['-q', 'subvolume', 'delete', p])
    }
  }

  /** Subvolumes below `p`, deepest first. */
  private async nestedSubvolumes(p: string): Promise<string[]> {
    const found: string[] = []
    const stack = [p]
    while (stack.length > 0) {
      const dir = stack.pop()!
      for (const ent of fs.readdirSync(dir, {withFileTypes: true})) {
        if (!ent.isDirectory()) continue
        const full = path.join(dir, ent.name)
        if (fs.lstatSync(full).ino === 256) found.push(full)
        stack.push(full)
      }
    }
    return found.reverse()
  }

  async subvolId(dir: string): Promise<number> {
    return parseRootId(await run('btrfs', ['inspect-internal', 'rootid', dir]))
  }

  /** Mounted anywhere: by subvolume id (how ctrsnap and ctr mount it), or by path (a bind mount of it or below it). */
  async inUse(dir: string, entries: readonly MountinfoEntry[] = readMountinfo()): Promise<boolean> {
    if (entries.some(e => e.mountPoint === dir || e.mountPoint.startsWith(dir + '/'))) return true
    let id: number
    try {
      id = await this.subvolId(dir)
    } catch {
      return false // not there any more
    }
    const device = this.device()
    return entries.some(e => mountsSubvol(e, device, id))
  }

  async mounts(s: SnapshotRef): Promise<Mount[]> {
    return btrfsMounts(this.device(), await this.subvolId(this.dirOf(s)), s.kind)
  }

  /**
   * containerd's usage of an active snapshot: everything in it without a
   * parent, else what differs from the parent. Committed snapshots keep what
   * was measured at commit; a view reports nothing (the core's rule).
   */
  usage(s: SnapshotRef): Usage {
    const own = this.dirOf(s)
    const parent = s.parentIds[0]
    return parent === undefined ? diskUsage(own) : diffUsage(this.dirOf({id: parent, kind: 'Committed'}), own)
  }
}
