import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'
import {loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

// Every case waits for a killed writer's lock to go stale: this process judges it with the
// shortest window (read at import, so set before it) instead of the 10 s default. Takeover after
// the default window is proven in store.test.ts ('taken over once stale (10 s), not before').
vi.hoisted(() => { process.env.CTRSNAP_LOCK_STALE_MS = '3000' })

import {openSnapshotter} from '../../src/core/open.js'
import {Metastore} from '../../src/core/store/metastore.js'
import {LOCK_STALE_MS} from '../../src/core/store/lock.js'
type Snapshotter = ReturnType<typeof openSnapshotter>

const HERE = path.dirname(fileURLToPath(import.meta.url))
const WORKER = path.resolve(HERE, '../helpers/worker-store.mjs')
const BIN = path.resolve(HERE, '../../bin/run.js')

beforeAll(() => {
  expect(LOCK_STALE_MS).toBe(3000)
  // The killed processes run dist/: it must be built from these sources.
  for (const f of ['core/store/lock', 'core/store/metastore', 'core/store/atomic-file', 'core/local', 'core/drivers/native', 'core/drivers/overlay', 'core/drivers/btrfs']) {
    const src = path.resolve(HERE, `../../src/${f}.ts`)
    const dist = path.resolve(HERE, `../../dist/${f}.js`)
    if (fs.statSync(dist).mtimeMs < fs.statSync(src).mtimeMs) throw new Error(`dist is older than src/${f}.ts: run npm run build`)
  }
})

/** Run OP in a child that SIGKILLs itself at STEP; fails unless it died there. */
async function crash(root: string, snapshotter: string, step: string, op: string[]): Promise<void> {
  // The writer itself keeps the default window: a cold process on a loaded machine may lag its
  // refresh past a short one's margin and fail before its kill point.
  const r = await execa('node', [WORKER, 'crash', root, snapshotter, step, ...op], {env: {CTRSNAP_LOCK_STALE_MS: ''}, reject: false})
  expect(r.signal, `${step} ${op.join(' ')}: ${r.stdout}${r.stderr}`).toBe('SIGKILL')
}

type Kind = 'Active' | 'View' | 'Committed'
/** Where each snapshotter keeps snapshot directories: btrfs one directory per kind, the others one for all (null). */
const KIND_DIRS: Record<string, [string, Kind | null][]> = {
  overlayfs: [['snapshots', null]],
  native: [['snapshots', null]],
  btrfs: [['active', 'Active'], ['view', 'View'], ['snapshots', 'Committed']],
}

/** What is left under the snapshotter root besides records with their directories, each classified. */
function leftovers(s: Snapshotter, recs: Map<number, Kind>): string[] {
  const out: string[] = []
  const dirs = KIND_DIRS[s.name]!
  for (const name of fs.readdirSync(s.root).sort()) {
    if (name === 'metadata.db' || dirs.some(([d]) => d === name)) continue
    if (name === 'metadata.db.lock') out.push('lock')
    else if (name.startsWith('.metadata.db.tmp-')) out.push('db-temp')
    else out.push(`unexpected ${name}`)
  }
  for (const [dir, kind] of dirs) {
    const full = path.join(s.root, dir)
    for (const name of fs.existsSync(full) ? fs.readdirSync(full).sort() : []) {
      if (/^\d+$/.test(name)) {
        const rec = recs.get(Number(name))
        // An id directory in the wrong kind's directory (btrfs) is an orphan too: a commit killed on either side of its persist.
        if (rec === undefined || (kind !== null && rec !== kind)) out.push('orphan')
      } else if (name.startsWith('new-')) out.push('new')
      else if (name.startsWith('rm-')) out.push('rm')
      else out.push(`unexpected ${dir}/${name}`)
    }
  }
  return out.sort()
}

/**
 * The invariants a kill must keep: the store opens and passes integrity_check,
 * every record's directory is there and complete, parents are committed
 * records. Returns the records' kinds by id.
 */
async function assertConsistent(s: Snapshotter): Promise<Map<number, Kind>> {
  const db = await new Metastore(s.root).read()
  expect(db.values('PRAGMA integrity_check')).toEqual([['ok']])
  expect(db.values('PRAGMA foreign_key_check')).toEqual([])
  const rows = db.values('SELECT s.id, s.kind, p.kind FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id')
  for (const [id, kind, parentKind] of rows) {
    if (parentKind !== null) expect(parentKind).toBe('Committed')
    const dir = path.join(s.root, 'snapshots', String(id))
    if (s.name === 'btrfs') {
      // The record's kind says where its subvolume is; a subvolume's root is inode 256.
      const [kindDir] = KIND_DIRS.btrfs!.find(([, k]) => k === kind)!
      expect(fs.statSync(path.join(s.root, kindDir, String(id))).ino, `${kind} ${id}`).toBe(256)
    } else if (s.name === 'overlayfs') {
      expect(fs.statSync(path.join(dir, 'fs')).isDirectory()).toBe(true)
      if (kind === 'Active') expect(fs.statSync(path.join(dir, 'work')).isDirectory()).toBe(true)
    } else if (kind !== 'View') {
      expect(fs.statSync(dir).isDirectory()).toBe(true)
    }
  }
  return new Map(rows.map(r => [r[0] as number, r[1] as Kind]))
}

const names = async (s: Snapshotter) => (await s.walk()).map(i => `${i.name}:${i.kind}:${i.parent}`)

/** Cleanup takes every leftover, and leaves exactly the directories with records. */
async function assertCleanupReclaims(s: Snapshotter): Promise<void> {
  await s.cleanup()
  expect(leftovers(s, await assertConsistent(s))).toEqual([])
}

const base = ['base:Committed:', 'work:Active:base']

for (const snapshotter of ['overlayfs', 'native', 'btrfs'] as const) {
  describe.skipIf(loopSkips(snapshotter)).concurrent(`SIGKILL during ${snapshotter} writes${loopNote(snapshotter)}`, () => {
    /**
     * Run a test on a root with base (committed, one file), work (active child
     * of base) and gone (active, one file). Tests here run concurrently (most of
     * their time is waiting for a dead writer's lock to go stale): each removes its own root.
     */
    const withRoot = (fn: (r: {dir: string; s: Snapshotter}) => Promise<void>) => async () => {
      const r = tempRootFor(snapshotter)
      try {
        await fn(await setup(r.dir))
      } finally {
        r.cleanup()
      }
    }

    async function setup(dir: string): Promise<{dir: string; s: Snapshotter}> {
      const s = openSnapshotter({root: dir, snapshotter})
      await s.prepare('base-a', '')
      fs.writeFileSync(path.join((await s.layerPaths('base-a')).own!, 'hello'), 'world')
      await s.commit('base', 'base-a', {labels: {l: 'base'}})
      await s.prepare('work', 'base')
      await s.prepare('gone', '')
      fs.writeFileSync(path.join((await s.layerPaths('gone')).own!, 'f'), 'x')
      return {dir, s}
    }

    // prepare: the directory is built aside and renamed into place before the record is persisted.
    // On btrfs there is no step between an empty temp directory and a built one: the subvolume is made whole, by one ioctl.
    const prepareCases: [string, boolean, string[]][] = [
      ...(snapshotter === 'btrfs' ? [] : [['temp-created', false, ['lock', 'new']] as [string, boolean, string[]]]),
      ['before-dir-rename', false, ['lock', 'new']],
      ['after-dir-rename', false, ['lock', 'orphan']],
      ['db-half-written', false, ['db-temp', 'lock', 'orphan']],
      ['db-before-rename', false, ['db-temp', 'lock', 'orphan']],
      ['db-after-rename', true, ['lock']],
    ]
    for (const [step, exists, left] of prepareCases) {
      it(`prepare killed at ${step}: the key is ${exists ? 'complete' : 'absent'}, leftovers are ${left.join(', ')}; prepare again works`, withRoot(async ({dir, s}) => {
        await crash(dir, snapshotter, step, ['prepare', 'p', 'base'])
        const ids = await assertConsistent(s)
        expect(leftovers(s, ids)).toEqual(left)
        expect(await names(s)).toEqual(exists ? ['base:Committed:', 'gone:Active:', 'p:Active:base', 'work:Active:base'] : ['base:Committed:', 'gone:Active:', 'work:Active:base'])
        if (exists && snapshotter !== 'overlayfs') expect(fs.readFileSync(path.join((await s.layerPaths('p')).own!, 'hello'), 'utf8')).toBe('world')
        // The same key (unless it exists) and another key, after the dead writer's lock goes stale.
        if (!exists) await s.prepare('p', 'base')
        await s.prepare('q', 'base')
        expect(await names(s)).toEqual(['base:Committed:', 'gone:Active:', 'p:Active:base', 'q:Active:base', 'work:Active:base'])
        await assertConsistent(s)
        await assertCleanupReclaims(s)
      }), 60_000)
    }

    // rm: the record goes first, then the directory (moved aside to rm-<id>, then deleted).
    const rmCases: [string, boolean, string[]][] = [
      ['db-half-written', true, ['db-temp', 'lock']],
      ['db-before-rename', true, ['db-temp', 'lock']],
      ['db-after-rename', false, ['lock', 'orphan']],
      ['after-rm-rename', false, ['lock', 'rm']],
    ]
    for (const [step, exists, left] of rmCases) {
      it(`rm killed at ${step}: the key is ${exists ? 'still complete' : 'gone'}, leftovers are ${left.join(', ')}; rm and prepare again work`, withRoot(async ({dir, s}) => {
        await crash(dir, snapshotter, step, ['rm', 'gone'])
        const ids = await assertConsistent(s)
        expect(leftovers(s, ids)).toEqual(left)
        expect(await names(s)).toEqual(exists ? ['base:Committed:', 'gone:Active:', 'work:Active:base'] : base)
        if (exists) {
          expect(fs.readFileSync(path.join((await s.layerPaths('gone')).own!, 'f'), 'utf8')).toBe('x')
          await s.remove('gone')
        }
        await s.prepare('gone', 'base')
        expect(await names(s)).toEqual(['base:Committed:', 'gone:Active:base', 'work:Active:base'])
        await assertCleanupReclaims(s)
      }), 60_000)
    }

    // commit: overlayfs and native change metadata only (the directory keeps its id). btrfs makes
    // snapshots/<id> before the persist (killed before it: an orphan the next commit replaces) and deletes
    // active/<id> after it (killed before that: an orphan).
    const commitCases: [string, boolean, string[]][] = snapshotter === 'btrfs'
      ? [
          ['db-half-written', false, ['db-temp', 'lock', 'orphan']],
          ['db-before-rename', false, ['db-temp', 'lock', 'orphan']],
          ['db-after-rename', true, ['lock', 'orphan']],
        ]
      : [
          ['db-half-written', false, ['db-temp', 'lock']],
          ['db-before-rename', false, ['db-temp', 'lock']],
          ['db-after-rename', true, ['lock']],
        ]
    for (const [step, committed, left] of commitCases) {
      it(`commit killed at ${step}: ${committed ? 'committed' : 'still active'}, leftovers are ${left.join(', ')}; commit and prepare on it work`, withRoot(async ({dir, s}) => {
        await crash(dir, snapshotter, step, ['commit', 'done', 'work'])
        const ids = await assertConsistent(s)
        expect(leftovers(s, ids)).toEqual(left)
        expect(await names(s)).toEqual(committed ? ['base:Committed:', 'done:Committed:base', 'gone:Active:'] : ['base:Committed:', 'gone:Active:', 'work:Active:base'])
        if (!committed) await s.commit('done', 'work')
        await s.prepare('next', 'done')
        expect(await names(s)).toEqual(['base:Committed:', 'done:Committed:base', 'gone:Active:', 'next:Active:done'])
        await assertCleanupReclaims(s)
      }), 60_000)
    }
  })
}

describe('a directory fsync that fails after metadata.db was renamed into place', () => {
  for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
    it.skipIf(loopSkips(snapshotter))(`${snapshotter}: the rename committed it, so prepare succeeds and the record keeps its directory${loopNote(snapshotter)}`, async () => {
      const root = tempRootFor(snapshotter)
      try {
        const r = await execa('node', [WORKER, 'dir-fsync-fails', root.dir, snapshotter, 'k'], {reject: false})
        expect(JSON.parse(r.stdout as string)).toEqual({ok: true})
        const s = openSnapshotter({root: root.dir, snapshotter})
        expect(await names(s)).toEqual(['k:Active:'])
        const ids = await assertConsistent(s)
        expect(leftovers(s, ids)).toEqual([])
      } finally {
        root.cleanup()
      }
    })
  }
})

