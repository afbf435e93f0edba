#!/usr/bin/env node
// Build a benchmark root of N snapshots (default 10,000) in one process,
// through the core (dist/): one locked store transaction that does what
// `prepare` + `commit` do for each layer (record, directory built by the
// driver under a temp name and renamed into place), instead of N CLI calls.
// Shape: image-like chains of committed layers with 64-hex chain-id keys and a
// gc.root label, active snapshots and views on top of chain heads, and the
// fixed keys the latency bench uses: bench-base (committed), bench-active,
// bench-view.   Usage: node bench/latency/gen-root.mjs ROOT [N] [snapshotter]
// With --chain DEPTH instead: one chain of DEPTH committed layers chain-0 ..
// chain-<DEPTH-1>, each adding a file layer-<i> (bench/mounts).
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const load = m => import(pathToFileURL(path.join(repo, 'dist/core', m)).href)
const {openSnapshotter} = await load('open.js')
const q = await load('store/snapshots.js')
const {makeTempDir, snapshotDir} = await load('drivers/layout.js')
const {rfc3339Nano} = await load('time.js')

const argv = process.argv.slice(2)
const chainAt = argv.indexOf('--chain')
const chainDepth = chainAt >= 0 ? Number(argv.splice(chainAt, 2)[1]) : 0
const [root, nArg, snapshotterName = 'overlayfs'] = argv
if (!root) throw new Error('usage: gen-root.mjs ROOT [N] [snapshotter] | gen-root.mjs --chain DEPTH ROOT')
const n = chainDepth || Number(nArg ?? 10000)
const snap = openSnapshotter({root, snapshotter: snapshotterName})
const hex = () => crypto.randomBytes(32).toString('hex')
const CHAIN = 20 // layers per image

const t0 = performance.now()
await snap.store.write(async tx => {
  const db = tx.db
  db.run('BEGIN')
  let made = 0
  const add = async (key, kind, parentId, labels, commitAs, file) => {
    const id = q.insertSnapshot(db, key, kind, parentId, rfc3339Nano(), labels)
    const rec = q.getRecord(db, key)
    const ref = {id, kind, parentIds: q.parentIds(db, rec)}
    if (snap.driver.needsDir(ref)) {
      const tmp = makeTempDir(snap.root)
      await snap.driver.populate(tmp, ref)
      if (file) fs.writeFileSync(path.join(tmp, snap.name === 'overlayfs' ? 'fs' : '', file), `${file}\n`)
      fs.renameSync(tmp, snapshotDir(snap.root, id))
    }
    if (commitAs) q.commitRecord(db, id, commitAs, rfc3339Nano(), 4096, 1, labels)
    // Let the lock's refresh timer run: a store lock not refreshed for 10 s counts as lost.
    if (++made % 100 === 0) await new Promise(resolve => setImmediate(resolve))
    return id
  }
  if (chainDepth) {
    let parent = null
    for (let i = 0; i < chainDepth; i++) parent = await add(`chain-${i}-active`, 'Active', parent, {}, `chain-${i}`, `layer-${i}`)
    db.run('COMMIT')
    return
  }
  const base = await add('bench-base-tmp', 'Active', null, {}, 'bench-base')
  await add('bench-active', 'Active', base, {}, undefined)
  await add('bench-view', 'View', base, {}, undefined)
  const heads = []
  // 80 % committed layers in chains of CHAIN, the rest actives and views on chain heads.
  const committed = Math.floor((n - made) * 0.8)
  for (let i = 0; i < committed; i++) {
    const parent = i % CHAIN === 0 ? null : heads[heads.length - 1]
    const id = await add(`extract-${i}`, 'Active', parent, {}, `sha256:${hex()}`)
    if (i % CHAIN === 0) heads.push(id)
    else heads[heads.length - 1] = id
  }
  for (let i = 0; made < n; i++) {
    const parent = heads[i % heads.length]
    const kind = i % 4 === 3 ? 'View' : 'Active'
    await add(`${kind === 'View' ? 'view' : 'container'}-${i}-${hex().slice(0, 12)}`, kind, parent, {'containerd.io/gc.root': '2026-11-23T00:00:00Z'})
  }
  db.run('COMMIT')
})
const count = (await snap.store.read()).values('SELECT count(*) FROM snapshots')[0][0]
console.log(`${root}: ${count} snapshots (${snapshotterName}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
