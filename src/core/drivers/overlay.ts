import fs from 'node:fs'
import path from 'node:path'
import {CorruptStoreError} from '../errors.js'
import type {Mount} from '../snapshotter.js'
import type {Driver, SnapshotRef} from './driver.js'
import {snapshotDir} from './layout.js'

export const OVERLAY_INDEX_PARAM = '/sys/module/overlay/parameters/index'

/**
 * containerd's overlay mounts: no parent → bind of its own fs; a view of one
 * layer → read-only bind of that layer; otherwise overlay, `index=off` first
 * when the kernel has the parameter, lowerdir nearest parent first.
 */
export function overlayMounts(s: SnapshotRef, fsPath: (id: number) => string, workPath: (id: number) => string, indexOff: boolean): Mount[] {
  if (s.parentIds.length === 0) {
    return [{type: 'bind', source: fsPath(s.id), options: [s.kind === 'View' ? 'ro' : 'rw', 'rbind']}]
  }
  if (s.kind !== 'Active' && s.parentIds.length === 1) {
    return [{type: 'bind', source: fsPath(s.parentIds[0]!), options: ['ro', 'rbind']}]
  }
  const options: string[] = indexOff ? ['index=off'] : []
  if (s.kind === 'Active') options.push(`workdir=${workPath(s.id)}`, `upperdir=${fsPath(s.id)}`)
  options.push(`lowerdir=${s.parentIds.map(fsPath).join(':')}`)
  return [{type: 'overlay', source: 'overlay', options}]
}

export class OverlayDriver implements Driver {
  readonly name = 'overlayfs' as const
  #indexOff: boolean | undefined

  constructor(readonly root: string) {}

  fsPath = (id: number): string => path.join(snapshotDir(this.root, id), 'fs')
  workPath = (id: number): string => path.join(snapshotDir(this.root, id), 'work')

  needsDir(): boolean {
    return true
  }

  async populate(tempDir: string, s: Omit<SnapshotRef, 'id'>): Promise<void> {
    const upper = path.join(tempDir, 'fs')
    fs.mkdirSync(upper)
    fs.chmodSync(upper, 0o755)
    if (s.kind === 'Active') {
      fs.mkdirSync(path.join(tempDir, 'work'))
      fs.chmodSync(path.join(tempDir, 'work'), 0o711)
    }
    // Owner follows the parent's root so a non-root image root stays non-root; the mode stays 0755 as in containerd.
    if (s.parentIds.length > 0) {
      const parentFs = this.fsPath(s.parentIds[0]!)
      let st: fs.Stats
      try {
        st = fs.statSync(parentFs)
      } catch (err) {
        throw new CorruptStoreError(`the parent's layer directory ${parentFs} is missing or unreadable (${(err as NodeJS.ErrnoException).code})`)
      }
      fs.lchownSync(upper, st.uid, st.gid)
    }
  }

  mounts(s: SnapshotRef): Mount[] {
    this.#indexOff ??= fs.existsSync(OVERLAY_INDEX_PARAM)
    return overlayMounts(s, this.fsPath, this.workPath, this.#indexOff)
  }

  layerPath(id: number): string {
    return this.fsPath(id)
  }
}
