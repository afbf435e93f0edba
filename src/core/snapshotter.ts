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
 * cannot be removed. Mounts are data; nothing here mounts anything.
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

export type SnapshotterName = 'overlayfs' | 'native'
export const SNAPSHOTTERS: readonly SnapshotterName[] = ['overlayfs', 'native']

export interface CreateOptions {
  labels?: Labels
  /** Perform the mount at this directory (created if missing); if it fails, the snapshot is removed again. */
  mountAt?: string
}

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
  commit(name: string, key: string, opts?: CreateOptions): Promise<void>
  /** Returns the keys removed: `key`, and with `recursive` its descendants (children first). */
  remove(key: string, opts?: {recursive?: boolean}): Promise<string[]>
  /** Every snapshot in bytewise key order. */
  walk(): Promise<Info[]>
  /** Perform `key`'s mounts at `target` (created if missing) and record them. */
  mount(key: string, target: string): Promise<Mount[]>
  /** Undo a recorded mount; with `remove`, also remove its snapshot. */
  unmount(target: string, opts?: {remove?: boolean}): Promise<{target: string; key: string; wasMounted: boolean; removed: boolean}>
  /** Directories of a snapshot's own layer (null when it has none) and of its parents, nearest first. */
  layerPaths(key: string): Promise<{kind: Kind; own: string | null; parents: string[]}>
}
