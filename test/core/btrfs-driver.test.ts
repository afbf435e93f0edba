import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {assertOnBtrfs, BTRFS_SUPER_MAGIC, BtrfsDriver, btrfsMounts, diffUsage, mountOf, mountsSubvol, parseRootId} from '../../src/core/drivers/btrfs.js'
import {FailedPreconditionError} from '../../src/core/errors.js'
import type {MountinfoEntry} from '../../src/core/mount.js'
import {makeLoopBtrfs, type LoopBtrfs} from '../helpers/btrfs.js'
import {isMountPoint} from '../helpers/mount.js'
import {canMount, tempRoot} from '../helpers/root.js'

const entry = (mountPoint: string, fsType = 'ext4', source = '/dev/sda1', superOptions = 'rw'): MountinfoEntry => ({root: '/', mountPoint, fsType, source, superOptions})

describe('btrfs driver: pure parts', () => {
  it('builds containerd 1.6\'s mount lines: the device, subvolid=N, and ro for anything not active', () => {
    // ctr 1.6 on btrfs printed: `mount -t btrfs /dev/loop0 T -o subvolid=256` (prepare) and `-o subvolid=259,ro` (view).
    expect(btrfsMounts('/dev/loop0', 256, 'Active')).toEqual([{type: 'btrfs', source: '/dev/loop0', options: ['subvolid=256']}])
    expect(btrfsMounts('/dev/loop0', 259, 'View')).toEqual([{type: 'btrfs', source: '/dev/loop0', options: ['subvolid=259', 'ro']}])
  })

  it('parses `btrfs inspect-internal rootid` and refuses anything else', () => {
    expect(parseRootId('257\n')).toBe(257)
    expect(() => parseRootId('ERROR: not a btrfs filesystem\n')).toThrow(/unexpected output/)
    expect(() => parseRootId('')).toThrow(/unexpected output/)
  })

  it('refuses a root not on btrfs with one line naming the root as given, judging a missing root by its nearest existing ancestor', () => {
    const t = tempRoot()
    try {
      const seen: string[] = []
      const ext4 = (p: string) => (seen.push(p), {type: 0xef53})
      const missing = path.join(t.dir, 'no', 'such', 'root')
      expect(() => assertOnBtrfs(missing, '/given/root', ext4)).toThrow(new FailedPreconditionError('/given/root is not on a btrfs file system'))
      expect(seen).toEqual([t.dir])
      expect(() => assertOnBtrfs(missing, missing, () => ({type: BTRFS_SUPER_MAGIC}))).not.toThrow()
    } finally {
      t.cleanup()
    }
  })

  it('refuses a real root on this machine\'s temp dir when that is not btrfs (the driver\'s check, with statfs for real)', () => {
    const t = tempRoot()
    try {
      if (fs.statfsSync(t.dir).type === BTRFS_SUPER_MAGIC) return // temp dir on btrfs: nothing to refuse
      const d = new BtrfsDriver(path.join(t.dir, 'btrfs'), t.dir)
      expect(() => d.checkRoot()).toThrow(`${t.dir} is not on a btrfs file system`)
      expect(() => d.device()).toThrow(FailedPreconditionError)
    } finally {
      t.cleanup()
    }
  })

  it('finds the mount holding a path: the deepest mount point at or above it, the last of equals, never a sibling with a common prefix', () => {
    const entries = [entry('/'), entry('/mnt/a', 'btrfs', '/dev/loop1'), entry('/mnt/ab', 'btrfs', '/dev/loop2'), entry('/mnt/a', 'btrfs', '/dev/loop3')]
    expect(mountOf('/mnt/a/root/btrfs', entries)?.source).toBe('/dev/loop3')
    expect(mountOf('/mnt/a', entries)?.source).toBe('/dev/loop3')
    expect(mountOf('/mnt/abc', entries)?.mountPoint).toBe('/')
    expect(mountOf('/mnt/ab/x', entries)?.source).toBe('/dev/loop2')
  })

  it('recognises a mount of one subvolume by device and subvolid, not by a longer id or another device', () => {
    const e = entry('/t', 'btrfs', '/dev/loop0', 'rw,relatime,space_cache=v2,subvolid=257,subvol=/x/active/1')
    expect(mountsSubvol(e, '/dev/loop0', 257)).toBe(true)
    expect(mountsSubvol(e, '/dev/loop0', 25)).toBe(false)
    expect(mountsSubvol(e, '/dev/loop1', 257)).toBe(false)
  })

  it('measures usage against the parent as containerd\'s DiffUsage: added and modified entries, each inode once; deleted and unchanged nothing', async () => {
    const t = tempRoot()
    try {
      const a = path.join(t.dir, 'a')
      const b = path.join(t.dir, 'b')
      fs.mkdirSync(path.join(a, 'dir'), {recursive: true})
      fs.writeFileSync(path.join(a, 'dir', 'same'), 'x'.repeat(5000))
      fs.writeFileSync(path.join(a, 'dir', 'changed'), 'old')
      fs.writeFileSync(path.join(a, 'gone'), 'bye')
      fs.writeFileSync(path.join(a, 'whole-seconds'), 'same size, other bytes')
      fs.utimesSync(path.join(a, 'whole-seconds'), 1_000_000, 1_000_000)
      await execa('cp', ['-a', `${a}/.`, `${b}/`])
      expect(diffUsage(a, b)).toEqual({size: 0, inodes: 0})

      fs.writeFileSync(path.join(b, 'dir', 'changed'), 'new content')
      fs.rmSync(path.join(b, 'gone'))
      fs.mkdirSync(path.join(b, 'added'))
      fs.writeFileSync(path.join(b, 'added', 'f'), 'y'.repeat(10_000))
      fs.linkSync(path.join(b, 'added', 'f'), path.join(b, 'added', 'hardlink'))
      // Same size and (whole-second) mtime as the parent's, other content: only the bytes tell.
      fs.writeFileSync(path.join(b, 'whole-seconds'), 'SAME SIZE, OTHER BYTES')
      fs.utimesSync(path.join(b, 'whole-seconds'), 1_000_000, 1_000_000)
      const blocks = (p: string): number => fs.lstatSync(path.join(b, p)).blocks * 512
      expect(diffUsage(a, b)).toEqual({
        size: blocks('dir/changed') + blocks('added') + blocks('added/f') + blocks('whole-seconds'),
        inodes: 4,
      })
    } finally {
      t.cleanup()
    }
  })
})

