import fs from 'node:fs'
import path from 'node:path'
import {FailedPreconditionError} from '../errors.js'
import {mountsInside} from '../mount.js'

/** A removal refused, or stopped, at a mount: `reason` says which, for a caller that reports rather than fails (cleanup). */
export class MountInTheWayError extends FailedPreconditionError {
  constructor(readonly dir: string, readonly reason: string) {
    super(`cannot remove ${dir}: ${reason}; unmount it first`)
  }
}

/**
 * Delete a directory tree (or a single file), refusing before it touches
 * anything if /proc/self/mountinfo shows a mount at or below it, and never
 * leaving the file system `top` is on. Every directory is lstat'ed before it is entered: one
 * whose st_dev differs from top's is a mount point (or on one), so it is
 * neither entered nor deleted, and neither are the directories above it.
 * Symlinks are unlinked, never followed. Everything else is deleted; then,
 * if anything was on another file system, this throws naming it. A missing
 * `top` is nothing to do.
 *
 * The st_dev guard is for a mount that appears after the check. A bind
 * mount from the same file system has the same st_dev: only the mountinfo
 * check sees it. Names are handled as bytes (layers may hold non-UTF-8 names).
 */
export function removeTree(top: string): void {
  const inside = mountsInside(top)
  if (inside.length > 0) throw new MountInTheWayError(top, mountedInside(inside))
  removeOnDevice(top)
}

/** removeTree without the mountinfo check: the st_dev-guarded walk alone (exported for its test). */
export function removeOnDevice(top: string): void {
  let st: fs.Stats
  try {
    st = fs.lstatSync(top)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!st.isDirectory()) return unlinkQuiet(Buffer.from(top))
  const crossed: Buffer[] = []
  removeDir(Buffer.from(top), st.dev, crossed)
  if (crossed.length > 0) {
    const more = crossed.length > 1 ? ` (and ${crossed.length - 1} more)` : ''
    throw new MountInTheWayError(top, `${crossed[0]!.toString()} is on another file system (mounted after the check)${more}, so it and the directories above it were left`)
  }
}

/** Removes `dir`'s contents, then `dir`; returns false (and keeps `dir`) when something under it is on another file system. */
function removeDir(dir: Buffer, dev: number, crossed: Buffer[]): boolean {
  let clean = true
  let names: Buffer[]
  try {
    names = fs.readdirSync(dir, {encoding: 'buffer'})
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw err
  }
  for (const name of names) {
    const p = Buffer.concat([dir, SEP, name])
    let st: fs.Stats
    try {
      st = fs.lstatSync(p)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    // A bind-mounted file is a mount point too: never unlink across the boundary.
    if (st.dev !== dev) {
      crossed.push(p)
      clean = false
    } else if (st.isDirectory()) {
      if (!removeDir(p, dev, crossed)) clean = false
    } else {
      unlinkQuiet(p)
    }
  }
  if (!clean) return false
  try {
    fs.rmdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return true
}

/** "M is mounted inside it (and N more)": the words every refusal uses for mountsInside's answer. */
export function mountedInside(mountPoints: readonly string[]): string {
  return `${mountPoints[0]} is mounted inside it${mountPoints.length > 1 ? ` (and ${mountPoints.length - 1} more)` : ''}`
}

const SEP = Buffer.from(path.sep)

function unlinkQuiet(p: Buffer): void {
  try {
    fs.unlinkSync(p)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
