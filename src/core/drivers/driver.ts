import type {Kind, LayerFormat, Mount, SnapshotterName, Usage} from '../snapshotter.js'
import type {MountinfoEntry} from '../mount.js'

/** What a driver needs to know of a snapshot to lay it out and mount it. */
export interface SnapshotRef {
  id: number
  kind: Kind
  /** Parent chain, nearest first. */
  parentIds: number[]
}

/**
 * The on-disk half of a snapshotter: everything that differs between
 * overlayfs, native and btrfs. The metadata half (keys, parents, kinds,
 * labels) and the crash order are shared and live in LocalSnapshotter over
 * the metastore, which calls these hooks in this order:
 *   create: tempPath -> build -> rename into dirOf -> persist
 *   commit: usage -> commitDir -> persist -> removeDir(the active's dir, if it differs)
 *   remove: persist -> rename to removingPath -> removeDir
 * so that a kill anywhere leaves at worst a directory no record owns, in one
 * of kindDirs(), which cleanup judges and deletes with removeDir.
 */
export interface Driver {
  readonly name: SnapshotterName
  /** How a layer is written into this driver's directories (see LayerFormat). */
  readonly layerFormat: LayerFormat
  /** Throw if the root cannot hold this driver's snapshots (reads only: opening creates nothing). */
  checkRoot(): void
  /** Whether this snapshot gets a directory of its own. */
  needsDir(s: Omit<SnapshotRef, 'id'>): boolean
  /** The snapshot's own directory (it may depend on the kind: commit then moves it, see commitDir). */
  dirOf(ref: {id: number; kind: Kind}): string
  /** The directory holding the snapshot's own layer, inside dirOf (overlayfs: its `fs` upper). */
  layerDir(ref: {id: number; kind: Kind}): string
  /** Where snapshot directories live: each directory's numeric entries belong to records of `kind` (null: any kind). In-flight names live there too. */
  kindDirs(): {dir: string; kind: Kind | null}[]
  /** A free, not yet created in-flight path (`new-<pid>-*`) in the directory a `kind` snapshot will live in. */
  tempPath(kind: Kind): string
  /** Make the new snapshot's directory at `dest`, which does not exist yet. */
  build(dest: string, s: Omit<SnapshotRef, 'id'>): Promise<void>
  /** Before a commit is persisted: make dirOf(Committed) when it is not dirOf(Active). */
  commitDir(id: number): Promise<void>
  /** The `rm-<id>` path a removed snapshot's directory is renamed to before it is deleted. */
  removingPath(ref: {id: number; kind: Kind}): string
  /** Delete a snapshot's directory, an in-flight one or an orphan; refuses (MountInTheWayError) while anything is mounted in it. */
  removeDir(p: string): Promise<void>
  /** Why `p` must be left alone (it or something in it is mounted), or undefined. */
  useOf(p: string, mountinfo: readonly MountinfoEntry[]): Promise<string | undefined>
  mounts(s: SnapshotRef): Promise<Mount[]>
  /** An active snapshot's usage, as containerd computes it for this driver; commit stores it. */
  usage(s: SnapshotRef): Usage
  /** The snapshot's full tree, read-only, for `diff` (null: none, which is empty), and how to let go of it; `key` names it in messages. */
  tree(s: SnapshotRef, key: string): Promise<{dir: string | null; release(): Promise<void>}>
  /** The directory that is, by itself, the snapshot's change set against its own parent, if the driver keeps one (overlayfs' upper). */
  changeSet(s: SnapshotRef): string | undefined
  /** A new empty directory, on the snapshots' file system, for a layer to be staged in. */
  stagingDir(): string
  /** Where layer locks go. */
  lockDir(): string
}