const btrfs = async (...args: string[]): Promise<string> => (await execa('btrfs', args, {env: {LC_ALL: 'C'}})).stdout
const isRo = async (p: string): Promise<boolean> => (await btrfs('property', 'get', '-ts', p, 'ro')).trim() === 'ro=true'
const subvolPaths = async (mnt: string): Promise<string[]> => (await btrfs('subvolume', 'list', '-o', mnt)).split('\n').filter(Boolean).map(l => l.replace(/^.* path /, ''))

describe.skipIf(!canMount)('btrfs driver on a loop btrfs (needs root)', () => {
  let fsys: LoopBtrfs
  let d: BtrfsDriver
  let rel: (p: string) => string
  const targets: string[] = []
  beforeAll(() => {
    fsys = makeLoopBtrfs()
    d = new BtrfsDriver(path.join(fsys.dir, 'btrfs'), fsys.dir)
    rel = p => path.relative(fsys.dir, p)
  })
  afterEach(async () => {
    for (const t of targets.splice(0)) if (isMountPoint(t)) await execa('umount', [t])
  })
  afterAll(() => fsys?.cleanup())

  it('accepts the root, and finds the loop device ctr would print as the mount source', () => {
    expect(() => d.checkRoot()).not.toThrow()
    expect(d.device()).toBe(fsys.device)
  })

  it('creates, commits read-only, snapshots and deletes subvolumes in containerd\'s layout; mounts by subvolid', async () => {
    // active/1: a new writable subvolume.
    const a1 = d.dirOf({id: 1, kind: 'Active'})
    await d.createDir(a1, null, 'Active')
    expect(rel(a1)).toBe('btrfs/active/1')
    expect(await isRo(a1)).toBe(false)
    expect(fs.statSync(a1).mode & 0o7777).toBe(0o755)
    expect(fs.statSync(d.root).mode & 0o7777).toBe(0o700)
    fs.writeFileSync(path.join(a1, 'big'), Buffer.alloc(8 << 20, 7))

    // The mount line names the device and the subvolume; mounting it shows the data.
    const [m] = await d.mounts({id: 1, kind: 'Active', parentIds: []})
    expect(m).toEqual({type: 'btrfs', source: fsys.device, options: [`subvolid=${parseRootId(await btrfs('inspect-internal', 'rootid', a1))}`]})
    const t1 = path.join(fsys.dir, '..', 't1')
    fs.mkdirSync(t1)
    targets.push(t1)
    await execa('mount', ['-t', m!.type, '-o', m!.options.join(','), m!.source, t1])
    expect(fs.statSync(path.join(t1, 'big')).size).toBe(8 << 20)
    expect(await d.inUse(a1)).toBe(true)
    await execa('umount', [t1])
    expect(await d.inUse(a1)).toBe(false)

    // Commit: a read-only snapshot at snapshots/1 first, then the active one goes.
    const c1 = await d.commitDir(1)
    expect(rel(c1)).toBe('btrfs/snapshots/1')
    expect(await isRo(c1)).toBe(true)
    await d.removeDir(a1)
    expect(fs.existsSync(a1)).toBe(false)
    expect(await subvolPaths(fsys.dir)).toEqual(['btrfs/snapshots/1'])

    // A view and an active on it are snapshots: read-only and writable, sharing the parent's extents (nothing copied).
    const v2 = d.dirOf({id: 2, kind: 'View'})
    const a3 = d.dirOf({id: 3, kind: 'Active'})
    await d.createDir(v2, c1, 'View')
    await d.createDir(a3, c1, 'Active')
    expect(await isRo(v2)).toBe(true)
    expect(await isRo(a3)).toBe(false)
    expect(fs.readFileSync(path.join(a3, 'big')).equals(fs.readFileSync(path.join(c1, 'big')))).toBe(true)
    const exclusive = (await btrfs('filesystem', 'du', '-s', '--raw', a3)).split('\n')[1]!.trim().split(/\s+/)[1]
    expect(exclusive).toBe('0')
    const [vm] = await d.mounts({id: 2, kind: 'View', parentIds: [1]})
    expect(vm!.options).toEqual([`subvolid=${await d.subvolId(v2)}`, 'ro'])
    expect(() => fs.writeFileSync(path.join(v2, 'x'), '')).toThrow(/EROFS|read-only/)

    // Deep chain: commit a3 and snapshot it again.
    fs.writeFileSync(path.join(a3, 'added'), 'more')
    const c3 = await d.commitDir(3)
    await d.removeDir(a3)
    const a4 = d.dirOf({id: 4, kind: 'Active'})
    await d.createDir(a4, c3, 'Active')
    expect(fs.readdirSync(a4).sort()).toEqual(['added', 'big'])

    // Read-only subvolumes are deleted too (rm -rf cannot), and one renamed aside first, as the core's removal does:
    // within its own directory, since moving a read-only subvolume to another directory fails.
    expect(() => fs.renameSync(v2, path.join(d.root, 'snapshots', 'rm-2'))).toThrow(/EROFS/)
    const aside = d.removingPath({id: 2, kind: 'View'})
    expect(rel(aside)).toBe('btrfs/view/rm-2')
    fs.renameSync(v2, aside)
    await d.removeDir(aside)
    await d.removeDir(c3)
    expect(await subvolPaths(fsys.dir)).toEqual(['btrfs/snapshots/1', 'btrfs/active/4'])
  })

  it('a view without a parent is an empty subvolume, writable on disk as containerd makes it, ro in its mount line; a commit killed before it persisted leaves a snapshots/<id> that the next commit replaces', async () => {
    const v = d.dirOf({id: 10, kind: 'View'})
    await d.createDir(v, null, 'View')
    expect(await isRo(v)).toBe(false)
    expect(fs.readdirSync(v)).toEqual([])
    expect((await d.mounts({id: 10, kind: 'View', parentIds: []}))[0]!.options).toEqual([`subvolid=${await d.subvolId(v)}`, 'ro'])

    const a = d.dirOf({id: 11, kind: 'Active'})
    await d.createDir(a, null, 'Active')
    fs.writeFileSync(path.join(a, 'first'), '1')
    await d.commitDir(11) // "killed" here: the record still says Active
    fs.writeFileSync(path.join(a, 'second'), '2')
    const c = await d.commitDir(11)
    expect(fs.readdirSync(c).sort()).toEqual(['first', 'second'])
    await d.removeDir(a)
    await d.removeDir(c)
    await d.removeDir(v)
  })

  it('removeDir deletes subvolumes a user nested inside a snapshot first, and a plain directory as a directory', async () => {
    const a = d.dirOf({id: 20, kind: 'Active'})
    await d.createDir(a, null, 'Active')
    await btrfs('subvolume', 'create', path.join(a, 'nested'))
    await btrfs('subvolume', 'create', path.join(a, 'nested', 'deeper'))
    fs.writeFileSync(path.join(a, 'nested', 'deeper', 'f'), 'x')
    await d.removeDir(a)
    expect(fs.existsSync(a)).toBe(false)
    expect((await subvolPaths(fsys.dir)).filter(p => p.includes('/20'))).toEqual([])

    const plain = path.join(d.root, 'snapshots', '21')
    fs.mkdirSync(path.join(plain, 'sub'), {recursive: true})
    await d.removeDir(plain)
    expect(fs.existsSync(plain)).toBe(false)
    await d.removeDir(plain) // already gone: nothing to do
  })

  it('reports usage as ctr 1.6 did for the same steps: everything without a parent, the difference with one', async () => {
    // The reference run (bench/btrfs/REFERENCE.md): base 984.0 KiB / 4 inodes, child 12.0 KiB / 2 inodes.
    const base = d.dirOf({id: 30, kind: 'Active'})
    await d.createDir(base, null, 'Active')
    fs.writeFileSync(path.join(base, 'big'), randomBytes(1_000_000))
    fs.mkdirSync(path.join(base, 'dir'))
    fs.writeFileSync(path.join(base, 'dir', 'small'), 'hi\n')
    await execa('sync')
    expect(d.usage({id: 30, kind: 'Active', parentIds: []})).toEqual({size: 984 * 1024, inodes: 4})
    await d.commitDir(30)
    await d.removeDir(base)
    const child = d.dirOf({id: 31, kind: 'Active'})
    await d.createDir(child, d.dirOf({id: 30, kind: 'Committed'}), 'Active')
    fs.writeFileSync(path.join(child, 'added'), 'new\n')
    fs.writeFileSync(path.join(child, 'dir', 'small'), randomBytes(8192))
    await execa('sync')
    expect(d.usage({id: 31, kind: 'Active', parentIds: [30]})).toEqual({size: 12 * 1024, inodes: 2})
  })

  it('a read-only snapshot made under an in-flight name in its kind\'s directory renames into place; the name carries the pid, as cleanup expects', async () => {
    const a = d.dirOf({id: 39, kind: 'Active'})
    await d.createDir(a, null, 'Active')
    const c = await d.commitDir(39)
    await d.removeDir(a)
    const tmp = d.tempPath('View')
    expect(rel(tmp)).toMatch(new RegExp(`^btrfs/view/new-${process.pid}-[0-9a-f]{8}$`))
    expect(fs.existsSync(tmp)).toBe(false)
    await d.createDir(tmp, c, 'View')
    const v = d.dirOf({id: 41, kind: 'View'})
    fs.renameSync(tmp, v)
    expect(await isRo(v)).toBe(true)
    await d.removeDir(v)
    await d.removeDir(c)
  })
})
