import fs from 'node:fs'
import type {Usage} from './snapshotter.js'

/**
 * Allocated bytes and distinct inodes under `root`, the root itself included,
 * counting each inode once (hard links) — what containerd's fs.DiskUsage reports.
 * Names are walked as bytes: a layer may hold names that are not UTF-8.
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
  const slash = Buffer.from('/')
  const stack: Buffer[] = [Buffer.from(root)]
  visit(fs.lstatSync(stack[0]!, {bigint: true}))
  while (stack.length > 0) {
    const dir = stack.pop()!
    for (const ent of fs.readdirSync(dir, {withFileTypes: true, encoding: 'buffer'})) {
      const p = Buffer.concat([dir, slash, ent.name])
      visit(fs.lstatSync(p, {bigint: true}))
      if (ent.isDirectory()) stack.push(p)
    }
  }
  return {size: Number(blocks * 512n), inodes: seen.size}
}
