import fs from 'node:fs'
import type {Usage} from './snapshotter.js'

/**
 * Allocated bytes and distinct inodes under `root`, the root itself included,
 * counting each inode once (hard links) — what containerd's fs.DiskUsage reports.
 * With `counts`, only the entries it accepts are counted (every directory is
 * still walked): it gets each one's path relative to `root` (empty for the
 * root itself) and its lstat. Names are walked as bytes: a layer may hold
 * names that are not UTF-8.
 */
export function diskUsage(root: string, counts?: (rel: Buffer, st: fs.BigIntStats) => boolean): Usage {
  const seen = new Set<string>()
  let blocks = 0n
  const visit = (rel: Buffer, st: fs.BigIntStats): void => {
    if (counts && !counts(rel, st)) return
    const id = `${st.dev}:${st.ino}`
    if (seen.has(id)) return
    seen.add(id)
    blocks += st.blocks
  }
  const slash = Buffer.from('/')
  const top = Buffer.from(root)
  // The relative path is a view into the full one: nothing is copied for it.
  const rel = (full: Buffer): Buffer => (full.length === top.length ? Buffer.alloc(0) : full.subarray(top.length + 1))
  const stack: Buffer[] = [top]
  visit(rel(top), fs.lstatSync(top, {bigint: true}))
  while (stack.length > 0) {
    const dir = stack.pop()!
    for (const ent of fs.readdirSync(dir, {withFileTypes: true, encoding: 'buffer'})) {
      const p = Buffer.concat([dir, slash, ent.name])
      visit(rel(p), fs.lstatSync(p, {bigint: true}))
      if (ent.isDirectory()) stack.push(p)
    }
  }
  return {size: Number(blocks * 512n), inodes: seen.size}
}
