/**
 * The btrfs driver, after containerd 1.6's btrfs snapshotter: every snapshot
 * is a subvolume, and a child is a btrfs snapshot of its parent's subvolume
 * (O(1) in the parent's size: nothing is copied). bench/btrfs/REFERENCE.md
 * has the facts from containerd's source and a ctr run.
 *
 * Layout under the snapshotter root (`<root>/btrfs/`, mode 0700), containerd's, by kind:
 *   active/<id>     writable subvolume: new when it has no parent, else a snapshot of snapshots/<parent>
 *   view/<id>       read-only snapshot of snapshots/<parent> (without a parent: a new, writable
 *                   subvolume, as containerd makes it; only its mount line says `ro`)
 *   snapshots/<id>  committed: a read-only snapshot of what was active/<id>
 * plus, in each of the three, the core's in-flight names (`new-<pid>-*`, `rm-<id>`):
 * a read-only subvolume can be renamed within its directory but not into
 * another one (EROFS: its `..` would change). A snapshot's directory depends
 * on its kind, so commit makes the committed one (commitDir) and the core
 * deletes the active one after the record is persisted; killed in between,
 * `active/<id>` has no Active record and cleanup deletes it as an orphan.
 */
import fs from 'node:fs'
import path from 'node:path'
import {makeDirs} from '../dirs.js'
import {CorruptStoreError, ExternalCommandError, UnsupportedFilesystemError} from '../errors.js'
import {onPath, run} from '../exec.js'
import {MountInTheWayError, mountedInside, removeTree} from '../fs/remove.js'
import {mountsInside, readMountinfo, useOf, type MountinfoEntry} from '../mount.js'
import type {Kind, Mount, Usage} from '../snapshotter.js'
import {diskUsage} from '../usage.js'
import type {Driver, SnapshotRef} from './driver.js'
import {makeTempDir, REMOVING_PREFIX, tempPath} from './layout.js'

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
    throw new UnsupportedFilesystemError(`${shown} is not on a btrfs file system`)
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

/** containerd's btrfs mounts: the device, the subvolume by id, `ro` for anything not active. One mount whatever the depth. */
export function btrfsMounts(device: string, subvolId: number, kind: Kind): Mount[] {
  const options = [`subvolid=${subvolId}`]
  if (kind !== 'Active') options.push('ro')
  return [{type: 'btrfs', source: device, options}]
}

/**
 * A mount of `p`'s subvolume, or of anything in it, made elsewhere (by
 * subvolid, as ctr's mount lines do, or a bind): mountinfo names it by its
 * path inside the file system (field 4, kept up to date across renames), not
 * by `p`. `p` must exist.
 */
export function subvolumeMountOf(p: string, entries: readonly MountinfoEntry[]): MountinfoEntry | undefined {
  const real = fs.realpathSync(p)
  const holder = mountOf(real, entries)
  if (!holder || holder.fsType !== 'btrfs') return undefined
  const inFs = path.posix.join(holder.root, path.relative(holder.mountPoint, real))
  return entries.find(e => e !== holder && e.fsType === 'btrfs' && e.source === holder.source && (e.root === inFs || e.root.startsWith(inFs + '/')))
}

// containerd's fs.DiffUsage (continuity): the blocks and inodes of what is
// added or modified in `dir` relative to `parent`, each inode once. Deleted
// entries count nothing; an unchanged directory counts nothing even when its
// contents changed, and the root never counts. Not compared (unlike
// containerd): security.capability.

function sameContent(a: Buffer, b: Buffer): boolean {
  const fa = fs.openSync(a, 'r')
  try {
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
      fs.closeSync(fb)
    }
  } finally {
    fs.closeSync(fa)
  }
}

/**
 * continuity's sameFile, without the capability check. Its shortcut (same
 * st_dev and inode) never holds across subvolumes, each having its own st_dev;
 * this one does: a snapshot keeps every inode of its parent as it was, and
 * any change to an inode (data, mode, owner, times, xattrs) moves its ctime,
 * which no one can set. Same inode number, ctime and birth time is therefore
 * the parent's inode untouched: what continuity would find equal, after
 * reading both files through when their mtimes are whole seconds (every file
 * a tar layer made).
 */
function sameFile(pa: Buffer, a: fs.BigIntStats, pb: Buffer, b: fs.BigIntStats): boolean {
  if (a.ino === b.ino && a.ctimeNs === b.ctimeNs && a.birthtimeNs === b.birthtimeNs) return true
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

function lstatOrNull(p: Buffer): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, {bigint: true})
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw err
  }
}

