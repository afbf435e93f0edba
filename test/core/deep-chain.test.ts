import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {execa} from 'execa'
import {openSnapshotter} from '../../src/core/open.js'
import {isKind} from '../../src/core/errors.js'
import {MAX_OVERLAY_LOWERS} from '../../src/core/mount.js'
import {atomically} from '../../src/core/store/metastore.js'
import {canMount, tempRootFor} from '../helpers/root.js'
import {ctrsnap} from '../helpers/cli.js'

/** The layers whose files the tests read back. */
const SAMPLED = [0, 1, 250, MAX_OVERLAY_LOWERS - 1, MAX_OVERLAY_LOWERS]

/**
 * A chain of `n` committed layers l0..l{n-1}, layer i adding file f{i} (on
 * native and btrfs only the SAMPLED layers do: each native layer is a full copy
 * of the one below, so a file per layer would be n^2/2 copied files, and each
 * btrfs commit measures its layer against the whole tree below, n^2/2 files
 * walked; depth, not copying, is under test here). The prepares and commits
 * run in one store transaction (batch --atomic's): one fsync instead of 2n.
 */
async function buildChain(s: ReturnType<typeof openSnapshotter>, n: number): Promise<Set<number>> {
  const written = new Set<number>()
  await atomically(async () => {
    let parent = ''
    for (let i = 0; i < n; i++) {
      await s.prepare(`a${i}`, parent)
      if (s.name === 'overlayfs' || SAMPLED.includes(i)) {
        fs.writeFileSync(path.join((await s.layerPaths(`a${i}`)).own!, `f${i}`), String(i))
        written.add(i)
      }
      await s.commit(`l${i}`, `a${i}`)
      parent = `l${i}`
    }
  })
  return written
}

/** The names a mount of the top `depth` layers shows. */
const namesUpTo = (written: Set<number>, depth: number): string[] => [...written].filter(i => i < depth).map(i => `f${i}`).sort()

for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
  describe.skipIf(!canMount)(`a ${MAX_OVERLAY_LOWERS}-layer chain on ${snapshotter} (needs root on Linux)`, () => {
    const root = tempRootFor(snapshotter)
    const s = openSnapshotter({root: root.dir, snapshotter})
    const target = path.join(root.dir, 'mnt')

    let written = new Set<number>()
    beforeAll(async () => {
      written = await buildChain(s, MAX_OVERLAY_LOWERS + 1)
    }, 240_000)
    afterAll(async () => {
      await execa('umount', ['-l', target], {reject: false})
      root.cleanup()
    })

    it('a view of the top 500 layers mounts and shows every layer\'s files', async () => {
      await s.view('top500', `l${MAX_OVERLAY_LOWERS - 1}`, {mountAt: target})
      expect(fs.readdirSync(target).sort()).toEqual(namesUpTo(written, MAX_OVERLAY_LOWERS))
      for (const i of SAMPLED.slice(0, -1)) expect(fs.readFileSync(path.join(target, `f${i}`), 'utf8')).toBe(String(i))
      await s.unmount(target, {remove: true})
      expect(fs.readdirSync(target)).toEqual([])
    })

    it('an active child of the 500th layer mounts writable', async () => {
      await s.prepare('work', `l${MAX_OVERLAY_LOWERS - 2}`, {mountAt: target})
      fs.writeFileSync(path.join(target, 'new'), 'x')
      expect(fs.readFileSync(path.join(target, 'f0'), 'utf8')).toBe('0')
      await s.unmount(target, {remove: true})
    })

    if (snapshotter === 'overlayfs') {
      it('--target prints ctr\'s over-long line unchanged and warns on stderr that it will not mount, naming --mount', async () => {
        const r = await ctrsnap(['view', '-t', '/mnt/x', 'longline', 'l127'], {root: root.dir, snapshotter})
        expect(r.exitCode).toBe(0)
        const line = r.stdout.trimEnd()
        expect(line.startsWith('mount -t overlay overlay /mnt/x -o index=off,lowerdir=')).toBe(true)
        expect(line.split(':').length).toBe(128)
        const bytes = Buffer.byteLength(line.slice(line.indexOf(' -o ') + 4))
        expect(bytes).toBeGreaterThan(4095)
        expect(r.stderr).toBe(`ctrsnap: warning: the mount options above are ${bytes} bytes, more than the kernel accepts (4095): the line will not mount as printed; use --mount to have ctrsnap mount it\n`)
        const short = await ctrsnap(['view', '-t', '/mnt/x', 'shortline', 'l1'], {root: root.dir, snapshotter})
        expect(short.stderr).toBe('')
      })

      it('501 lower layers are refused before anything is mounted, and the view is taken back', async () => {
        const t = path.join(root.dir, 'deeper')
        let err: unknown
        try {
          await s.view('top501', `l${MAX_OVERLAY_LOWERS}`, {mountAt: t})
        } catch (e) {
          err = e
        }
        expect(isKind(err, 'failed-precondition')).toBe(true)
        expect((err as Error).message).toBe('snapshot "top501" has 501 lower layers; overlayfs mounts at most 500')
        expect(fs.existsSync(t)).toBe(false)
        await expect(s.stat('top501')).rejects.toThrow('snapshot "top501" does not exist')
      })
    } else if (snapshotter === 'native') {
      it('native binds one full copy, so 501 layers mount too', async () => {
        await s.view('top501', `l${MAX_OVERLAY_LOWERS}`, {mountAt: target})
        expect(fs.readdirSync(target).sort()).toEqual(namesUpTo(written, MAX_OVERLAY_LOWERS + 1))
        expect(fs.readFileSync(path.join(target, `f${MAX_OVERLAY_LOWERS}`), 'utf8')).toBe(String(MAX_OVERLAY_LOWERS))
        await s.unmount(target, {remove: true})
      })
    } else {
      it('btrfs mounts the view\'s own subvolume whatever the depth: 501 layers mount too, with ctr\'s one short line', async () => {
        const mounts = await s.view('top501', `l${MAX_OVERLAY_LOWERS}`, {mountAt: target})
        expect(mounts).toEqual([{type: 'btrfs', source: expect.stringMatching(/^\/dev\//), options: [expect.stringMatching(/^subvolid=\d+$/), 'ro']}])
        expect(fs.readdirSync(target).sort()).toEqual(namesUpTo(written, MAX_OVERLAY_LOWERS + 1))
        expect(fs.readFileSync(path.join(target, `f${MAX_OVERLAY_LOWERS}`), 'utf8')).toBe(String(MAX_OVERLAY_LOWERS))
        expect(() => fs.writeFileSync(path.join(target, 'x'), '')).toThrow(/EROFS/)
        await s.unmount(target, {remove: true})
      })
    }
  })
}
