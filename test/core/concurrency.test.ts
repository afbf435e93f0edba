import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {openSnapshotter} from '../../src/core/open.js'
import {Metastore} from '../../src/core/store/metastore.js'
import {loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../helpers/worker-store.mjs')
const worker = (args: string[], env: Record<string, string> = {}) => execa('node', [WORKER, ...args], {env, reject: false})

/** What the built code (the workers run dist/) does must be what the sources say: a stale build would test old code. */
function assertFreshBuild(): void {
  const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/core/store')
  const dist = path.resolve(src, '../../../dist/core/store')
  for (const f of ['lock', 'metastore', 'atomic-file']) {
    if (fs.statSync(path.join(dist, `${f}.js`)).mtimeMs < fs.statSync(path.join(src, `${f}.ts`)).mtimeMs) throw new Error(`dist is older than src/core/store/${f}.ts: run npm run build`)
  }
}

// Where each snapshotter keeps snapshot directories (btrfs: one directory per kind).
const KIND_DIRS: Record<string, string[]> = {overlayfs: ['snapshots'], native: ['snapshots'], btrfs: ['active', 'snapshots', 'view']}

for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
  describe.skipIf(loopSkips(snapshotter))(`sixteen processes on one ${snapshotter} root${loopNote(snapshotter)}`, () => {
    let root: ReturnType<typeof tempRoot>
    beforeEach(() => {
      assertFreshBuild()
      root = tempRootFor(snapshotter)
    })
    afterEach(() => root.cleanup())

    it('lose no prepare, label update or removal, and concurrent readers never see an error or a torn file', async () => {
      // Readers first, so they see the store from missing to full.
      const stop = path.join(root.dir, 'stop')
      const readers = [0, 1].map(() => worker(['read', root.dir, snapshotter, stop]))
      // The lock is polled, not queued: on a loaded machine one writer may wait long. That is
      // not what this test is about, so give it time rather than fail on the 60 s default.
      const writers = Array.from({length: 16}, (_, w) => worker(['ops', root.dir, snapshotter, String(w), '10'], {CTRSNAP_LOCK_TIMEOUT_MS: '240000'}))
      const results = await Promise.all(writers)
      fs.writeFileSync(stop, '')
      const expected: Record<string, Record<string, string>> = {}
      for (const r of results) {
        expect(r.stderr).toBe('')
        expect(r.exitCode).toBe(0)
        Object.assign(expected, JSON.parse(r.stdout).kept)
      }
      expect(Object.keys(expected)).toHaveLength(16 * 8)

      const s = openSnapshotter({root: root.dir, snapshotter})
      const infos = await s.walk()
      expect(Object.fromEntries(infos.map(i => [i.name, i.labels]))).toEqual(expected)
      // Every record has its directory and nothing else is left on disk.
      const db = await new Metastore(s.root).read()
      const ids = db.values('SELECT id FROM snapshots ORDER BY id').map(r => String(r[0]))
      const dirs = KIND_DIRS[snapshotter]!
      expect(dirs.flatMap(d => fs.readdirSync(path.join(s.root, d))).sort()).toEqual([...ids].sort())
      expect(fs.readdirSync(s.root).sort()).toEqual(['metadata.db', ...dirs].sort())
      expect(db.values('PRAGMA integrity_check')).toEqual([['ok']])
      expect(db.values('PRAGMA foreign_key_check')).toEqual([])

      for (const r of await Promise.all(readers)) {
        expect(r.stderr).toBe('')
        expect(r.exitCode).toBe(0)
        // They read while the writers wrote: the store changed under them.
        expect(JSON.parse(r.stdout).distinctCounts).toBeGreaterThanOrEqual(3)
      }
    }, 300_000)
  })
}