export function diffUsage(parent: string, dir: string): Usage {
  const top = Buffer.from(dir)
  const base = Buffer.from(parent + '/')
  return diskUsage(dir, (rel, st) => {
    if (rel.length === 0) return false
    const pa = Buffer.concat([base, rel])
    const a = lstatOrNull(pa)
    return a === null || !sameFile(pa, a, Buffer.concat([top, Buffer.from('/'), rel]), st)
  })
}

/** A subvolume's root directory has inode 256 (BTRFS_FIRST_FREE_OBJECTID). */
const isSubvolume = (st: fs.Stats): boolean => st.isDirectory() && st.ino === 256

const btrfs = (...args: string[]): Promise<string> => run('btrfs', args)

/**
 * `btrfs -q ARGS`, then the id of the subvolume at `dir`, in one spawn: a
 * spawn costs more than either (btrfs prints no id when it makes a
 * subvolume). A failure reads as btrfs's own.
 */
async function btrfsThenRootId(args: string[], dir: string): Promise<number> {
  if (!onPath('btrfs')) throw new ExternalCommandError('btrfs', args, 'btrfs is not installed or not on PATH (it is in btrfs-progs)')
  try {
    return parseRootId(await run('sh', ['-c', 'btrfs -q "$@" && exec btrfs inspect-internal rootid "$0"', dir, ...args]))
  } catch (err) {
    if (err instanceof ExternalCommandError && err.command === 'sh') throw new ExternalCommandError('btrfs', args, err.stderr)
    throw err
  }
}

export class BtrfsDriver implements Driver {
  readonly name = 'btrfs' as const
  /** Each snapshot is a full tree, as native's: a layer is applied with its deletions. */
  readonly layerFormat = 'deletions' as const
  #device: string | undefined
  /**
   * The subvolume the last build made, by st_dev (unique among live
   * subvolumes), for the mounts() that create() asks next: taken once, so it
   * never outlives that one call.
   */
  #built: {dev: number; id: number} | undefined

  /** `root` is the snapshotter root (`<root>/btrfs`); `shownRoot` the user's --root, for messages. */
  constructor(readonly root: string, readonly shownRoot: string = root) {}

  checkRoot(): void {
    assertOnBtrfs(this.root, this.shownRoot)
  }

