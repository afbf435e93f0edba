// Child process for the store tests: many of these lock, write and read one
// root at once, or are SIGKILLed at chosen points. Runs the built code (dist/):
// Node 20 cannot import the TypeScript sources.
//
//   ops ROOT SNAPSHOTTER WORKER N   N prepares, label updates and removals; prints what must survive
//   read ROOT SNAPSHOTTER STOP      read the store in a loop until file STOP exists; exits 1 on any error
//   hold DIR                        take DIR's store lock, print "locked", never release
//   block DIR MS                    inside a write: insert a row, block the event loop MS ms, then commit
//   dir-fsync-fails ROOT SNAPSHOTTER KEY  prepare KEY while every directory fsync fails
//   crash ROOT SNAPSHOTTER STEP OP ARGS...  run OP (prepare KEY PARENT | rm KEY | commit NAME KEY),
//                                   SIGKILL self at STEP (a kill point of killpoints.mjs)
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist')
const {openSnapshotter} = await import(`${dist}/core/open.js`)
const {Metastore} = await import(`${dist}/core/store/metastore.js`)
const {armKillPoint} = await import('./killpoints.mjs')

const [cmd, ...args] = process.argv.slice(2)
const out = obj => process.stdout.write(JSON.stringify(obj) + '\n')

if (cmd === 'ops') {
  const [root, snapshotter, worker, n] = args
  const s = openSnapshotter({root, snapshotter})
  const kept = {}
  const removed = []
  for (let i = 0; i < Number(n); i++) {
    const key = `w${worker}-${i}`
    await s.prepare(key, '', {labels: {worker: String(worker)}})
    kept[key] = {worker: String(worker)}
    if (i % 3 === 1) {
      await s.updateLabels(key, {step: String(i), worker: null})
      kept[key] = {step: String(i)}
    }
    if (i % 5 === 4) {
      await s.remove(key)
      delete kept[key]
      removed.push(key)
    }
  }
  out({kept, removed})
} else if (cmd === 'read') {
  const [root, snapshotter, stop] = args
  const s = openSnapshotter({root, snapshotter})
  const file = path.join(s.root, 'metadata.db')
  let reads = 0
  const counts = new Set()
  while (!fs.existsSync(stop)) {
    const infos = await s.walk()
    // Keys only grow or shrink by whole snapshots: every one read back has its labels.
    for (const i of infos) if (Object.keys(i.labels).length === 0) throw new Error(`snapshot ${i.name} read without labels`)
    counts.add(infos.length)
    // And the raw file: an SQLite header and exactly its page count, never a torn copy.
    if (fs.existsSync(file)) {
      const b = fs.readFileSync(file)
      if (b.length === 0 || b.toString('latin1', 0, 15) !== 'SQLite format 3' || b.length !== b.readUInt16BE(16) * b.readUInt32BE(28)) {
        throw new Error(`torn read of ${file}: ${b.length} bytes`)
      }
    }
    reads++
  }
  out({reads, distinctCounts: counts.size})
} else if (cmd === 'hold') {
  const store = new Metastore(args[0])
  await store.write(async () => {
    out({locked: true})
    // A pending timer keeps the process alive (a bare pending promise would let it exit).
    await new Promise(() => setInterval(() => {}, 60_000))
  })
} else if (cmd === 'block') {
  const [dir, ms] = args
  const store = new Metastore(dir)
  try {
    await store.write(tx => {
      tx.db.run("INSERT INTO snapshots (namespace, key, kind, created, updated) VALUES ('default', 'blocked', 'Active', 'x', 'x')")
      out({blocking: true})
      // A synchronous stretch longer than the stale window: the refresh timer cannot run.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms))
      tx.commit()
    })
    out({ok: true})
  } catch (err) {
    out({error: err.constructor.name, message: err.message})
  }
} else if (cmd === 'crash') {
  const [root, snapshotter, step, op, ...rest] = args
  armKillPoint(step)
  const s = openSnapshotter({root, snapshotter})
  if (op === 'prepare') await s.prepare(rest[0], rest[1] ?? '')
  else if (op === 'rm') await s.remove(rest[0])
  else if (op === 'commit') await s.commit(rest[0], rest[1])
  else throw new Error(`unknown op ${op}`)
  // Reaching here means the kill point was never hit: the test must fail.
  out({survived: true})
  process.exit(3)
} else if (cmd === 'dir-fsync-fails') {
  // prepare KEY on a filesystem whose directory fsync fails (EIO) after the rename of metadata.db.
  const [root, snapshotter, key] = args
  const realFsync = fs.fsyncSync
  fs.fsyncSync = fd => {
    if (fs.fstatSync(fd).isDirectory()) throw Object.assign(new Error('EIO: i/o error, fsync'), {code: 'EIO'})
    realFsync(fd)
  }
  const s = openSnapshotter({root, snapshotter})
  try {
    await s.prepare(key, '')
    out({ok: true})
  } catch (err) {
    out({error: err.constructor.name, message: err.message})
  }
} else {
  throw new Error(`unknown command ${cmd}`)
}
