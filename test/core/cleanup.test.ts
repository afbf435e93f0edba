import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import {execa} from 'execa'
import {openSnapshotter} from '../../src/core/open.js'
import {Db, Metastore} from '../../src/core/store/metastore.js'
import {insertMount} from '../../src/core/store/snapshots.js'
import {ctrsnap} from '../helpers/cli.js'
import {canMount, loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

const KILLPOINTS = path.resolve('test/helpers/killpoints.mjs')

// A SIGKILLed writer's lock is waited out: a short stale window (read at import, so set before
// it). Takeover after the default window is proven in store.test.ts.
vi.hoisted(() => { process.env.CTRSNAP_LOCK_STALE_MS = '3000' })

const btrfs = (...args: string[]) => execa('btrfs', ['-q', ...args])

for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
  describe.skipIf(loopSkips(snapshotter))(`cleanup on ${snapshotter}${loopNote(snapshotter)}`, () => {
    let root: ReturnType<typeof tempRoot>
    let s: ReturnType<typeof openSnapshotter>
    let snaps: string
    /** btrfs keeps each kind's snapshots in a directory of its own; the others all in snapshots/. */
    const kindDirs = snapshotter === 'btrfs' ? ['active', 'snapshots', 'view'] : ['snapshots']
    const listing = (): string[] => kindDirs.flatMap(d => fs.readdirSync(path.join(s.root, d)).map(n => `${d}/${n}`)).sort()
    beforeEach(async () => {
      root = tempRootFor(snapshotter)
      s = openSnapshotter({root: root.dir, snapshotter})
      snaps = path.join(s.root, 'snapshots')
      await s.prepare('a', '')
      fs.writeFileSync(path.join((await s.layerPaths('a')).own!, 'data'), 'x'.repeat(10_000))
      await s.commit('base', 'a')
      await s.prepare('work', 'base')
      await s.view('look', 'base')
    })
    afterEach(async () => {
      for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        const mp = l.split(' ')[4]
        if (mp?.startsWith(root.dir)) await execa('umount', ['-l', mp], {reject: false})
      }
      root.cleanup()
    })

    /**
     * What a crash can leave: an orphan id dir (killed after rename, before persist), a temp dir of a dead process,
     * a half-removed dir, a writer's temp file. On btrfs they are subvolumes, the committed ones read-only (which
     * rm -rf cannot remove), plus an active/<id> whose record is committed (a commit killed after its persist).
     */
    async function simulateCrashes(): Promise<string[]> {
      const tmpFile = path.join(s.root, '.metadata.db.tmp-999999999-zz')
      if (snapshotter === 'btrfs') {
        const sub = async (p: string, ro: boolean, data?: string): Promise<string> => {
          await btrfs('subvolume', 'create', p)
          if (data !== undefined) fs.writeFileSync(path.join(p, 'junk'), data)
          if (ro) await btrfs('property', 'set', '-ts', p, 'ro', 'true')
          return p
        }
        const baseId = fs.readdirSync(snaps).find(n => /^\d+$/.test(n))!
        const left = [
          await sub(path.join(snaps, '99'), true, 'y'.repeat(8192)),
          await sub(path.join(s.root, 'active', baseId), false, 'z'),
          await sub(path.join(s.root, 'view', 'new-999999999-abcdef'), true),
          await sub(path.join(snaps, 'rm-42'), true),
          tmpFile,
        ]
        fs.writeFileSync(tmpFile, 'partial')
        // The read-only orphan is one rm -rf could not remove.
        expect(() => fs.rmSync(path.join(snaps, '99', 'junk'))).toThrow(/EROFS/)
        return left
      }
      const orphan = path.join(snaps, '99')
      fs.mkdirSync(path.join(orphan, 'fs'), {recursive: true})
      fs.writeFileSync(path.join(orphan, 'fs', 'junk'), 'y'.repeat(8192))
      const temp = path.join(snaps, 'new-999999999-abcdef') // no such pid
      fs.mkdirSync(temp)
      const removing = path.join(snaps, 'rm-42')
      fs.mkdirSync(removing)
      fs.writeFileSync(tmpFile, 'partial')
      return [orphan, temp, removing, tmpFile]
    }

    it('dry run lists every leftover with a size and changes nothing', async () => {
      const left = await simulateCrashes()
      const before = fs.readFileSync(path.join(s.root, 'metadata.db'))
      const plan = await s.cleanup({dryRun: true})
      expect(plan.items.map(i => i.path).sort()).toEqual([...left].sort())
      const orphan = plan.items.find(i => i.path === path.join(snaps, '99'))!
      expect(orphan.kind).toBe('orphan')
      expect(orphan.bytes).toBeGreaterThanOrEqual(8192)
      for (const p of left) expect(fs.existsSync(p)).toBe(true)
      expect(fs.readFileSync(path.join(s.root, 'metadata.db')).equals(before)).toBe(true)
    })

    it('removes leftovers, keeps every snapshot with a record, and a second run finds nothing', async () => {
      const before = listing()
      const left = await simulateCrashes()
      const ls = await s.walk()
      const plan = await s.cleanup()
      expect(plan.items.length).toBe(left.length)
      for (const p of left) expect(fs.existsSync(p)).toBe(false)
      expect(listing()).toEqual(before)
      expect(await s.walk()).toEqual(ls)
      expect(fs.readFileSync(path.join((await s.layerPaths('work')).parents[0]!, 'data'), 'utf8')).toHaveLength(10_000)
      expect((await s.cleanup()).items).toEqual([])
    })

    it('skips a temp dir whose process is alive (work in flight)', async () => {
      const inflight = path.join(s.root, kindDirs[0]!, `new-${process.ppid}-live01`)
      fs.mkdirSync(inflight)
      const plan = await s.cleanup()
      expect(plan.skipped).toEqual([{path: inflight, reason: `in flight (process ${process.ppid})`}])
      expect(fs.existsSync(inflight)).toBe(true)
    })

    it('forgets mount records whose mount is gone', async () => {
      const store = new Metastore(s.root)
      await store.write(tx => insertMount(tx.db, path.join(root.dir, 'gone'), 1, '2026-01-01T00:00:00Z'))
      expect((await s.mountRecords()).map(m => m.live)).toEqual([false])
      const plan = await s.cleanup()
      expect(plan.items).toEqual([{kind: 'stale-mount', path: path.join(root.dir, 'gone'), bytes: 0}])
      expect(await s.mountRecords()).toEqual([])
    })

    it.skipIf(!canMount)('never touches a mounted orphan (needs root on Linux)', async () => {
      const orphan = path.join(snaps, '77')
      if (snapshotter === 'btrfs') await btrfs('subvolume', 'create', orphan)
      else fs.mkdirSync(orphan)
      const t = path.join(root.dir, 'bound')
      fs.mkdirSync(t)
      await execa('mount', ['--bind', orphan, t])
      // mountinfo names a btrfs bind by its path in the file system, as it names a subvolid mount.
      const reason = snapshotter === 'btrfs' ? `its subvolume is mounted at ${t}` : `it is a source of the mount at ${t}`
      expect((await s.cleanup()).skipped).toEqual([{path: orphan, reason}])
      expect(fs.existsSync(orphan)).toBe(true)
      await execa('umount', [t])
    })

    if (snapshotter === 'btrfs') {
      it.skipIf(!canMount)('never deletes an orphan subvolume mounted elsewhere by subvolid, as ctr\'s mount lines mount it (needs root on Linux)', async () => {
        const orphan = path.join(s.root, 'active', '78')
        await btrfs('subvolume', 'create', orphan)
        fs.writeFileSync(path.join(orphan, 'keep'), 'me')
        const id = (await execa('btrfs', ['inspect-internal', 'rootid', orphan])).stdout.trim()
        const source = (await execa('findmnt', ['-no', 'SOURCE', '-T', root.dir])).stdout.trim()
        const t = path.join(root.dir, 'bysubvolid')
        fs.mkdirSync(t)
        await execa('mount', ['-t', 'btrfs', '-o', `subvolid=${id}`, source, t])
        try {
          expect((await s.cleanup()).skipped).toEqual([{path: orphan, reason: `its subvolume is mounted at ${t}`}])
          expect(fs.readFileSync(path.join(t, 'keep'), 'utf8')).toBe('me')
        } finally {
          await execa('umount', [t])
        }
        expect((await s.cleanup()).items.map(i => [i.kind, i.path])).toEqual([['orphan', orphan]])
        expect(fs.existsSync(orphan)).toBe(false)
      })
    }

    it.skipIf(!canMount)('after a SIGKILLed prepare, cleanup restores agreement and the key is usable (needs root on Linux)', async () => {
      // native is killed mid-copy of a big parent; overlayfs and btrfs, which copy nothing, at a kill point:
      // its directory in place, the record not yet written.
      const big = (await s.layerPaths('work')).own!
      for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(big, `f${i}`), 'z'.repeat(4096))
      await s.commit('big', 'work')
      // The victim keeps the default lock window (this process waits its lock out with a short one).
      const env: Record<string, string> = {CTRSNAP_ROOT: root.dir, CTRSNAP_SNAPSHOTTER: snapshotter, CTRSNAP_LOCK_STALE_MS: ''}
      if (snapshotter !== 'native') Object.assign(env, {NODE_OPTIONS: `--import ${KILLPOINTS}`, CTRSNAP_TEST_KILLPOINT: 'after-dir-rename'})
      // Its own process group, so a kill takes cp with it, as a kill of the session would.
      const child = execa('node', [path.resolve('bin/run.js'), 'prepare', 'victim', 'big'], {env, detached: true, reject: false})
      if (snapshotter === 'native') {
        const copying = () => fs.readdirSync(snaps).some(n => n.startsWith('new-') && fs.readdirSync(path.join(snaps, n)).length > 0)
        while (!copying() && child.exitCode === null) await new Promise(r => setTimeout(r, 5))
        process.kill(-child.pid!, 'SIGKILL')
      }
      expect((await child).signal).toBe('SIGKILL')
      const known = new Set((await s.walk()).map(i => i.name))
      await s.cleanup()
      // Every record points at an existing directory where its kind needs one; no directory lacks a record.
      const db: Db = await new Metastore(s.root).read()
      const ids = db.values('SELECT id, kind, parent_id FROM snapshots').map(([id]) => String(id))
      for (const d of listing()) expect(ids).toContain(path.basename(d))
      expect(known.has('victim')).toBe(false) // killed before its record was written
      await s.prepare('victim', 'big')
      expect(fs.existsSync(path.join((await s.layerPaths('victim')).own!))).toBe(true)
    })
  })
}

