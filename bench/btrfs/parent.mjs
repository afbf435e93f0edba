#!/usr/bin/env node
// Make the committed parent the prepare benchmark builds on: `base`, 400 MB (391 MiB)
// of incompressible data in 4,000 files of 100 KiB (100 directories of 40), made
// through the core (dist/) as `prepare base-a`, files written into its own
// directory, `commit base base-a`. Deterministic bytes (sha256 in counter mode).
// Usage: node bench/btrfs/parent.mjs ROOT SNAPSHOTTER
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const {openSnapshotter} = await import(pathToFileURL(path.join(repo, 'dist/core/open.js')).href)
const [root, snapshotter] = process.argv.slice(2)
if (!root || !snapshotter) throw new Error('usage: parent.mjs ROOT SNAPSHOTTER')

const FILE = 100 * 1024
let counter = 0
function noise(n) {
  const buf = Buffer.alloc(n)
  for (let o = 0; o < n; o += 32) crypto.createHash('sha256').update(`parent-${counter++}`).digest().copy(buf, o)
  return buf
}
const s = openSnapshotter({root, snapshotter})
await s.prepare('base-a', '')
const own = (await s.layerPaths('base-a')).own
for (let d = 0; d < 100; d++) {
  fs.mkdirSync(path.join(own, `d${d}`))
  for (let f = 0; f < 40; f++) fs.writeFileSync(path.join(own, `d${d}`, `f${f}`), noise(FILE))
}
await s.commit('base', 'base-a')
const u = await s.usage('base')
console.log(`${snapshotter}: base is ${(u.size / 2 ** 20).toFixed(0)} MiB in ${u.inodes} inodes`)
