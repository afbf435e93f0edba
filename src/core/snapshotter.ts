/**
 * The snapshotter contract, after containerd's snapshots.Snapshotter.
 *
 * Vocabulary, used in every signature below:
 * - key:    the name of an active (writable) snapshot or a view (read-only);
 * - name:   the name of a committed snapshot. Keys and names share one space;
 * - parent: the name of a committed snapshot a new snapshot is layered on.
 *
 * Only committed snapshots can be parents. Commit turns an active snapshot's
 * key into a committed name and keeps its parent. A snapshot with children
 * cannot be removed.
 *
 * Three interfaces, by what a caller may do:
 * - Snapshotter: containerd's contract. Mounts are data: nothing in it mounts
 *   anything (CreateOptions.mountAt is the Mounter's, see there).
 * - Mounter: performs mounts and records them (ctrsnap's own `--mount`,
 *   `prepare --target`, `unmount`).
 * - LayerStore: what the image and layer code (unpack, diff) needs beyond the
 *   contract: where a layer is written and how, a snapshot's full tree, and
 *   where staging and lock files go. It never exposes the metadata store or
 *   the driver, so that code stays the same for every snapshotter.
 */

export type Kind = 'View' | 'Active' | 'Committed'

export type Labels = Record<string, string>

export interface Info {
  kind: Kind
  name: string
  parent: string
  labels: Labels
  /** RFC 3339, UTC, nanoseconds, trailing zeros trimmed (Go's RFC3339Nano). */
  created: string
  updated: string
}

export interface Usage {
  /** Allocated bytes (st_blocks * 512) of the snapshot's own layer. */
  size: number
  /** Distinct inodes of the snapshot's own layer. */
  inodes: number
}

export interface Mount {
  type: string
  source: string
  options: string[]
}

/** The snapshotters, as users name them (--snapshotter, completion, docs); src/core/open.ts maps each to its driver. */
export const SNAPSHOTTERS = ['overlayfs', 'native', 'btrfs'] as const
export type SnapshotterName = (typeof SNAPSHOTTERS)[number]

export interface CreateOptions {
  labels?: Labels
  /** Mounter only: perform the mount at this directory (created if missing); if it fails, the snapshot is removed again. */
  mountAt?: string
}

export interface CommitOptions {
  labels?: Labels
  /** Refuse (failed-precondition) unless the active snapshot's parent is this one: unpack commits a layer only on the layer below it. */
  expectParent?: string
}

/**
 * How a layer is written into a snapshot's own directory (src/core/layer/apply.ts):
 * `whiteouts` into an empty upper dir, deletions as overlayfs whiteout devices and
 * opaque xattrs (overlayfs); `deletions` into a full copy of the parent, deletions
 * applied (native, btrfs).
 */
export type LayerFormat = 'whiteouts' | 'deletions'

export interface Snapshotter {
  readonly name: SnapshotterName
  /** Directory holding metadata.db and snapshots/ for this snapshotter. */
  readonly root: string
  stat(key: string): Promise<Info>
  /** Set labels (value string) or remove them (value null); bumps Updated. */
  updateLabels(key: string, changes: Record<string, string | null>): Promise<Info>
  usage(key: string): Promise<Usage>
  /** Usage of each key in order (default: every snapshot, in key order), from one read of the store. */
  usages(keys?: readonly string[]): Promise<[string, Usage][]>
  mounts(key: string): Promise<Mount[]>
  prepare(key: string, parent: string, opts?: CreateOptions): Promise<Mount[]>
  view(key: string, parent: string, opts?: CreateOptions): Promise<Mount[]>
  commit(name: string, key: string, opts?: CommitOptions): Promise<void>
  /** Returns the keys removed: `key`, and with `recursive` its descendants (children first). */
  remove(key: string, opts?: {recursive?: boolean}): Promise<string[]>
  /** Every snapshot in bytewise key order. */
  walk(): Promise<Info[]>
}

/** The part that mounts: performs a snapshot's mounts and keeps a record of them. */
export interface Mounter {
  /** Perform `key`'s mounts at `target` (created if missing) and record them. */
  mount(key: string, target: string): Promise<Mount[]>
  /** Undo a recorded mount; with `remove`, also remove its snapshot. */
  unmount(target: string, opts?: {remove?: boolean}): Promise<{target: string; key: string; wasMounted: boolean; removed: boolean}>
}

/** What unpack and diff need beyond the contract (see the header). */
export interface LayerStore {
  /** How layers are written into this snapshotter's directories. */
  readonly layerFormat: LayerFormat
  /** Directories of a snapshot's own layer (null when it has none) and of its parents' layers, nearest first: what the layer applier writes to and reads. */
  layerPaths(key: string): Promise<{kind: Kind; own: string | null; parents: string[]}>
  /** A new empty directory, on the snapshots' file system, to stage a layer in; the caller removes it (it is `new-<pid>-*`: cleanup reclaims it once the process is gone). */
  stagingDir(): string
  /** The path of the lock file for `name` (a layer's chainID hex), its directory created. */
  lockPath(name: string): string
  /** The directory that, by itself, is `key`'s change set against its own parent (overlayfs' upper), if the snapshotter has one. */
  changeSet(key: string): Promise<string | undefined>
  /** Remove the extract snapshots of these layers (chainIDs) that a killed unpack left, as cleanup would; returns their keys. */
  reclaimExtracts(chainIds: readonly string[]): Promise<string[]>
  /** Run `fn` over the full tree `key` presents, read-only for the duration (null: a snapshot with no tree, which is empty). */
  withTree<T>(key: string, fn: (dir: string | null) => Promise<T>): Promise<T>
}
