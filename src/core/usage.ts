import fs from 'node:fs'
import path from 'node:path'
import type {Usage} from './snapshotter.js'

/**
 * Allocated bytes and distinct inodes under `root`, the root itself included,
 * counting each inode once (hard links) — what containerd's fs.DiskUsage reports.
 */
export function diskUsage(root: string): Usage {
  const seen = new Set<string>()
  let blocks = 0n
  const visit = (st: fs.BigIntStats): void => {
    const id = `${st.dev}:${st.ino}`
    if (seen.has(id)) return
    seen.add(id)
    blocks += st.blocks
  }
  const stack: string[] = [root]
  visit(fs.lstatSync(root, {bigint: true}))
  while (stack.length > 0) {
    const dir = stack.pop()!
    for (const ent of fs.readdirSync(dir, {withFileTypes: true})) {
      const p = path.join(dir, ent.name)
      visit(fs.lstatSync(p, {bigint: true}))
      if (ent.isDirectory()) stack.push(p)
    }
  }
  return {size: Number(blocks * 512n), inodes: seen.size}
}