describe('cleanup command', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('on a missing root reports nothing, notes the missing root on stderr, and creates nothing', async () => {
    const r = await ctrsnap(['cleanup'], {root: path.join(root.dir, 'none')})
    expect(r).toEqual({stdout: 'reclaimed 0 items, 0.0 B\n', stderr: `ctrsnap: note: root ${path.join(root.dir, 'none')} does not exist\n`, exitCode: 0})
    expect(fs.existsSync(path.join(root.dir, 'none'))).toBe(false)
  })

  it('on a terminal, the report is a table with the same items and total; piped, the plain lines (needs script(1))', async () => {
    await ctrsnap(['prepare', 'a'], {root: root.dir})
    const orphan = path.join(root.dir, 'overlayfs', 'snapshots', '50')
    fs.mkdirSync(orphan)
    const tty = await execa('script', ['-qec', `node bin/run.js cleanup --dry-run`, '/dev/null'], {env: {CTRSNAP_ROOT: root.dir, TERM: 'xterm'}, stripFinalNewline: false})
    const out = tty.stdout.replace(/\r\n/g, '\n')
    const row = out.split('\n').find(l => l.includes(orphan))
    expect(row).toMatch(/^│ would remove │ \/\S+\/50 +│ directory with no snapshot record +│ +4\.0 KiB │$/)
    expect(out).toMatch(/^┌─+┬/)
    expect(out.endsWith('would reclaim 1 item, 4.0 KiB\n')).toBe(true)
    expect(fs.existsSync(orphan)).toBe(true)
    const piped = await ctrsnap(['cleanup', '--dry-run'], {root: root.dir})
    expect(piped.stdout).toBe(`would remove ${orphan} (directory with no snapshot record, 4.0 KiB)\nwould reclaim 1 item, 4.0 KiB\n`)
  })

  it('prints what it would remove and then what it reclaimed', async () => {
    const o = {root: root.dir}
    await ctrsnap(['prepare', 'a'], o)
    const orphan = path.join(root.dir, 'overlayfs', 'snapshots', '50')
    fs.mkdirSync(orphan)
    const dry = await ctrsnap(['cleanup', '--dry-run'], o)
    expect(dry.stdout).toBe(`would remove ${orphan} (directory with no snapshot record, 4.0 KiB)\nwould reclaim 1 item, 4.0 KiB\n`)
    const real = await ctrsnap(['cleanup', '--json'], o)
    expect(JSON.parse(real.stdout)).toEqual([{action: 'removed', kind: 'orphan', path: orphan, key: null, bytes: 4096, reason: null}])
    expect(fs.existsSync(orphan)).toBe(false)
  })
})

