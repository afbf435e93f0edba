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

export function makeTempDir(root: string): string {
  const dir = snapshotsDir(root)
  fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  return fs.mkdtempSync(path.join(dir, TEMP_PREFIX))
}
