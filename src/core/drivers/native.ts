import fs from 'node:fs'
import {run} from '../exec.js'
import type {Mount, Usage} from '../snapshotter.js'
import {diskUsage} from '../usage.js'
import type {Driver, SnapshotRef} from './driver.js'
import {PlainLayout} from './layout.js'

/**
 * containerd's native mounts: an active snapshot binds its own full copy; a
 * view binds its parent's directory read-only (it has none of its own).
 * Option order is native's: `rbind` first.
 */
export function nativeMounts(s: SnapshotRef, dir: (id: number) => string): Mount[] {
  const source = s.kind === 'Active' || s.parentIds.length === 0 ? dir(s.id) : dir(s.parentIds[0]!)
  return [{type: 'bind', source, options: ['rbind', s.kind === 'View' ? 'ro' : 'rw']}]
}

export class NativeDriver extends PlainLayout implements Driver {
  readonly name = 'native' as const
  readonly layerFormat = 'deletions' as const

  dir = (id: number): string => this.dirOf({id})

  /** Actives, and anything without a parent, own a directory; a committed snapshot keeps its active's. Only a view of a parent has none. */
  needsDir(s: Omit<SnapshotRef, 'id'>): boolean {
    return s.kind !== 'View' || s.parentIds.length === 0
  }

  layerDir(ref: {id: number}): string {
    return this.dirOf(ref)
  }

  async build(dest: string, s: Omit<SnapshotRef, 'id'>): Promise<void> {
    fs.mkdirSync(dest, {mode: 0o755})
    fs.chmodSync(dest, 0o755)
    if (s.parentIds.length === 0) return
    // A full copy keeping owners, modes, xattrs, hard links and devices; the
    // copy's root takes the parent root's owner and mode. Reflinks where the
    // filesystem has them (btrfs, xfs) make it cheap.
    await run('cp', ['-a', '--reflink=auto', '--', `${this.dir(s.parentIds[0]!)}/.`, `${dest}/`], {interruptible: true})
  }

  async mounts(s: SnapshotRef): Promise<Mount[]> {
    return nativeMounts(s, this.dir)
  }

  usage(s: SnapshotRef): Usage {
    return diskUsage(this.dir(s.id))
  }

  /** Every native snapshot is a full tree: its own, or (a view) its parent's. */
  async tree(s: SnapshotRef): Promise<{dir: string | null; release(): Promise<void>}> {
    const dir = this.needsDir(s) ? this.dir(s.id) : s.parentIds.length > 0 ? this.dir(s.parentIds[0]!) : null
    return {dir, release: async () => {}}
  }

  changeSet(): undefined {
    return undefined
  }
}
