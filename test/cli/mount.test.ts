import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {execa} from 'execa'
import {ctrsnap} from '../helpers/cli.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'
import {readMountinfo} from '../../src/core/mount.js'

const isMounted = (p: string): boolean => readMountinfo().some(e => e.mountPoint === fs.realpathSync(p))

/** The first line `prepare --mount -t T` prints for a new snapshot without parent: ctr's line for the driver. */
const FIRST_LINE: Record<string, RegExp> = {
  overlayfs: /^mount -t bind \S+ .* -o /,
  native: /^mount -t bind \S+ .* -o /,
  btrfs: /^mount -t btrfs \/dev\/\S+ \S+ -o subvolid=\d+\n$/,
}

for (const snapshotter of ['overlayfs', 'native', 'btrfs']) {
  describe.skipIf(!canMount)(`performing mounts on ${snapshotter} (needs root on Linux)`, () => {
    let root: ReturnType<typeof tempRoot>
    let o: {root: string; snapshotter: string}
    beforeEach(() => {
      root = tempRootFor(snapshotter)
      o = {root: path.join(root.dir, 'store'), snapshotter}
    })
    /** Every snapshot directory left in the store (btrfs keeps one directory per kind). */
    const snapshotDirs = (): string[] =>
      ['snapshots', 'active', 'view'].map(d => path.join(o.root, snapshotter, d)).flatMap(d => (fs.existsSync(d) ? fs.readdirSync(d) : []))
    /** Tests of the core's mount records alone, the same code whatever the driver: run on overlayfs and native, not again on btrfs. */
    const coreOnly = (name: string, fn: () => Promise<void>): void => {
      if (snapshotter !== 'btrfs') it(name, fn)
    }
    afterEach(async () => {
      for (const e of readMountinfo().reverse()) if (e.mountPoint.startsWith(root.dir)) await execa('umount', ['-l', e.mountPoint], {reject: false})
      root.cleanup()
    })

    it('mount/unmount round trip: prepare --mount, write, unmount, commit, view --mount reads it, unmount', async () => {
      const t1 = path.join(root.dir, 'mnt', 'a') // created if missing
      const r = await ctrsnap(['prepare', '--mount', '-t', t1, 'a'], o)
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toMatch(FIRST_LINE[snapshotter]!)
      expect(isMounted(t1)).toBe(true)
      fs.writeFileSync(path.join(t1, 'hello'), 'world')
      expect((await ctrsnap(['unmount', t1], o))).toEqual({stdout: '', stderr: '', exitCode: 0})
      expect(isMounted(t1)).toBe(false)
      expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0)

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

    coreOnly('rm refuses a mounted snapshot, naming the target, and is allowed after unmount', async () => {
      const t = path.join(root.dir, 'm')
      await ctrsnap(['prepare', '--mount', '-t', t, 'a'], o)
      const r = await ctrsnap(['rm', 'a'], o)
      expect(r).toEqual({stdout: '', stderr: `ctrsnap: cannot remove snapshot "a": it is mounted at ${t} (run: ctrsnap unmount ${t})\n`, exitCode: 5})
      expect((await ctrsnap(['ls'], o)).stdout).toContain('\na ')
      await ctrsnap(['unmount', t], o)
      expect((await ctrsnap(['rm', 'a'], o)).exitCode).toBe(0)
    })

    coreOnly('a mount removed by hand is not believed: rm proceeds and unmount just forgets it', async () => {
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
      expect(snapshotDirs()).toEqual([])
    })

    /** Where active snapshot `id` keeps its own layer (overlay: the upper, native: the tree, btrfs: its subvolume in active/). */
    const layerDir = (id: number): string =>
      snapshotter === 'btrfs' ? path.join(o.root, snapshotter, 'active', String(id)) : path.join(o.root, snapshotter, 'snapshots', String(id), ...(snapshotter === 'overlayfs' ? ['fs'] : []))

    it('commit refuses a snapshot ctrsnap has mounted, naming the mount and the way out, changing nothing; after unmount it commits', async () => {
      await ctrsnap(['prepare', 'w'], o)
      const t = path.join(root.dir, 'T')
      expect((await ctrsnap(['mounts', '--mount', t, 'w'], o)).exitCode).toBe(0)
      fs.writeFileSync(path.join(t, 'f'), '1')
      const before = (await ctrsnap(['ls'], o)).stdout
      const r = await ctrsnap(['commit', 'c', 'w'], o)
      expect(r).toEqual({stdout: '', stderr: `ctrsnap: cannot commit snapshot "w": it is mounted at ${t} (run: ctrsnap unmount ${t})\n`, exitCode: 5})
      expect((await ctrsnap(['ls'], o)).stdout).toBe(before)
      expect(isMounted(t)).toBe(true)
      expect((await ctrsnap(['unmount', t], o)).exitCode).toBe(0)
      expect((await ctrsnap(['commit', 'c', 'w'], o)).exitCode).toBe(0)
      expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY PARENT KIND      \nc          Committed \n')
    })

    coreOnly('unmount --rm refuses while the snapshot is also mounted elsewhere, leaving both mounts and the record as they were', async () => {
      const t1 = path.join(root.dir, 't1')
      const t2 = path.join(root.dir, 't2')
      await ctrsnap(['prepare', '--mount', '-t', t1, 'a'], o)
      await ctrsnap(['mounts', '--mount', t2, 'a'], o)
      const r = await ctrsnap(['unmount', '--rm', t1], o)
      expect(r).toEqual({stdout: '', stderr: `ctrsnap: cannot remove snapshot "a": it is mounted at ${t2} (run: ctrsnap unmount ${t2})\n`, exitCode: 5})
      expect([isMounted(t1), isMounted(t2)]).toEqual([true, true])
      expect((await ctrsnap(['unmount', t2], o)).exitCode).toBe(0)
      expect((await ctrsnap(['unmount', '--rm', t1], o)).exitCode).toBe(0)
      expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY PARENT KIND \n')
    })

    it('rm and rm -r refuse, touching nothing, while anything is mounted inside a snapshot\'s directory; the file on the tmpfs survives', async () => {
      await ctrsnap(['prepare', 'a'], o)
      await ctrsnap(['commit', 'base', 'a'], o)
      await ctrsnap(['prepare', 'b', 'base'], o) // id 2
      fs.writeFileSync(path.join(layerDir(2), 'mine'), 'x')
      const mnt = path.join(layerDir(2), 'mnt')
      fs.mkdirSync(mnt)
      await execa('mount', ['-t', 'tmpfs', 'tmpfs', mnt])
      fs.writeFileSync(path.join(mnt, 'precious'), 'keep')
      const before = (await ctrsnap(['ls'], o)).stdout
      const refused = {stdout: '', stderr: `ctrsnap: cannot remove snapshot "b": ${mnt} is mounted inside its directory (run: umount ${mnt})\n`, exitCode: 5}
      expect(await ctrsnap(['rm', 'b'], o)).toEqual(refused)
      expect(await ctrsnap(['rm', '-r', 'base'], o)).toEqual(refused)
      expect((await ctrsnap(['ls'], o)).stdout).toBe(before)
      expect(fs.readFileSync(path.join(mnt, 'precious'), 'utf8')).toBe('keep')
      expect(fs.readFileSync(path.join(layerDir(2), 'mine'), 'utf8')).toBe('x')
      await execa('umount', [mnt])
      expect((await ctrsnap(['rm', '-r', 'base'], o)).exitCode).toBe(0)
      expect(snapshotDirs()).toEqual([])
    })

    it('cleanup leaves an orphan with a tmpfs mounted inside, naming the mount; the file on the tmpfs survives', async () => {
      await ctrsnap(['prepare', 'a'], o)
      const orphan = path.join(o.root, snapshotter, 'snapshots', '9')
      // On btrfs a subvolume, as a commit killed before its persist leaves one.
      if (snapshotter === 'btrfs') await execa('btrfs', ['-q', 'subvolume', 'create', orphan])
      const mnt = path.join(orphan, 'mnt')
      fs.mkdirSync(mnt, {recursive: true})
      fs.writeFileSync(path.join(orphan, 'junk'), 'y')
      await execa('mount', ['-t', 'tmpfs', 'tmpfs', mnt])
      fs.writeFileSync(path.join(mnt, 'precious'), 'keep')
      const r = await ctrsnap(['cleanup'], o)
      expect(r).toEqual({stdout: `skipped ${orphan} (${mnt} is mounted inside it)\nreclaimed 0 items, 0.0 B\n`, stderr: '', exitCode: 0})
      expect(fs.readFileSync(path.join(mnt, 'precious'), 'utf8')).toBe('keep')
      expect(fs.readFileSync(path.join(orphan, 'junk'), 'utf8')).toBe('y')
      await execa('umount', [mnt])
      expect((await ctrsnap(['cleanup'], o)).stdout).toMatch(/^removed \S+\/snapshots\/9 \(directory with no snapshot record/)
      expect(fs.existsSync(orphan)).toBe(false)
    })

    coreOnly('a mount target inside a store of the root, or one that would hide it, is refused before anything is created or mounted', async () => {
      await ctrsnap(['prepare', 'w'], o)
      const store = path.join(o.root, snapshotter)
      const other = path.join(o.root, snapshotter === 'overlayfs' ? 'native' : 'overlayfs')
      const inside = [path.join(store, 'snapshots'), path.join(store, 'snapshots', 'new'), store]
      for (const t of inside) {
        expect(await ctrsnap(['mounts', '--mount', t, 'w'], o)).toEqual({stdout: '', stderr: `ctrsnap: cannot mount at ${t}: it is inside ctrsnap's store ${store}\n`, exitCode: 6})
      }
      expect((await ctrsnap(['mounts', '--mount', path.join(other, 'x'), 'w'], o)).stderr).toBe(`ctrsnap: cannot mount at ${path.join(other, 'x')}: it is inside ctrsnap's store ${other}\n`)
      for (const t of [o.root, root.dir, '/']) {
        const r = await ctrsnap(['mounts', '--mount', t, 'w'], o)
        expect(r.exitCode).toBe(6)
        expect(r.stderr).toMatch(new RegExp(`^ctrsnap: cannot mount at ${t}: it would hide ctrsnap's store /`))
      }
      for (const cmd of ['prepare', 'view']) {
        const r = await ctrsnap([cmd, '--mount', '-t', path.join(store, 'snapshots'), 'x', ...(cmd === 'view' ? ['w'] : [])], o)
        expect(r.exitCode).toBe(6)
      }
      expect(fs.existsSync(path.join(store, 'snapshots', 'new'))).toBe(false)
      expect(fs.existsSync(other)).toBe(false)
      expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY PARENT KIND   \nw          Active \n')
      expect(readMountinfo().filter(e => e.mountPoint.startsWith(root.dir))).toEqual([])
    })

    // btrfs mounts a live subvolume by id: nothing short of a fake mount(8) makes the kernel refuse it.
    coreOnly('a failed mount is an external-command error with mount\'s stderr, records nothing and takes the snapshot back', async () => {
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