  /** The device the root's btrfs is mounted from: the source of every mount line (containerd reads it once, at start). */
  device(): string {
    if (this.#device === undefined) {
      this.checkRoot()
      const e = mountOf(fs.realpathSync(nearestExisting(this.root)), readMountinfo())
      if (!e || e.fsType !== 'btrfs') throw new UnsupportedFilesystemError(`${this.shownRoot} is not on a btrfs file system`)
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

  layerDir(ref: {id: number; kind: Kind}): string {
    return this.dirOf(ref)
  }

  kindDirs(): {dir: string; kind: Kind}[] {
    return (Object.entries(KIND_DIR) as [Kind, string][]).map(([kind, d]) => ({dir: path.join(this.root, d), kind}))
  }

  /** containerd's directories: the root 0700, the three kind directories 0755 (made as any of ctrsnap's, so a failed command takes them back). */
  private makeLayout(): void {
    makeDirs(this.root, 0o700)
    for (const {dir} of this.kindDirs()) makeDirs(dir, 0o755)
  }

  /** In the kind's own directory: a read-only subvolume cannot be renamed into another one. */
  tempPath(kind: Kind): string {
    this.makeLayout()
    return tempPath(path.join(this.root, KIND_DIR[kind]))
  }

  /**
   * The subvolume of a new active snapshot or view at `dest`: a snapshot of
   * the parent's, read-only for a view; without a parent a new empty one,
   * writable even for a view, as containerd makes it. Its root is 0755 then
   * (containerd's follows the umask); a child's keeps the parent root's owner and mode.
   */
  async build(dest: string, s: Omit<SnapshotRef, 'id'>): Promise<void> {
    const parent = s.parentIds[0]
    let id: number
    if (parent === undefined) {
      id = await btrfsThenRootId(['subvolume', 'create', dest], dest)
      fs.chmodSync(dest, 0o755)
    } else {
      const from = this.dirOf({id: parent, kind: 'Committed'})
      if (!fs.existsSync(from)) throw new CorruptStoreError(`the parent's subvolume ${from} is missing`)
      id = await btrfsThenRootId(['subvolume', 'snapshot', ...(s.kind === 'View' ? ['-r'] : []), from, dest], dest)
    }
    this.#built = {dev: fs.lstatSync(dest).dev, id}
  }

  /**
   * Before the commit is persisted: a read-only snapshot of active/<id> at
   * snapshots/<id>. Anything already there is an orphan of a commit killed
   * before it persisted (the record still says Active), so it goes first.
   */
  async commitDir(id: number): Promise<void> {
    this.makeLayout()
    const committed = this.dirOf({id, kind: 'Committed'})
    if (fs.existsSync(committed)) await this.removeDir(committed)
    await btrfs('-q', 'subvolume', 'snapshot', '-r', this.dirOf({id, kind: 'Active'}), committed)
  }

  /** Renamed within its kind's directory (see tempPath). */
  removingPath(ref: {id: number; kind: Kind}): string {
    return path.join(this.root, KIND_DIR[ref.kind], `${REMOVING_PREFIX}${ref.id}`)
  }

  /**
   * Delete a snapshot's subvolume (`btrfs subvolume delete`: rm -rf cannot
   * remove a read-only one), after any subvolume a user nested in it (btrfs
   * refuses to delete one that has some). A plain directory (staging, a
   * half-built temp) goes as the plain layouts' do. Refused while anything is
   * mounted inside it. A mount of the subvolume itself elsewhere does not stop
   * it, as in containerd: that mount then shows an empty, deleted tree.
   */
  async removeDir(p: string): Promise<void> {
    // A deleted subvolume's st_dev is free for another: forget what build saw.
    this.#built = undefined
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    if (!st) return
    if (!isSubvolume(st)) return removeTree(p)
    const inside = mountsInside(p)
    if (inside.length > 0) throw new MountInTheWayError(p, mountedInside(inside))
    try {
      await btrfs('-q', 'subvolume', 'delete', p)
    } catch (err) {
      const nested = nestedSubvolumes(p)
      if (nested.length === 0) throw err
      for (const n of nested) await btrfs('-q', 'subvolume', 'delete', n)
      await btrfs('-q', 'subvolume', 'delete', p)
    }
  }

  /** Mounted inside, a source (plain layouts' rule), or its subvolume mounted elsewhere. */
  async useOf(p: string, mountinfo: readonly MountinfoEntry[]): Promise<string | undefined> {
    const plain = useOf(p, mountinfo)
    if (plain !== undefined) return plain
    const e = fs.existsSync(p) ? subvolumeMountOf(p, mountinfo) : undefined
    return e && `its subvolume is mounted at ${e.mountPoint}`
  }

  /** The subvolume id of the subvolume holding `dir` (BTRFS_IOC_INO_LOOKUP, as containerd's SubvolID). */
  async subvolId(dir: string): Promise<number> {
    return parseRootId(await btrfs('inspect-internal', 'rootid', dir))
  }

  async mounts(s: SnapshotRef): Promise<Mount[]> {
    const dir = this.dirOf(s)
    const built = this.#built
    this.#built = undefined
    const id = built !== undefined && built.dev === fs.lstatSync(dir).dev ? built.id : await this.subvolId(dir)
    return btrfsMounts(this.device(), id, s.kind)
  }

  /** containerd's usage of an active snapshot: everything in it without a parent, else what differs from the parent. */
  usage(s: SnapshotRef): Usage {
    const own = this.dirOf(s)
    const parent = s.parentIds[0]
    return parent === undefined ? diskUsage(own) : diffUsage(this.dirOf({id: parent, kind: 'Committed'}), own)
  }

  /** Every snapshot's subvolume is its full tree. */
  async tree(s: SnapshotRef): Promise<{dir: string | null; release(): Promise<void>}> {
    return {dir: this.dirOf(s), release: async () => {}}
  }

  changeSet(): undefined {
    return undefined
  }

  /**
   * A plain directory in active/ (the file system's, not any snapshot's
   * subvolume). Finishing a layer into its snapshot crosses subvolumes, which
   * the layer applier handles (reflinked copy: no data is copied).
   */
  stagingDir(): string {
    this.makeLayout()
    return makeTempDir(path.join(this.root, KIND_DIR.Active))
  }

  lockDir(): string {
    return path.join(this.root, 'locks')
  }
}

/** Subvolumes below `p` (directories with inode 256 that are not `p`), deepest first. Walked as bytes: names need not be UTF-8. */
function nestedSubvolumes(p: string): string[] {
  const found: string[] = []
  const slash = Buffer.from('/')
  const stack = [Buffer.from(p)]
  while (stack.length > 0) {
    const dir = stack.pop()!
    for (const ent of fs.readdirSync(dir, {withFileTypes: true, encoding: 'buffer'})) {
      if (!ent.isDirectory()) continue
      const full = Buffer.concat([dir, slash, ent.name])
      if (fs.lstatSync(full).ino === 256) found.push(full.toString())
      stack.push(full)
    }
  }
  return found.reverse()
}