describe('the lock against a writer that stalls', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => {
    assertFreshBuild()
    root = tempRoot()
  })
  afterEach(() => root.cleanup())

  it('a writer whose event loop is blocked past the stale time writes nothing, and the writer that took the lock over loses nothing', async () => {
    const env = {CTRSNAP_LOCK_STALE_MS: '4000'}
    const dir = path.join(root.dir, 'native')
    await new Metastore(dir).write(() => {}, {create: true}) // the schema exists before the race
    const blocker = execa('node', [WORKER, 'block', dir, '6000'], {env, reject: false})
    // Wait until it holds the lock, then ask for it: we get it once it is stale.
    await new Promise<void>(resolve => blocker.stdout!.once('data', () => resolve()))
    const other = await worker(['ops', root.dir, 'native', 'x', '2'], env)
    expect(other.stderr).toBe('')
    expect(other.exitCode).toBe(0)
    const b = await blocker
    const lines = (b.stdout as string).trim().split('\n').map(l => JSON.parse(l))
    expect(lines.at(-1)).toMatchObject({error: 'UnavailableError'})
    expect(lines.at(-1).message).toMatch(/lost the lock on .*metadata\.db: .*nothing was written/)
    const keys = (await openSnapshotter({root: root.dir, snapshotter: 'native'}).walk()).map(i => i.name)
    expect(keys).toEqual(['wx-0', 'wx-1'])
  }, 60_000)

  it('a slow native copy keeps the lock: another writer waits for it instead of taking it over', async () => {
    // A cold CLI holds it: give its refresh 3 s of lag before the other writer may judge it dead.
    const stale = 4000
    const env = {CTRSNAP_LOCK_STALE_MS: String(stale)}
    const s = openSnapshotter({root: root.dir, snapshotter: 'native'})
    await s.prepare('base-a', '')
    fs.writeFileSync(path.join((await s.layerPaths('base-a')).own!, 'f'), 'x')
    await s.commit('base', 'base-a')
    // A cp that holds until released, as a slow disk would: it says it started, waits for the release
    // file, then runs the real cp.
    const bin = path.join(root.dir, 'bin')
    const started = path.join(root.dir, 'cp-started')
    const release = path.join(root.dir, 'cp-release')
    fs.mkdirSync(bin)
    fs.writeFileSync(path.join(bin, 'cp'), `#!/bin/sh\n: > '${started}'\nwhile [ ! -e '${release}' ]; do sleep 0.05; done\nexec /bin/cp "$@"\n`, {mode: 0o755})
    const copy = execa('node', [path.resolve(path.dirname(WORKER), '../../bin/run.js'), 'prepare', 'slow', 'base'], {
      env: {...env, PATH: `${bin}:${process.env.PATH}`, CTRSNAP_ROOT: root.dir, CTRSNAP_SNAPSHOTTER: 'native'},
      reject: false,
    })
    // Once the copy holds the lock and is in cp, write from another process.
    while (!fs.existsSync(started)) {
      if (copy.exitCode !== null) throw new Error(`prepare ended before cp started: ${copy.exitCode}`)
      await new Promise(r => setTimeout(r, 20))
    }
    let otherDone = 0
    const other = worker(['ops', root.dir, 'native', 'y', '1'], env).then(r => { otherDone = Date.now(); return r })
    // Hold the copy for two and a half stale windows: only the holder's refreshes keep the lock from the other writer.
    await new Promise(r => setTimeout(r, 2.5 * stale))
    const released = Date.now()
    fs.writeFileSync(release, '')
    const c = await copy
    const o = await other
    expect(c.stderr).toBe('')
    expect(c.exitCode).toBe(0)
    expect(o.exitCode).toBe(0)
    // The other writer got the lock only after the copy released it.
    expect(otherDone).toBeGreaterThanOrEqual(released)
    const infos = await s.walk()
    expect(infos.map(i => i.name).sort()).toEqual(['base', 'slow', 'wy-0'])
    expect(fs.readFileSync(path.join((await s.layerPaths('slow')).own!, 'f'), 'utf8')).toBe('x')
  }, 60_000)
})
