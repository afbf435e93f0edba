import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {removeBtrfsTree, sharedLoopBtrfs} from './btrfs.js'

/** A fresh temp directory for one test's snapshot root; removed by the returned cleanup. */
export function tempRoot(prefix = 'ctrsnap-test-'): {dir: string; cleanup: () => void} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {dir, cleanup: () => fs.rmSync(dir, {recursive: true, force: true})}
}

/**
 * A fresh temp directory for a root of `snapshotter`: btrfs needs one on
 * btrfs, so it is made on this test file's loop btrfs (sharedLoopBtrfs);
 * the others get tempRoot's.
 */
export function tempRootFor(snapshotter: string, prefix = 'ctrsnap-test-'): {dir: string; cleanup: () => void} {
  if (snapshotter !== 'btrfs') return tempRoot(prefix)
  const dir = fs.mkdtempSync(path.join(sharedLoopBtrfs().dir, prefix))
  return {dir, cleanup: () => removeBtrfsTree(dir)}
}

export const isRoot = process.getuid?.() === 0
export const isLinux = process.platform === 'linux'
/** Real mounts need root on Linux; on CI both hold, so nothing skips there. */
export const canMount = isRoot && isLinux

/** A btrfs test makes a loop btrfs, which needs root on Linux: without, it skips, and its name says so (this suffix). */
export const loopSkips = (snapshotter: string): boolean => snapshotter === 'btrfs' && !canMount
export const loopNote = (snapshotter: string): string => (snapshotter === 'btrfs' ? ' (needs root on Linux)' : '')
