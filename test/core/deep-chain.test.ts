import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {execa} from 'execa'
import {openSnapshotter} from '../../src/core/open.js'
import {isKind} from '../../src/core/errors.js'
import {MAX_OVERLAY_LOWERS} from '../../src/core/mount.js'
import {canMount, tempRootFor} from '../helpers/root.js'
import {ctrsnap} from '../helpers/cli.js'

/** A chain of `n` committed layers l0..l{n-1}, layer i adding file f{i}. */
async function buildChain(s: ReturnType<typeof openSnapshotter>, n: number): Promise<void> {
  let parent = ''
  for (let i = 0; i < n; i++) {
    await s.prepare(`a${i}`, parent)
    fs.writeFileSync(path.join((await s.layerPaths(`a${i}`)).own!, `f${i}`), String(i))
    await s.commit(`l${i}`, `a${i}`)
    parent = `l${i}`
  }
}

for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
  describe.skipIf(!canMount)(`a ${MAX_OVERLAY_LOWERS}-layer chain on ${snapshotter} (needs root on Linux)`, () => {
    const root = tempRootFor(snapshotter)
    const s = openSnapshotter({root: root.dir, snapshotter})
    const target = path.join(root.dir, 'mnt')

    beforeAll(async () => {
      await buildChain(s, MAX_OVERLAY_LOWERS + 1)
    }, 240_000)
    // Removing native's ~125,000 copied files outlasts the default hook timeout on a loaded machine.
    afterAll(async () => {
      await execa('umount', ['-l', target], {reject: false})
      root.cleanup()
    }, 240_000)

    it('a view of the top 500 layers mounts and reads through every layer', async () => {
      await s.view('top500', `l${MAX_OVERLAY_LOWERS - 1}`, {mountAt: target})
      const names = fs.readdirSync(target)
      expect(names.length).toBe(MAX_OVERLAY_LOWERS)
      for (const i of [0, 1, 250, MAX_OVERLAY_LOWERS - 1]) expect(fs.readFileSync(path.join(target, `f${i}`), 'utf8')).toBe(String(i))
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
        expect(fs.readdirSync(target).length).toBe(MAX_OVERLAY_LOWERS + 1)
        await s.unmount(target, {remove: true})
      })
    } else {
      it('btrfs mounts one subvolume whatever the depth: 501 layers mount too, with ctr\'s one short line', async () => {
        const mounts = await s.view('top501', `l${MAX_OVERLAY_LOWERS}`, {mountAt: target})
        expect(mounts).toEqual([{type: 'btrfs', source: expect.stringMatching(/^\/dev\//), options: [expect.stringMatching(/^subvolid=\d+$/), 'ro']}])
        expect(fs.readdirSync(target).length).toBe(MAX_OVERLAY_LOWERS + 1)
        expect(() => fs.writeFileSync(path.join(target, 'x'), '')).toThrow(/EROFS/)
        await s.unmount(target, {remove: true})
      })
    }
  })
}