describe('cleanup while other ctrsnap processes work', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('never removes what a concurrent prepare/commit/rm is building or has recorded', async () => {
    const env = {CTRSNAP_ROOT: root.dir}
    const worker = (w: number) => execa('bash', ['-c', `set -e; for i in 1 2 3 4 5 6; do node bin/run.js prepare w${w}-$i; node bin/run.js commit c${w}-$i w${w}-$i; done; node bin/run.js rm c${w}-1`], {env})
    const cleaners = (async () => {
      const out: string[] = []
      for (let i = 0; i < 6; i++) out.push((await execa('node', ['bin/run.js', 'cleanup'], {env})).stdout)
      return out
    })()
    await Promise.all([worker(1), worker(2), cleaners])
    const s = openSnapshotter({root: root.dir, snapshotter: 'overlayfs'})
    const names = (await s.walk()).map(i => i.name)
    expect(names).toEqual(['c1-2', 'c1-3', 'c1-4', 'c1-5', 'c1-6', 'c2-2', 'c2-3', 'c2-4', 'c2-5', 'c2-6'])
    for (const n of names) expect(fs.statSync((await s.layerPaths(n)).own!).isDirectory()).toBe(true)
    expect((await s.cleanup({dryRun: true})).items).toEqual([])
  })
})

describe('cleanup of unpack layer locks', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('removes a lock a killed unpack left (older than the stale time) and keeps a fresh one', async () => {
    const s = openSnapshotter({root: root.dir, snapshotter: 'overlayfs'})
    await s.prepare('a', '')
    const locks = path.join(s.root, 'locks')
    fs.mkdirSync(path.join(locks, 'dead.lock'), {recursive: true})
    const old = new Date(Date.now() - 60_000)
    fs.utimesSync(path.join(locks, 'dead.lock'), old, old)
    fs.mkdirSync(path.join(locks, 'held.lock'))
    const plan = await s.cleanup()
    expect(plan.items).toEqual([{kind: 'stale-lock', path: path.join(locks, 'dead.lock'), bytes: 0}])
    expect(fs.readdirSync(locks)).toEqual(['held.lock'])
  })
})