describe('SIGKILL in the middle of a real native copy', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('ctrsnap prepare and its cp killed mid-copy leave only a new-* directory; prepare again copies everything', async () => {
    const s = openSnapshotter({root: root.dir, snapshotter: 'native'})
    await s.prepare('big-a', '')
    const own = (await s.layerPaths('big-a')).own!
    const chunk = Buffer.alloc(256 * 1024, 7)
    for (let i = 0; i < 800; i++) fs.writeFileSync(path.join(own, `f${i}`), chunk) // 200 MiB
    await s.commit('big', 'big-a')
    const snaps = path.join(s.root, 'snapshots')
    // Its own process group, so the kill takes cp with it, as a kill of the session would.
    const p = execa('node', [BIN, 'prepare', 'copy', 'big'], {env: {CTRSNAP_ROOT: root.dir, CTRSNAP_SNAPSHOTTER: 'native'}, detached: true, reject: false})
    let copied = 0
    for (let i = 0; i < 1000 && copied < 20; i++) {
      await new Promise(r => setTimeout(r, 10))
      const tmp = fs.readdirSync(snaps).find(n => n.startsWith('new-'))
      copied = tmp ? fs.readdirSync(path.join(snaps, tmp)).length : 0
    }
    process.kill(-p.pid!, 'SIGKILL')
    const r = await p
    expect(r.signal).toBe('SIGKILL')
    expect(copied).toBeGreaterThanOrEqual(20)
    const ids = await assertConsistent(s)
    expect(leftovers(s, ids)).toEqual(['lock', 'new'])
    const tmp = fs.readdirSync(snaps).find(n => n.startsWith('new-'))!
    const partial = fs.readdirSync(path.join(snaps, tmp)).length
    expect(partial).toBeLessThan(800) // really killed mid-way
    expect(await names(s)).toEqual(['big:Committed:'])
    await s.prepare('copy', 'big')
    expect(fs.readdirSync((await s.layerPaths('copy')).own!)).toHaveLength(800)
    await assertCleanupReclaims(s)
  }, 120_000)
})
