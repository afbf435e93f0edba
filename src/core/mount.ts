import fs from 'node:fs'
import path from 'node:path'
import {FailedPreconditionError} from './errors.js'
import {run} from './exec.js'
import type {Mount} from './snapshotter.js'

/** mount(2) copies at most one page of option data; longer strings are cut and the mount fails. */
export const MAX_MOUNT_DATA = 4095
/** OVL_MAX_STACK: the most lower layers one overlay mount takes. */
export const MAX_OVERLAY_LOWERS = 500

export function optionBytes(m: Mount): number {
  return Buffer.byteLength(m.options.join(','))
}

/**
 * Rewrite overlay paths relative to `base`, as containerd's mount helper
 * does (compactLowerdirOption): run from `base`, a chain of hundreds of
 * layers fits in one page. Non-overlay mounts are returned as they are.
 */
export function relativeOverlay(m: Mount, base: string): Mount {
  if (m.type !== 'overlay') return m
  const rel = (p: string): string => (path.isAbsolute(p) && p.startsWith(base + path.sep) ? p.slice(base.length + 1) : p)
  const options = m.options.map(o => {
    const eq = o.indexOf('=')
    const name = eq < 0 ? o : o.slice(0, eq)
    if (name === 'lowerdir') return `lowerdir=${o.slice(eq + 1).split(':').map(rel).join(':')}`
    if (name === 'upperdir' || name === 'workdir') return `${name}=${rel(o.slice(eq + 1))}`
    return o
  })
  return {...m, options}
}

export function lowerCount(m: Mount): number {
  const opt = m.options.find(o => o.startsWith('lowerdir='))
  return opt ? opt.slice('lowerdir='.length).split(':').length : 0
}

/** Refuse before anything is mounted what the kernel would refuse half-way. */
export function checkMountable(key: string, mounts: readonly Mount[], base: string): Mount[] {
  return mounts.map(m => {
    const n = lowerCount(m)
    if (n > MAX_OVERLAY_LOWERS) {
      throw new FailedPreconditionError(`snapshot "${key}" has ${n} lower layers; overlayfs mounts at most ${MAX_OVERLAY_LOWERS}`)
    }
    const rel = relativeOverlay(m, base)
    const bytes = optionBytes(rel)
    if (bytes > MAX_MOUNT_DATA) {
      throw new FailedPreconditionError(`snapshot "${key}": mount options are ${bytes} bytes even with relative paths, more than the kernel's ${MAX_MOUNT_DATA}`)
    }
    return rel
  })
}

/** Mount each entry at target, in order, from `cwd` (relative overlay paths resolve there). */
export async function mountAll(mounts: readonly Mount[], target: string, cwd: string): Promise<void> {
  const done: string[] = []
  try {
    for (const m of mounts) {
      // mount(8) wants bind options as flags it understands; `-o rbind,ro` does a recursive read-only bind.
      const args = ['-t', m.type, ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source, target]
      await run('mount', args, {cwd})
      done.push(target)
    }
  } catch (err) {
    for (const t of done.reverse()) await run('umount', [t]).catch(() => {})
    throw err
  }
}

export async function unmount(target: string): Promise<void> {
  await run('umount', [target])
}

/** Octal escapes of /proc/self/mountinfo (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}

export interface MountinfoEntry {
  /** Path of the mounted directory within its filesystem (field 4). */
  root: string
  mountPoint: string
  fsType: string
  source: string
  superOptions: string
}

/** The kernel's view of what is mounted now: a mount removed by hand is not believed. */
export function readMountinfo(file = '/proc/self/mountinfo'): MountinfoEntry[] {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return []
  }
  const out: MountinfoEntry[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const [pre, post] = line.split(' - ')
    const f = pre!.split(' ')
    const g = (post ?? '').split(' ')
    out.push({root: unescapeMountinfo(f[3] ?? ''), mountPoint: unescapeMountinfo(f[4] ?? ''), fsType: g[0] ?? '', source: unescapeMountinfo(g[1] ?? ''), superOptions: g[2] ?? ''})
  }
  return out
}

export function liveMountPoints(entries: readonly MountinfoEntry[] = readMountinfo()): Set<string> {
  return new Set(entries.map(e => e.mountPoint))
}

/**
 * `p` made absolute with its existing part's symlinks resolved, as the
 * kernel names mount points; the missing rest is appended as written.
 */
export function resolveExisting(p: string): string {
  const abs = path.resolve(p)
  const tail: string[] = []
  for (let dir = abs; ; dir = path.dirname(dir)) {
    try {
      return path.join(fs.realpathSync(dir), ...tail.reverse())
    } catch {
      if (dir === path.dirname(dir)) return abs
      tail.push(path.basename(dir))
    }
  }
}

/** Whether `p` is `dir` or below it (both absolute and normalised). */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === path.sep ? dir : dir + path.sep)
}

/** Mount points at or below `dir`, in the kernel's table order: what a recursive removal of `dir` would cross. */
export function mountsInside(dir: string, entries: readonly MountinfoEntry[] = readMountinfo()): string[] {
  const real = resolveExisting(dir)
  return entries.map(e => e.mountPoint).filter(m => isWithin(m, real))
}

/**
 * What holds `dir`, for a message, or undefined: a mount at or below it, or
 * a mount whose source is it (bind root, overlay layer given as an absolute path).
 */
export function useOf(dir: string, entries: readonly MountinfoEntry[]): string | undefined {
  const inside = mountsInside(dir, entries)[0]
  if (inside !== undefined) return `${inside} is mounted ${inside === resolveExisting(dir) ? 'on it' : 'inside it'}`
  const prefix = dir + path.sep
  const user = entries.find(e => e.root === dir || e.root.startsWith(prefix) || e.superOptions.includes(dir + path.sep) || e.superOptions.includes(dir + ','))
  return user && `it is a source of the mount at ${user.mountPoint}`
}

/** Whether anything is mounted at or below `dir`, or `dir` is the source of a mount (bind root or overlay layer). */
export function isInUse(dir: string, entries: readonly MountinfoEntry[]): boolean {
  return useOf(dir, entries) !== undefined
}
