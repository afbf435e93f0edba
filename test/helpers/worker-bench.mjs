// Cost of one metadata write cycle (lock + load + export + atomic write + unlock),
// on a root with N snapshots. Runs dist/. Usage: worker-bench.mjs ROOT N REPEATS
// Prints medians in ms: the whole Metastore.write of a one-label update, its
// phases timed separately with the same building blocks, and a floor (the same
// bytes written and renamed without fsync).
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist')
const {Metastore} = await import(`${dist}/core/store/metastore.js`)
const {acquireLock} = await import(`${dist}/core/store/lock.js`)
const {writeFileAtomic} = await import(`${dist}/core/store/atomic-file.js`)
const {loadSqlJs} = await import(`${dist}/core/store/sqljs.js`)
const q = await import(`${dist}/core/store/snapshots.js`)

const [root, n, repeats] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 30)]
fs.rmSync(root, {recursive: true, force: true})
const store = new Metastore(root)
// Like real snapshots: chains of 50 committed layers with two labels each. In
// batches: one long synchronous transaction would outlast the lock's stale time.
let parent = null
for (let start = 0; start < n; start += 500) {
  await store.write(tx => {
    tx.db.run('BEGIN')
    for (let i = start; i < Math.min(n, start + 500); i++) {
      const now = new Date(1_700_000_000_000 + i).toISOString()
      parent = q.insertSnapshot(tx.db, `sha256:${String(i).padStart(64, '0')}`, 'Committed', i % 50 === 0 ? null : parent, now, {'containerd.io/snapshot.ref': `ref-${i}`, 'containerd.io/gc.root': now})
    }
    tx.db.run('COMMIT')
  })
}
await store.write(tx => { q.insertSnapshot(tx.db, 'target', 'Active', null, new Date().toISOString(), {}) })
const size = fs.statSync(store.file).size

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const t = () => performance.now()
const phases = {lock: [], read: [], open: [], export: [], write: [], unlock: [], cycle: [], floorNoFsync: []}
const SQL = await loadSqlJs()
for (let r = 0; r < repeats; r++) {
  let t0 = t()
  await store.write(tx => {
    const rec = q.getRecord(tx.db, 'target')
    q.updateLabels(tx.db, rec.id, {n: String(r)}, new Date().toISOString())
  })
  phases.cycle.push(t() - t0)

  t0 = t()
  const lock = await acquireLock(store.file)
  let t1 = t(); phases.lock.push(t1 - t0); t0 = t1
  const buf = fs.readFileSync(store.file)
  t1 = t(); phases.read.push(t1 - t0); t0 = t1
  const db = new SQL.Database(buf)
  db.exec('PRAGMA user_version')
  t1 = t(); phases.open.push(t1 - t0); t0 = t1
  db.run("UPDATE labels SET value = value WHERE key = 'n'")
  const data = db.export()
  t1 = t(); phases.export.push(t1 - t0); t0 = t1
  lock.assertHeld()
  writeFileAtomic(store.file, data)
  t1 = t(); phases.write.push(t1 - t0); t0 = t1
  db.close()
  await lock.release()
  phases.unlock.push(t() - t0)

  // Floor for the write: the same bytes to a temp file and renamed, without the fsyncs.
  t0 = t()
  fs.writeFileSync(`${store.file}.floor`, data)
  fs.renameSync(`${store.file}.floor`, `${root}/floor`)
  phases.floorNoFsync.push(t() - t0)
}
const out = {snapshots: n, dbBytes: size, repeats}
for (const [k, v] of Object.entries(phases)) out[k] = Number(median(v).toFixed(2))
process.stdout.write(JSON.stringify(out) + '\n')
