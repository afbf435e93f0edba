import fs from 'node:fs'
import path from 'node:path'

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
  fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  return fs.mkdtempSync(path.join(dir, `${TEMP_PREFIX}${process.pid}-`))
}

/** The pid in a `new-<pid>-XXXXXX` name, if any. */
export function tempDirPid(name: string): number | undefined {
  const m = /^new-(\d+)-/.exec(name)
  return m ? Number(m[1]) : undefined
}
