import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {assertOnBtrfs, BTRFS_SUPER_MAGIC, BtrfsDriver, btrfsMounts, diffUsage, mountOf, parseRootId} from '../../src/core/drivers/btrfs.js'
import {ExternalCommandError, UnsupportedFilesystemError} from '../../src/core/errors.js'
import {MountInTheWayError} from '../../src/core/fs/remove.js'
import {readMountinfo, type MountinfoEntry} from '../../src/core/mount.js'
import {makeLoopBtrfs, type LoopBtrfs} from '../helpers/btrfs.js'
import {BIN} from '../helpers/cli.js'
import {isMountPoint} from '../helpers/mount.js'
import {canMount, tempRoot} from '../helpers/root.js'

const entry = (mountPoint: string, fsType = 'ext4', source = '/dev/sda1'): MountinfoEntry => ({root: '/', mountPoint, fsType, source, superOptions: 'rw'})

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
      expect(() => assertOnBtrfs(missing, '/given/root', ext4)).toThrow(new UnsupportedFilesystemError('/given/root is not on a btrfs file system'))
      expect(seen).toEqual([t.dir])
      expect(() => assertOnBtrfs(missing, missing, () => ({type: BTRFS_SUPER_MAGIC}))).not.toThrow()
    } finally {
      t.cleanup()
    }
  })

  it('refuses a real root on this machine\'s temp dir, which is not btrfs (the driver\'s check, with statfs for real)', () => {
    const t = tempRoot()
    try {
      // The tests' temp dir must not be btrfs, or this check proves nothing.
      expect(fs.statfsSync(t.dir).type).not.toBe(BTRFS_SUPER_MAGIC)
      const d = new BtrfsDriver(path.join(t.dir, 'btrfs'), t.dir)
      expect(() => d.checkRoot()).toThrow(new UnsupportedFilesystemError(`${t.dir} is not on a btrfs file system`))
      expect(() => d.device()).toThrow(UnsupportedFilesystemError)
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

  it('measures usage against the parent as containerd\'s DiffUsage: added and modified entries, each inode once; deleted and unchanged nothing', async () => {
    const t = tempRoot()
    try {
      const a = path.join(t.dir, 'a')
      const b = path.join(t.dir, 'b')
      const latin1 = Buffer.from('caf\xe9', 'latin1') // not UTF-8: walked as bytes
      fs.mkdirSync(path.join(a, 'dir'), {recursive: true})
      fs.writeFileSync(path.join(a, 'dir', 'same'), 'x'.repeat(5000))
      fs.writeFileSync(path.join(a, 'dir', 'changed'), 'old')
      fs.writeFileSync(path.join(a, 'gone'), 'bye')
      fs.writeFileSync(path.join(a, 'file-then-dir'), 'f')
      fs.writeFileSync(Buffer.concat([Buffer.from(a + '/'), latin1]), 'bytes')
      fs.writeFileSync(path.join(a, 'whole-seconds'), 'same size, other bytes')
      fs.utimesSync(path.join(a, 'whole-seconds'), 1_000_000, 1_000_000)
      await execa('cp', ['-a', `${a}/.`, `${b}/`])
      expect(diffUsage(a, b)).toEqual({size: 0, inodes: 0})

      fs.writeFileSync(path.join(b, 'dir', 'changed'), 'new content')
      fs.rmSync(path.join(b, 'gone'))
      fs.mkdirSync(path.join(b, 'added'))
      fs.writeFileSync(path.join(b, 'added', 'f'), 'y'.repeat(10_000))
      fs.linkSync(path.join(b, 'added', 'f'), path.join(b, 'added', 'hardlink'))
      // A directory where the parent has a file: it and what is under it are new (the parent's path is not a directory).
      fs.rmSync(path.join(b, 'file-then-dir'))
      fs.mkdirSync(path.join(b, 'file-then-dir'))
      fs.writeFileSync(path.join(b, 'file-then-dir', 'inner'), 'i')
      fs.writeFileSync(Buffer.concat([Buffer.from(b + '/'), latin1]), 'BYTES')
      // Same size and (whole-second) mtime as the parent's, other content: only the bytes tell.
      fs.writeFileSync(path.join(b, 'whole-seconds'), 'SAME SIZE, OTHER BYTES')
      fs.utimesSync(path.join(b, 'whole-seconds'), 1_000_000, 1_000_000)
      const blocks = (p: string | Buffer): number => fs.lstatSync(typeof p === 'string' ? path.join(b, p) : Buffer.concat([Buffer.from(b + '/'), p])).blocks * 512
      const changed = ['dir/changed', 'added', 'added/f', 'file-then-dir', 'file-then-dir/inner', 'whole-seconds']
      expect(diffUsage(a, b)).toEqual({size: changed.reduce((n, p) => n + blocks(p), blocks(latin1)), inodes: changed.length + 1})
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
  /** What the core does to make a snapshot: build under the kind's in-flight name, rename into place. */
  const make = async (id: number, kind: 'Active' | 'View', parentIds: number[] = []): Promise<string> => {
    const tmp = d.tempPath(kind)
    await d.build(tmp, {kind, parentIds})
    const dir = d.dirOf({id, kind})
    fs.renameSync(tmp, dir)
    return dir
  }
  /** What the core does to commit: the read-only snapshot, then (after the persist) the active one goes. */
  const commit = async (id: number): Promise<string> => {
    await d.commitDir(id)
    await d.removeDir(d.dirOf({id, kind: 'Active'}))
    return d.dirOf({id, kind: 'Committed'})
  }
  const target = (name: string): string => {
    const t = path.join(fsys.dir, '..', name)
    fs.mkdirSync(t)
    targets.push(t)
    return t
  }
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
    // active/1: a new writable subvolume, in containerd's directories (root 0700, kinds 0755).
    const a1 = await make(1, 'Active')
    expect(rel(a1)).toBe('btrfs/active/1')
    expect(fs.lstatSync(a1).ino).toBe(256)
    expect(await isRo(a1)).toBe(false)
    expect(fs.statSync(a1).mode & 0o7777).toBe(0o755)
    expect(fs.statSync(d.root).mode & 0o7777).toBe(0o700)
    for (const k of ['active', 'view', 'snapshots']) expect(fs.statSync(path.join(d.root, k)).mode & 0o7777).toBe(0o755)
    fs.writeFileSync(path.join(a1, 'big'), Buffer.alloc(8 << 20, 7))

    // The mount line names the device and the subvolume (the id build saw, then one read from disk: the same); mounting it shows the data.
    const [m] = await d.mounts({id: 1, kind: 'Active', parentIds: []})
    const id = parseRootId(await btrfs('inspect-internal', 'rootid', a1))
    expect(m).toEqual({type: 'btrfs', source: fsys.device, options: [`subvolid=${id}`]})
    expect(await d.mounts({id: 1, kind: 'Active', parentIds: []})).toEqual([m])
    const t1 = target('t1')
    await execa('mount', ['-t', m!.type, '-o', m!.options.join(','), m!.source, t1])
    expect(fs.statSync(path.join(t1, 'big')).size).toBe(8 << 20)
    expect(await d.useOf(a1, readMountinfo())).toBe(`its subvolume is mounted at ${t1}`)
    await execa('umount', [t1])
    expect(await d.useOf(a1, readMountinfo())).toBeUndefined()

    // Commit: a read-only snapshot at snapshots/1 first, then the active one goes.
    const c1 = await commit(1)
    expect(rel(c1)).toBe('btrfs/snapshots/1')
    expect(await isRo(c1)).toBe(true)
    expect(fs.existsSync(a1)).toBe(false)
    expect(await subvolPaths(fsys.dir)).toEqual(['btrfs/snapshots/1'])

    // A view and an active on it are snapshots: read-only and writable, sharing the parent's extents (nothing copied).
    const v2 = await make(2, 'View', [1])
    const a3 = await make(3, 'Active', [1])
    expect(await isRo(v2)).toBe(true)
    expect(await isRo(a3)).toBe(false)
    expect(fs.readFileSync(path.join(a3, 'big')).equals(fs.readFileSync(path.join(c1, 'big')))).toBe(true)
    const exclusive = (await btrfs('filesystem', 'du', '-s', '--raw', a3)).split('\n')[1]!.trim().split(/\s+/)[1]
    expect(exclusive).toBe('0')
    const [vm] = await d.mounts({id: 2, kind: 'View', parentIds: [1]})
    expect(vm!.options).toEqual([`subvolid=${await d.subvolId(v2)}`, 'ro'])
    expect(() => fs.writeFileSync(path.join(v2, 'x'), '')).toThrow(/EROFS|read-only/)
    expect((await d.tree({id: 2, kind: 'View', parentIds: [1]})).dir).toBe(v2)

    // Deep chain: commit a3 and snapshot it again.
    fs.writeFileSync(path.join(a3, 'added'), 'more')
    const c3 = await commit(3)
    const a4 = await make(4, 'Active', [3])
    expect(fs.readdirSync(a4).sort()).toEqual(['added', 'big'])

    // Read-only subvolumes are deleted too (rm -rf cannot), and one renamed aside first, as the core's removal does:
    // within its own directory, since moving a read-only subvolume to another directory fails.
    expect(() => fs.renameSync(v2, path.join(d.root, 'snapshots', 'rm-2'))).toThrow(/EROFS/)
    expect(() => fs.rmSync(v2, {recursive: true})).toThrow()
    const aside = d.removingPath({id: 2, kind: 'View'})
    expect(rel(aside)).toBe('btrfs/view/rm-2')
    fs.renameSync(v2, aside)
    await d.removeDir(aside)
    await d.removeDir(c3)
    expect(await subvolPaths(fsys.dir)).toEqual(['btrfs/snapshots/1', 'btrfs/active/4'])
    await d.removeDir(a4)
    await d.removeDir(c1)
  })

  it('a view without a parent is an empty subvolume, writable on disk as containerd makes it, ro in its mount line; a commit killed before it persisted leaves a snapshots/<id> that the next commit replaces', async () => {
    const v = await make(10, 'View')
    expect(await isRo(v)).toBe(false)
    expect(fs.readdirSync(v)).toEqual([])
    expect((await d.mounts({id: 10, kind: 'View', parentIds: []}))[0]!.options).toEqual([`subvolid=${await d.subvolId(v)}`, 'ro'])

    const a = await make(11, 'Active')
    fs.writeFileSync(path.join(a, 'first'), '1')
    await d.commitDir(11) // "killed" here: the record still says Active
    fs.writeFileSync(path.join(a, 'second'), '2')
    await d.commitDir(11)
    const c = d.dirOf({id: 11, kind: 'Committed'})
    expect(fs.readdirSync(c).sort()).toEqual(['first', 'second'])
    for (const p of [a, c, v]) await d.removeDir(p)
  })

  it('a failed btrfs command reads as btrfs\'s own error; a missing parent subvolume is a corrupt store', async () => {
    const a = await make(15, 'Active')
    const err = await d.build(a, {kind: 'Active', parentIds: []}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ExternalCommandError)
    expect((err as ExternalCommandError).command).toBe('btrfs')
    expect((err as Error).message).toMatch(/^btrfs failed: ERROR: target path already exists/)
    await expect(d.build(d.tempPath('Active'), {kind: 'Active', parentIds: [999]})).rejects.toThrow(`the parent's subvolume ${d.dirOf({id: 999, kind: 'Committed'})} is missing`)
    await d.removeDir(a)
  })

  it('without btrfs-progs a command fails with one line saying so, exit 7, and leaves nothing', async () => {
    const root = path.join(fsys.dir, 'no-progs')
    // Only node on PATH: no btrfs (nor anything else ctrsnap could run).
    const bin = path.join(fsys.dir, '..', 'only-node')
    fs.mkdirSync(bin)
    fs.symlinkSync(process.execPath, path.join(bin, 'node'))
    const r = await execa(path.join(bin, 'node'), [BIN, 'prepare', 'a'], {env: {PATH: bin, CTRSNAP_ROOT: root, CTRSNAP_SNAPSHOTTER: 'btrfs', DEBUG: ''}, extendEnv: false, reject: false})
    expect({code: r.exitCode, stderr: r.stderr}).toEqual({code: 7, stderr: 'ctrsnap: btrfs failed: btrfs is not installed or not on PATH (it is in btrfs-progs)'})
    expect(fs.existsSync(root)).toBe(false)
  })

  it('removeDir deletes subvolumes a user nested inside a snapshot first, and a plain directory as a directory', async () => {
    const a = await make(20, 'Active')
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

  it('removeDir refuses while something is mounted inside the subvolume; its subvolume mounted elsewhere does not stop it (containerd deletes it too)', async () => {
    const a = await make(25, 'Active')
    const inner = path.join(a, 'mnt')
    fs.mkdirSync(inner)
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', inner])
    fs.writeFileSync(path.join(inner, 'precious'), 'keep')
    try {
      const err = await d.removeDir(a).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MountInTheWayError)
      expect((err as MountInTheWayError).reason).toBe(`${inner} is mounted inside it`)
      expect(await d.useOf(a, readMountinfo())).toBe(`${inner} is mounted inside it`)
      expect(fs.readFileSync(path.join(inner, 'precious'), 'utf8')).toBe('keep')
    } finally {
      await execa('umount', [inner])
    }

    const [m] = await d.mounts({id: 25, kind: 'Active', parentIds: []})
    const t = target('t25')
    await execa('mount', ['-t', 'btrfs', '-o', m!.options.join(','), m!.source, t])
    await d.removeDir(a)
    expect(fs.existsSync(a)).toBe(false)
    expect(fs.readdirSync(t)).toEqual([])
  })

  it('reports usage as ctr 1.6 did for the same steps: everything without a parent, the difference with one', async () => {
    // The reference run (bench/btrfs/REFERENCE.md): base 984.0 KiB / 4 inodes, child 12.0 KiB / 2 inodes.
    const base = await make(30, 'Active')
    fs.writeFileSync(path.join(base, 'big'), randomBytes(1_000_000))
    fs.mkdirSync(path.join(base, 'dir'))
    fs.writeFileSync(path.join(base, 'dir', 'small'), 'hi\n')
    await execa('sync')
    expect(d.usage({id: 30, kind: 'Active', parentIds: []})).toEqual({size: 984 * 1024, inodes: 4})
    await commit(30)
    const child = await make(31, 'Active', [30])
    // A fresh child: every inode is its parent's, untouched.
    expect(d.usage({id: 31, kind: 'Active', parentIds: [30]})).toEqual({size: 0, inodes: 0})
    fs.writeFileSync(path.join(child, 'added'), 'new\n')
    fs.writeFileSync(path.join(child, 'dir', 'small'), randomBytes(8192))
    await execa('sync')
    expect(d.usage({id: 31, kind: 'Active', parentIds: [30]})).toEqual({size: 12 * 1024, inodes: 2})
  })

  it('a read-only snapshot made under an in-flight name in its kind\'s directory renames into place; the name carries the pid, as cleanup expects', async () => {
    const a = await make(39, 'Active')
    await commit(39)
    const tmp = d.tempPath('View')
    expect(rel(tmp)).toMatch(new RegExp(`^btrfs/view/new-${process.pid}-[0-9a-f]{8}$`))
    expect(fs.existsSync(tmp)).toBe(false)
    await d.build(tmp, {kind: 'View', parentIds: [39]})
    const v = d.dirOf({id: 41, kind: 'View'})
    fs.renameSync(tmp, v)
    expect(await isRo(v)).toBe(true)
    await d.removeDir(v)
    await d.removeDir(d.dirOf({id: 39, kind: 'Committed'}))
    expect(fs.existsSync(a)).toBe(false)
  })

  it('stages layers in a plain directory of the file system, on another device than any snapshot (the applier copies across with reflinks)', async () => {
    const stage = d.stagingDir()
    expect(rel(stage)).toMatch(new RegExp(`^btrfs/active/new-${process.pid}-`))
    expect(fs.lstatSync(stage).ino).not.toBe(256)
    const a = await make(50, 'Active')
    expect(fs.statSync(stage).dev).not.toBe(fs.statSync(a).dev)
    await d.removeDir(stage)
    await d.removeDir(a)
    expect(d.lockDir()).toBe(path.join(d.root, 'locks'))
  })
})
