import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {makeDirs} from '../dirs.js'
import {fsError} from '../errors.js'
import {type MountinfoEntry, useOf} from '../mount.js'
import {removeTree} from '../fs/remove.js'
import type {Kind} from '../snapshotter.js'

/** `<root>/snapshots`: one directory per snapshot id, plus in-flight `new-*` and `rm-*`. */
export function snapshotsDir(root: string): string {
  return path.join(root, 'snapshots')
}

export const TEMP_PREFIX = 'new-'
export const REMOVING_PREFIX = 'rm-'

/**
 * A free name `new-<pid>-XXXXXXXX` in `dir` (created if missing), not created
 * itself: work in flight is recognisable as such while its process lives.
 */
export function tempPath(dir: string): string {
  makeDirs(dir, 0o700)
  for (;;) {
    const p = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`)
    if (!fs.existsSync(p)) return p
  }
}

/** A new empty directory `new-<pid>-XXXXXX` in `dir` (created if missing). */
export function makeTempDir(dir: string): string {
  const prefix = path.join(dir, `${TEMP_PREFIX}${process.pid}-`)
  // Twice at most: a failed first prepare may take back an empty snapshots/ between our making it and our using it.
  for (let attempt = 1; ; attempt++) {
    makeDirs(dir, 0o700)
    try {
      return fs.mkdtempSync(prefix)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 2) throw fsError('create', `${prefix}XXXXXX`, err)
    }
  }
}

/** The pid in a `new-<pid>-XXXXXX` name, if any. */
export function tempDirPid(name: string): number | undefined {
  const m = /^new-(\d+)-/.exec(name)
  return m ? Number(m[1]) : undefined
}

/**
 * The layout overlayfs and native share: every snapshot's directory is
 * `snapshots/<id>` whatever its kind, so commit moves nothing; in-flight
 * names and staging are under snapshots/ too, layer locks under `locks/`.
 * Plain directories: removed by removeTree, in use when mountinfo says so.
 */
export abstract class PlainLayout {
  constructor(readonly root: string) {}

  checkRoot(): void {}

  dirOf(ref: {id: number}): string {
    return path.join(snapshotsDir(this.root), String(ref.id))
  }

  kindDirs(): {dir: string; kind: Kind | null}[] {
    return [{dir: snapshotsDir(this.root), kind: null}]
  }

  tempPath(): string {
    return tempPath(snapshotsDir(this.root))
  }

  async commitDir(): Promise<void> {}

  removingPath(ref: {id: number}): string {
    return path.join(snapshotsDir(this.root), `${REMOVING_PREFIX}${ref.id}`)
  }

  async removeDir(p: string): Promise<void> {
    removeTree(p)
  }

  async useOf(p: string, mountinfo: readonly MountinfoEntry[]): Promise<string | undefined> {
    return useOf(p, mountinfo)
  }

  stagingDir(): string {
    return makeTempDir(snapshotsDir(this.root))
  }

  lockDir(): string {
    return path.join(this.root, 'locks')
  }
}
