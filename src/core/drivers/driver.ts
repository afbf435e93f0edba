import type {Kind, Mount, SnapshotterName} from '../snapshotter.js'

/** What a driver needs to know of a snapshot to lay it out and mount it. */
export interface SnapshotRef {
  id: number
  kind: Kind
  /** Parent chain, nearest first. */
  parentIds: number[]
}

/**
 * The on-disk half of a snapshotter. The metadata half (keys, parents, kinds,
 * labels) is shared and lives in LocalSnapshotter over the metastore.
 */
export interface Driver {
  readonly name: SnapshotterName
  /** Whether this snapshot gets a directory of its own under snapshots/. */
  needsDir(s: Omit<SnapshotRef, 'id'>): boolean
  /** Fill a fresh, empty temp directory for the snapshot (before it is renamed into place). */
  populate(tempDir: string, s: Omit<SnapshotRef, 'id'>): Promise<void>
  /** The mounts of the snapshot: pure data, no I/O beyond a cached kernel feature probe. */
  mounts(s: SnapshotRef): Mount[]
  /** The directory whose disk usage is the snapshot's own. */
  layerPath(id: number): string
}
