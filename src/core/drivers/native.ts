import fs from 'node:fs'
import {run} from '../exec.js'
import type {Mount} from '../snapshotter.js'
import type {Driver, SnapshotRef} from './driver.js'
import {snapshotDir} from './layout.js'

/**
 * containerd's native mounts: an active snapshot binds its own full copy; a
 * view binds its parent's directory read-only (it has none of its own).
 * Option order is native's: `rbind` first.
 */
export function nativeMounts(s: SnapshotRef, dir: (id: number) => string): Mount[] {
  const source = s.kind === 'Active' || s.parentIds.length === 0 ? dir(s.id) : dir(s.parentIds[0]!)
  return [{type: 'bind', source, options: ['rbind', s.kind === 'View' ? 'ro' : 'rw']}]
}

export class NativeDriver implements Driver {
  readonly name = 'native' as const

  constructor(readonly root: string) {}

  dir = (id: number): string => snapshotDir(this.root, id)

  /** Actives, and anything without a parent, own a directory; a committed snapshot keeps its active's. Only a view of a parent has none. */
  needsDir(s: Omit<SnapshotRef, 'id'>): boolean {
    return s.kind !== 'View' || s.parentIds.length === 0
  }

  async populate(tempDir: string, s: Omit<SnapshotRef, 'id'>): Promise<void> {
    fs.chmodSync(tempDir, 0o755)
    if (s.parentIds.length === 0) return
    // A full copy keeping owners, modes, xattrs, hard links and devices; the
    // copy's root takes the parent root's owner and mode. Reflinks where the
    // filesystem has them (btrfs, xfs) make it cheap.
    await run('cp', ['-a', '--reflink=auto', '--', `${this.dir(s.parentIds[0]!)}/.`, `${tempDir}/`], {interruptible: true})
  }

  mounts(s: SnapshotRef): Mount[] {
    return nativeMounts(s, this.dir)
  }

  layerPath(id: number): string {
    return this.dir(id)
  }
}
