// Kill points: SIGKILL this process at a named step of a store write, for the crash
// tests. The modules under test use node:fs's default export (the bundle too), so
// patching it here reaches them. Used two ways:
//   import {armKillPoint} from './killpoints.mjs'; armKillPoint(step)   (worker-store.mjs)
//   node --import test/helpers/killpoints.mjs with CTRSNAP_TEST_KILLPOINT=step  (any process, the CLI)
import fs from 'node:fs'
import path from 'node:path'

const die = () => process.kill(process.pid, 'SIGKILL')
const isDbTemp = p => path.basename(String(p)).startsWith('.metadata.db.tmp-')
// A snapshot's own directory: snapshots/<id> (overlayfs, native; btrfs committed), active/<id> and view/<id> (btrfs).
const isSnapDir = p => /\/(snapshots|active|view)\/\d+$/.test(String(p))
const real = {mkdirSync: fs.mkdirSync, renameSync: fs.renameSync, openSync: fs.openSync, writeSync: fs.writeSync}

// In the order a write goes through them.
const steps = {
  // prepare: an empty temp dir (the driver's build at its tempPath) exists
  'temp-created': () => { fs.mkdirSync = (p, ...a) => { const r = real.mkdirSync(p, ...a); if (path.basename(String(p)).startsWith('new-')) die(); return r } },
  // prepare: populated temp dir, not yet in place
  'before-dir-rename': () => { fs.renameSync = (from, to) => { if (isSnapDir(to)) die(); real.renameSync(from, to) } },
  // prepare: the directory is in place, its record not yet persisted
  'after-dir-rename': () => { fs.renameSync = (from, to) => { real.renameSync(from, to); if (isSnapDir(to)) die() } },
  // any write: half of the new metadata.db written to its temp file
  'db-half-written': () => {
    const dbFds = new Set()
    fs.openSync = (p, ...a) => { const fd = real.openSync(p, ...a); if (isDbTemp(p)) dbFds.add(fd); return fd }
    fs.writeSync = (fd, data, off = 0, len, ...a) => {
      if (!dbFds.has(fd)) return real.writeSync(fd, data, off, len, ...a)
      real.writeSync(fd, data, off, Math.floor((len ?? data.length) / 2))
      die()
    }
  },
  // any write: the temp file is complete and synced, not yet renamed over metadata.db
  'db-before-rename': () => { fs.renameSync = (from, to) => { if (isDbTemp(from)) die(); real.renameSync(from, to) } },
  // any write: the new metadata.db is in place (removal: its directory not yet moved aside)
  'db-after-rename': () => { fs.renameSync = (from, to) => { real.renameSync(from, to); if (isDbTemp(from)) die() } },
  // rm: the directory is moved aside to rm-<id>, not yet deleted
  'after-rm-rename': () => { fs.renameSync = (from, to) => { real.renameSync(from, to); if (path.basename(to).startsWith('rm-')) die() } },
}

export function armKillPoint(step) {
  if (!steps[step]) throw new Error(`unknown kill point ${step}`)
  steps[step]()
}

if (process.env.CTRSNAP_TEST_KILLPOINT) armKillPoint(process.env.CTRSNAP_TEST_KILLPOINT)
