import fs from 'node:fs'
import path from 'node:path'
import {makeDirs} from '../dirs.js'
import {fsError} from '../errors.js'

/** `<root>/snapshots`: one directory per snapshot id, plus in-flight `new-*` and `rm-*`. */
export function snapshotsDir(root: string): string {
  return path.join(root, 'snapshots')
}

export function snapshotDir(root: string, id: number): string {
  return path.join(root, 'snapshots', String(id))
}

export const TEMP_PREFIX = 'new-'
export const REMOVING_PREFIX = 'rm-'

/**
 * A temp dir under snapshots/ named `new-<pid>-XXXXXX`: work done outside the
 * lock (extraction) is recognisable as in flight while its process lives.
 */
export function makeTempDir(root: string): string {
  const dir = snapshotsDir(root)
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
