import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {execa} from 'execa'
import {ctrsnap} from '../helpers/cli.js'
import {canMount, tempRoot} from '../helpers/root.js'
import {readMountinfo} from '../../src/core/mount.js'

const isMounted = (p: string): boolean => readMountinfo().some(e => e.mountPoint === fs.realpathSync(p))

for (const snapshotter of ['overlayfs', 'native']) {
  describe.skipIf(!canMount)(`performing mounts on ${snapshotter} (needs root on Linux)`, () => {
    let root: ReturnType<typeof tempRoot>
    let o: {root: string; snapshotter: string}
    beforeEach(() => {
      root = tempRoot()
      o = {root: path.join(root.dir, 'store'), snapshotter}
    })
    afterEach(async () => {
      for (const e of readMountinfo().reverse()) if (e.mountPoint.startsWith(root.dir)) await execa('umount', ['-l', e.mountPoint], {reject: false})
      root.cleanup()
    })

    it('mount/unmount round trip: prepare --mount, write, commit while mounted, view --mount reads it, unmount', async () => {
      const t1 = path.join(root.dir, 'mnt', 'a') // created if missing
      const r = await ctrsnap(['prepare', '--mount', '-t', t1, 'a'], o)
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toMatch(/^mount -t bind \S+ .* -o /)
      expect(isMounted(t1)).toBe(true)
      fs.writeFileSync(path.join(t1, 'hello'), 'world')
      expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0) // commit works while mounted, as in ctr
      expect((await ctrsnap(['unmount', t1], o))).toEqual({stdout: '', stderr: '', exitCode: 0})
      expect(isMounted(t1)).toBe(false)

      const t2 = path.join(root.dir, 'v')
      expect((await ctrsnap(['view', '--mount', '-t', t2, 'v', 'base'], o)).exitCode).toBe(0)
      expect(fs.readFileSync(path.join(t2, 'hello'), 'utf8')).toBe('world')
      expect(() => fs.writeFileSync(path.join(t2, 'nope'), 'x')).toThrow(/EROFS/)
      expect((await ctrsnap(['unmount', '--rm', t2], o)).exitCode).toBe(0)
      expect((await ctrsnap(['ls'], o)).stdout).not.toContain('\nv ')
    })

    it('mounts TARGET KEY --mount mounts an existing snapshot; a second mount on the same target is refused', async () => {
      await ctrsnap(['prepare', 'a'], o)
      await ctrsnap(['commit', 'base', 'a'], o)
      await ctrsnap(['prepare', 'work', 'base'], o)
      const t = path.join(root.dir, 'w')
      const r = await ctrsnap(['mounts', '--mount', t, 'work'], o)
      expect(r.exitCode).toBe(0)
      expect(isMounted(t)).toBe(true)
      fs.writeFileSync(path.join(t, 'new'), '1')
      const again = await ctrsnap(['mounts', '--mount', t, 'work'], o)
      expect(again.exitCode).toBe(5)
      expect(again.stderr).toBe(`ctrsnap: ${t} is already a mount point; unmount it first\n`)
      expect((await ctrsnap(['unmount', t], o)).exitCode).toBe(0)
    })

    it('rm refuses a mounted snapshot, naming the target, and is allowed after unmount', async () => {
      const t = path.join(root.dir, 'm')
      await ctrsnap(['prepare', '--mount', '-t', t, 'a'], o)
      const r = await ctrsnap(['rm', 'a'], o)
      expect(r).toEqual({stdout: '', stderr: `ctrsnap: cannot remove snapshot "a": it is mounted at ${t} (run: ctrsnap unmount ${t})\n`, exitCode: 5})
      expect((await ctrsnap(['ls'], o)).stdout).toContain('\na ')
      await ctrsnap(['unmount', t], o)
      expect((await ctrsnap(['rm', 'a'], o)).exitCode).toBe(0)
    })

    it('a mount removed by hand is not believed: rm proceeds and unmount just forgets it', async () => {
      const t = path.join(root.dir, 'm')
      await ctrsnap(['prepare', '--mount', '-t', t, 'a'], o)
      await execa('umount', [t])
      expect((await ctrsnap(['unmount', t], o))).toEqual({stdout: '', stderr: '', exitCode: 0})
      await ctrsnap(['prepare', '--mount', '-t', t, 'b'], o)
      await execa('umount', [t])
      expect((await ctrsnap(['rm', 'b'], o)).exitCode).toBe(0)
    })

    it('rm -r refuses, removing nothing, when any descendant is mounted', async () => {
      await ctrsnap(['prepare', 'a'], o)
      await ctrsnap(['commit', 'base', 'a'], o)
      await ctrsnap(['prepare', 'b', 'base'], o)
      await ctrsnap(['commit', 'mid', 'b'], o)
      const t = path.join(root.dir, 'leaf')
      await ctrsnap(['view', '--mount', '-t', t, 'leaf', 'mid'], o)
      const before = (await ctrsnap(['ls'], o)).stdout
      const r = await ctrsnap(['rm', '-r', 'base'], o)
      expect(r.exitCode).toBe(5)
      expect(r.stderr).toBe(`ctrsnap: cannot remove snapshot "leaf": it is mounted at ${t} (run: ctrsnap unmount ${t})\n`)
      expect((await ctrsnap(['ls'], o)).stdout).toBe(before)
      await ctrsnap(['unmount', t], o)
      expect((await ctrsnap(['rm', '-r', 'base'], o)).exitCode).toBe(0)
      expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY PARENT KIND \n')
      expect(fs.readdirSync(path.join(o.root, snapshotter, 'snapshots'))).toEqual([])
    })

    it('a failed mount is an external-command error with mount\'s stderr, records nothing and takes the snapshot back', async () => {
      await ctrsnap(['prepare', 'a'], o)
      await ctrsnap(['commit', 'base', 'a'], o)
      await ctrsnap(['prepare', 'b', 'base'], o)
      await ctrsnap(['commit', 'mid', 'b'], o)
      // Break a layer the view's mount needs behind ctrsnap's back, so the kernel refuses
      // the mount (overlay: the lowest lowerdir; native: the bound parent directory).
      fs.rmSync(path.join(o.root, snapshotter, 'snapshots', snapshotter === 'overlayfs' ? '1' : '2'), {recursive: true})
      const t = path.join(root.dir, 'm')
      const r = await ctrsnap(['view', '--mount', '-t', t, 'v', 'mid'], o)
      expect(r.exitCode).toBe(7)
      expect(r.stderr).toMatch(/^ctrsnap: mount failed \(exit \d+\): .+\n$/)
      // Not mounted, and the target directory the command made is taken back.
      expect(fs.existsSync(t)).toBe(false)
      expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nmid  base   Committed \n')
      expect((await ctrsnap(['unmount', t], o)).exitCode).toBe(3)
    })
  })
}

describe('unmount errors', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('a target ctrsnap did not mount is not found', async () => {
    const r = await ctrsnap(['unmount', '/nonexistent/where'], {root: root.dir})
    expect(r).toEqual({stdout: '', stderr: 'ctrsnap: no snapshot mounted by ctrsnap at /nonexistent/where\n', exitCode: 3})
  })

  it('--mount needs --target: usage error', async () => {
    const r = await ctrsnap(['prepare', '--mount', 'a'], {root: root.dir})
    expect(r.exitCode).toBe(2)
    expect(r.stderr.split('\n')[1]).toMatch(/^usage: ctrsnap prepare /)
  })
})
