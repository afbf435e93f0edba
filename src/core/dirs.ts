import fs from 'node:fs'
import path from 'node:path'
import {fsError, SnapshotError} from './errors.js'

/** Every directory makeDirs made in this process (a process is one command), for takeBackCreatedDirs. */
const made: string[] = []

/**
 * `mkdir -p` in a bounded number of system calls (one stat and at most one
 * mkdir per missing level), failing with the kernel's reason and the directory
 * it refused. Node's recursive mkdir is neither: where mkdir fails with ENOENT
 * under an existing parent (under /proc) it retries forever, and on a
 * read-only file system it reports ENOENT instead of EROFS.
 */
export function makeDirs(dir: string, mode = 0o777): void {
  const target = path.resolve(dir)
  const missing: string[] = []
  for (let cur = target; ; cur = path.dirname(cur)) {
    let st: fs.Stats
    try {
      st = fs.statSync(cur)
    } catch (err) {
      // ENOTDIR: a level above is not a directory; keep going up to name it.
      const code = (err as NodeJS.ErrnoException).code
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(cur) === cur) throw fsError('create', target, err)
      missing.push(cur)
      continue
    }
    if (!st.isDirectory()) throw new SnapshotError('unavailable', `cannot create ${target}: ${cur} is not a directory (ENOTDIR)`)
    break
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, {mode})
      made.push(d)
    } catch (err) {
      // Another process made it meanwhile: as good as ours.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isDir(d)) continue
      throw fsError('create', d, err)
    }
  }
}

/**
 * A failed command leaves no directory behind: remove those this process
 * made that are still empty, deepest first. One holding anything (a
 * metadata.db, another process's work) stays, and so do its parents.
 */
export function takeBackCreatedDirs(): void {
  for (const d of made.sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(d)
    } catch {
      // not empty, or gone
    }
  }
  made.length = 0
}

/** A command succeeded: what it made stays (batch runs many commands in one process). */
export function keepCreatedDirs(): void {
  made.length = 0
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}
