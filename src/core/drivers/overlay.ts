import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {CorruptStoreError} from '../errors.js'
import {run} from '../exec.js'
import {checkMountable, mountAll, unmount} from '../mount.js'
import type {Mount, Usage} from '../snapshotter.js'
import {diskUsage} from '../usage.js'
import type {Driver, SnapshotRef} from './driver.js'
import {PlainLayout, snapshotsDir} from './layout.js'

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

export class OverlayDriver extends PlainLayout implements Driver {
  readonly name = 'overlayfs' as const
  readonly layerFormat = 'whiteouts' as const
  #indexOff: boolean | undefined

  fsPath = (id: number): string => path.join(this.dirOf({id}), 'fs')
  workPath = (id: number): string => path.join(this.dirOf({id}), 'work')

  needsDir(): boolean {
    return true
  }

  layerDir(ref: {id: number}): string {
    return this.fsPath(ref.id)
  }

  async build(dest: string, s: Omit<SnapshotRef, 'id'>): Promise<void> {
    fs.mkdirSync(dest, {mode: 0o700})
    const upper = path.join(dest, 'fs')
    fs.mkdirSync(upper)
    fs.chmodSync(upper, 0o755)
    if (s.kind === 'Active') {
      fs.mkdirSync(path.join(dest, 'work'))
      fs.chmodSync(path.join(dest, 'work'), 0o711)
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

  async mounts(s: SnapshotRef): Promise<Mount[]> {
    this.#indexOff ??= fs.existsSync(OVERLAY_INDEX_PARAM)
    return overlayMounts(s, this.fsPath, this.workPath, this.#indexOff)
  }

  usage(s: SnapshotRef): Usage {
    return diskUsage(this.fsPath(s.id))
  }

  /** The upper dir is the change set against the own parent: 0:0 devices and opaque xattrs say what went. */
  changeSet(s: SnapshotRef): string {
    return this.fsPath(s.id)
  }

  /**
   * The merged tree: the layers mounted read-only as one overlay (lowerdir
   * only) in a temp dir, unmounted by release(); a parentless snapshot's own
   * layer is already the whole tree.
   */
  async tree(s: SnapshotRef, key: string): Promise<{dir: string | null; release(): Promise<void>}> {
    const layers = [this.fsPath(s.id), ...s.parentIds.map(this.fsPath)]
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-diff-'))
    const target = path.join(tmp, 'merged')
    fs.mkdirSync(target)
    // overlayfs wants two lower layers when there is no upper: an empty one at the bottom changes nothing.
    if (layers.length === 1) {
      fs.mkdirSync(path.join(tmp, 'empty'))
      layers.push(path.join(tmp, 'empty'))
    }
    const base = snapshotsDir(this.root)
    let mounted = false
    const release = async (): Promise<void> => {
      if (mounted) await unmount(target).catch(() => run('umount', ['-l', target]).catch(() => {}))
      // rmdir, never a recursive remove: should the unmount have failed, the snapshot's files stay untouched.
      for (const d of [target, path.join(tmp, 'empty'), tmp]) {
        try {
          fs.rmdirSync(d)
        } catch {
          // still mounted, or never made
        }
      }
    }
    try {
      const mounts = checkMountable(key, [{type: 'overlay', source: 'overlay', options: [`lowerdir=${layers.join(':')}`]}], base)
      await mountAll(mounts, target, base)
      mounted = true
    } catch (err) {
      await release()
      throw err
    }
    return {dir: target, release}
  }
}
