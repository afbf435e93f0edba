// Perform a snapshotter's Mount[] for real with mount(8), independently of
// src/core/mount.ts, so the conformance suite checks the mounts a snapshotter
// returns rather than the code that would perform them.
import fs from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import type {Mount} from '../../src/core/snapshotter.js'

/** mount(2) copies one page of option data, NUL included. */
export const PAGE_OPTION_LIMIT = 4095

const PATH_OPTIONS = new Set(['lowerdir', 'upperdir', 'workdir'])

/** Overlay path options under `base` rewritten relative to it (mount is then run with cwd = base). */
export function relativeTo(m: Mount, base: string): Mount {
  const rel = (p: string): string => {
    if (!p.startsWith(base + path.sep)) throw new Error(`overlay path ${p} is not under ${base}`)
    return p.slice(base.length + 1)
  }
  const options = m.options.map(o => {
    const eq = o.indexOf('=')
    if (eq < 0 || !PATH_OPTIONS.has(o.slice(0, eq))) return o
    return `${o.slice(0, eq + 1)}${o.slice(eq + 1).split(':').map(rel).join(':')}`
  })
  return {...m, options}
}

export interface MountOptions {
  /**
   * Run mount from this directory with overlay paths made relative to it:
   * how a deep chain's lowerdir fits in one page.
   */
  relativeTo?: string
}

/** Mount every entry at `target` (created if missing), stacking in order; on failure undo what was mounted. */
export async function mountAll(mounts: readonly Mount[], target: string, opts: MountOptions = {}): Promise<void> {
  if (mounts.length === 0) throw new Error('no mounts to perform')
  fs.mkdirSync(target, {recursive: true})
  let done = 0
  try {
    for (const raw of mounts) {
      const m = opts.relativeTo && raw.type === 'overlay' ? relativeTo(raw, opts.relativeTo) : raw
      const args = ['-t', m.type, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.source, target]
      const r = await execa('mount', args, {cwd: opts.relativeTo, reject: false, env: {LC_ALL: 'C'}})
      if (r.exitCode !== 0) throw new Error(`mount ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr}`)
      done++
    }
  } catch (err) {
    for (; done > 0; done--) await execa('umount', [target], {reject: false})
    throw err
  }
}

/** Whether something is mounted exactly at `dir` (the kernel's table, not ours). */
export function isMountPoint(dir: string): boolean {
  const real = fs.realpathSync(dir)
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some(line => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === real)
}

/** Unmount everything stacked at `target`; lazily as a last resort so a failed test never leaves a busy mount behind. */
export async function unmountAll(target: string): Promise<void> {
  if (!fs.existsSync(target)) return
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    const r = await execa('umount', [target], {reject: false})
    if (r.exitCode !== 0) {
      await execa('umount', ['-l', target], {reject: false})
      throw new Error(`umount ${target} failed: ${r.stderr}`)
    }
  }
}

/** Mount, run `fn` on the mounted directory, and always unmount. */
export async function withMounted<T>(mounts: readonly Mount[], target: string, fn: (dir: string) => T | Promise<T>, opts: MountOptions = {}): Promise<T> {
  await mountAll(mounts, target, opts)
  try {
    return await fn(target)
  } finally {
    await unmountAll(target)
  }
}
