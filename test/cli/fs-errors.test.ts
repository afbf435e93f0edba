import {execa} from 'execa'
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {BIN} from '../helpers/cli.js'
import {buildImage, ociLayoutFiles, writeFiles} from '../helpers/image.js'
import {isLinux, isRoot, loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

// What the file system refuses (a root under /proc, read-only, full, not a
// directory, a symlink loop, no permission) reaches the user as one line with
// the kernel's reason and exit status 8, from every command, quickly; and a
// command that fails or only reads leaves the disk as it was.

let tmp: ReturnType<typeof tempRoot>
let mnt: string
beforeEach(() => {
  tmp = tempRoot('ctrsnap-fs-errors-')
  mnt = path.join(tmp.dir, 'mnt')
  fs.mkdirSync(mnt)
})
afterEach(async () => {
  // Whatever a test mounted here goes, even when it failed half-way.
  for (let i = 0; i < 4 && fs.existsSync(mnt) && (await execa('mountpoint', ['-q', mnt], {reject: false})).exitCode === 0; i++) {
    await execa('umount', ['-l', mnt], {reject: false})
  }
  tmp.cleanup()
})

/** Run the CLI; a hang is a failure, not a stuck suite. */
async function run(args: string[], root: string, snapshotter = 'overlayfs') {
  const r = await execa('node', [BIN, ...args], {env: {CTRSNAP_ROOT: root, CTRSNAP_SNAPSHOTTER: snapshotter, DEBUG: ''}, reject: false, stripFinalNewline: false, timeout: 15_000, input: ''})
  return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.timedOut ? 'hung' : r.exitCode}
}

/** A one-layer OCI layout outside any mount under test. */
function image(): string {
  const img = buildImage([{entries: [{name: 'etc/', type: 'dir'}, {name: 'etc/hostname', content: 'x\n'}]}])
  return writeFiles(path.join(tmp.dir, 'image'), ociLayoutFiles([{image: img, tag: 'v1'}]))
}

async function tmpfs(opts: string): Promise<void> {
  await execa('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', mnt])
}

/** Every entry under `dir`: path, type, mode, size and content digest (mtimes aside: a lock taken and released touches its directory). */
function tree(dir: string): string[] {
  const out: string[] = []
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), {withFileTypes: true})) {
      const r = path.join(rel, e.name)
      const st = fs.lstatSync(path.join(dir, r))
      const sum = e.isFile() ? createHash('sha256').update(fs.readFileSync(path.join(dir, r))).digest('hex').slice(0, 16) : ''
      out.push(`${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${e.isDirectory() ? '' : st.size} ${sum}`)
      if (e.isDirectory()) walk(r)
    }
  }
  walk('')
  return out.sort()
}

describe.skipIf(!isLinux)('item 1: directory creation is bounded', () => {
  it('a root under /proc fails at once with the directory and the kernel\'s reason, from prepare and unpack', async () => {
    const root = `/proc/ctrsnap-test-${process.pid}`
    const line = `ctrsnap: cannot create ${root}: no such file or directory (ENOENT)\n`
    for (const args of [['prepare', 'x'], ['view', 'v'], ['unpack', `${image()}:v1`]]) {
      const t0 = Date.now()
      const r = await run(args, root)
      expect(r, args.join(' ')).toMatchObject({exitCode: 8, stdout: '', stderr: line})
      expect(Date.now() - t0).toBeLessThan(10_000)
    }
  })

  it.skipIf(!isRoot)('a mount target under /proc fails at once, and the prepare it belonged to is taken back (needs root)', async () => {
    const root = path.join(tmp.dir, 'root')
    const target = `/proc/ctrsnap-test-${process.pid}/t`
    const r = await run(['prepare', '--target', target, '--mount', 'x'], root)
    expect(r).toMatchObject({exitCode: 8, stderr: `ctrsnap: cannot create ${path.dirname(target)}: no such file or directory (ENOENT)\n`})
    expect((await run(['ls', '-q'], root)).stdout).toBe('')
  })
})

describe.skipIf(!isLinux)('item 2: the kernel\'s reason, one line, exit 8', () => {
  it.skipIf(!isRoot)('a read-only file system: "read-only file system" from prepare, view and unpack alike, on a root inside it or at it (needs root)', async () => {
    await tmpfs('size=1m')
    await execa('mount', ['-o', 'remount,ro', mnt])
    const src = image()
    for (const [root, refused] of [[path.join(mnt, 'root'), path.join(mnt, 'root')], [mnt, path.join(mnt, 'overlayfs')]] as const) {
      for (const args of [['prepare', 'x'], ['view', 'v'], ['unpack', `${src}:v1`]]) {
        const r = await run(args, root)
        expect(r, `${root}: ${args.join(' ')}`).toMatchObject({exitCode: 8, stdout: '', stderr: `ctrsnap: cannot create ${refused}: read-only file system (EROFS)\n`})
      }
      const j = await run(['unpack', '--json', `${src}:v1`], root)
      expect(JSON.parse(j.stdout)).toEqual({error: {kind: 'unavailable', exitCode: 8, message: `cannot create ${refused}: read-only file system (EROFS)`}})
    }
  })

  it.skipIf(!isRoot)('a read-only -o FILE: one line naming the file, nothing left (needs root)', async () => {
    const root = path.join(tmp.dir, 'root')
    expect((await run(['prepare', 'k'], root)).exitCode).toBe(0)
    await tmpfs('size=1m')
    await execa('mount', ['-o', 'remount,ro', mnt])
    const out = path.join(mnt, 'layer.tar')
    const r = await run(['diff', '-o', out, 'k'], root)
    expect(r).toMatchObject({exitCode: 6, stdout: '', stderr: `ctrsnap: cannot write ${out}: read-only file system (EROFS)\n`})
  })

  for (const snapshotter of ['overlayfs', 'native']) {
    it.skipIf(!isRoot)(`a full disk (${snapshotter}): prepare and unpack on a new root say "no space left on device" and leave nothing (needs root)`, async () => {
      await tmpfs('size=64k')
      const fd = fs.openSync(path.join(mnt, 'filler'), 'w')
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096))
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
      } finally {
        fs.closeSync(fd)
      }
      const root = path.join(mnt, 'root')
      for (const args of [['prepare', 'x'], ['unpack', `${image()}:v1`]]) {
        const r = await run(args, root, snapshotter)
        expect(r.exitCode, args.join(' ')).toBe(8)
        // prepare fails writing its metadata, unpack writing the layer's files (tar says so)
        expect(r.stderr, args.join(' ')).toMatch(/^ctrsnap: [^\n]*no space left on device[^\n]*\n$/)
        expect(fs.readdirSync(mnt), args.join(' ')).toEqual(['filler'])
      }
    })
  }

  it.skipIf(!isRoot)('no inode left: mkdir\'s ENOSPC names the directory (needs root)', async () => {
    await tmpfs('size=1m,nr_inodes=2')
    const root = path.join(mnt, 'a', 'root')
    fs.mkdirSync(path.join(mnt, 'a'))
    const r = await run(['prepare', 'x'], root)
    expect(r).toMatchObject({exitCode: 8, stderr: `ctrsnap: cannot create ${root}: no space left on device (ENOSPC)\n`})
  })

  it.skipIf(!isRoot)('a full disk under diff -o FILE: one line naming the file, no temp file left (needs root)', async () => {
    const root = path.join(tmp.dir, 'root')
    expect((await run(['prepare', 'k'], root)).exitCode).toBe(0)
    // Incompressible data, more than the file system holds.
    fs.writeFileSync(path.join(root, 'overlayfs', 'snapshots', '1', 'fs', 'noise'), randomBytes(256 * 1024))
    await tmpfs('size=64k')
    const out = path.join(mnt, 'layer.tar')
    const r = await run(['diff', '--compression', 'none', '-o', out, 'k'], root)
    expect(r).toMatchObject({exitCode: 8, stdout: '', stderr: `ctrsnap: cannot write ${out}: no space left on device (ENOSPC)\n`})
    expect(fs.readdirSync(mnt)).toEqual([])
  })

  it('a root that is a regular file, or below one: ENOTDIR naming the file, from every creating command', async () => {
    const file = path.join(tmp.dir, 'file')
    fs.writeFileSync(file, '')
    for (const root of [file, path.join(file, 'sub')]) {
      for (const args of [['prepare', 'x'], ['view', 'v']]) {
        const r = await run(args, root)
        expect(r, `${root} ${args.join(' ')}`).toMatchObject({exitCode: 8, stdout: '', stderr: `ctrsnap: cannot create ${path.join(root, 'overlayfs')}: ${file} is not a directory (ENOTDIR)\n`})
      }
      // Commands that read the store first (unpack looks for layers it has): it cannot be read, which is not "empty".
      for (const args of [['ls'], ['info', 'x'], ['cleanup'], ['unpack', `${image()}:v1`]]) {
        const r = await run(args, root)
        expect(r, `${root} ${args.join(' ')}`).toMatchObject({exitCode: 8, stderr: `ctrsnap: cannot read ${path.join(root, 'overlayfs', 'metadata.db')}: not a directory (ENOTDIR)\n`})
      }
    }
    const out = path.join(file, 'layer.tar')
    expect((await run(['prepare', 'k'], path.join(tmp.dir, 'root'))).exitCode).toBe(0)
    expect(await run(['diff', '-o', out, 'k'], path.join(tmp.dir, 'root'))).toMatchObject({exitCode: 6, stderr: `ctrsnap: cannot write ${out}: not a directory (ENOTDIR)\n`})
  })

  it('a symlink loop as the root or the -o FILE directory: ELOOP, one line', async () => {
    const loop = path.join(tmp.dir, 'loop')
    fs.symlinkSync(`${loop}2`, loop)
    fs.symlinkSync(loop, `${loop}2`)
    expect(await run(['prepare', 'x'], loop)).toMatchObject({exitCode: 8, stderr: `ctrsnap: cannot create ${path.join(loop, 'overlayfs')}: too many symbolic links encountered (ELOOP)\n`})
    expect(await run(['unpack', `${image()}:v1`], loop)).toMatchObject({exitCode: 8, stderr: `ctrsnap: cannot read ${path.join(loop, 'overlayfs', 'metadata.db')}: too many symbolic links encountered (ELOOP)\n`})
    const root = path.join(tmp.dir, 'root')
    expect((await run(['prepare', 'k'], root)).exitCode).toBe(0)
    const out = path.join(loop, 'layer.tar')
    expect(await run(['diff', '-o', out, 'k'], root)).toMatchObject({exitCode: 6, stderr: `ctrsnap: cannot write ${out}: too many symbolic links encountered (ELOOP)\n`})
  })

  it.skipIf(!isRoot)('no permission (run as nobody on a root-owned 0700 directory): EACCES, one line, exit 8, from writing and reading commands (needs root)', async () => {
    const priv = path.join(tmp.dir, 'priv')
    fs.mkdirSync(priv, {mode: 0o700})
    fs.chmodSync(tmp.dir, 0o755)
    const root = path.join(priv, 'root')
    const asNobody = (args: string[]) =>
      execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', BIN, ...args], {env: {CTRSNAP_ROOT: root, HOME: tmp.dir, DEBUG: ''}, reject: false, timeout: 15_000, input: ''})
    const store = path.join(root, 'overlayfs')
    for (const [args, line] of [
      [['prepare', 'x'], `cannot create ${store}: permission denied (EACCES)`],
      [['rm', 'x'], `cannot read ${store}/metadata.db: permission denied (EACCES)`],
      [['ls'], `cannot read ${store}/metadata.db: permission denied (EACCES)`],
      [['cleanup'], `cannot read ${store}/metadata.db: permission denied (EACCES)`],
    ] as const) {
      const r = await asNobody([...args])
      expect({exitCode: r.exitCode, stderr: r.stderr}, args.join(' ')).toEqual({exitCode: 8, stderr: `ctrsnap: ${line}`})
    }
    expect(fs.readdirSync(priv)).toEqual([])
  })
})

describe('item 7: a command that fails, or only reads, leaves the disk as it was', () => {
  /** Commands that fail (or only read) on any root without the snapshots "k", "x" and "nope". */
  const failing = (dir: string): string[][] => [
    ['ls'], ['tree', '--usage'], ['usage'], ['usage', 'k'], ['info', 'k'], ['label', 'k'], ['label', 'k', 'a=b'],
    ['mounts', path.join(dir, 't'), 'k'], ['mounts', '--mount', path.join(dir, 't'), 'k'], ['unmount', '/nonexist'], ['unmount', '--rm', path.join(dir, 't')],
    ['cleanup', '--dry-run'], ['rm', 'k'], ['rm', '-r', 'k'], ['diff', 'k'], ['diff', '-o', path.join(dir, 'out.tar'), 'k'], ['commit', 'c', 'k'],
    ['prepare', 'x', 'nope'], ['view', 'v', 'nope'], ['prepare', '--target', path.join(dir, 't', 'deep'), '--mount', 'x', 'nope'], ['unpack', path.join(dir, 'no-such-image')],
  ]
  // Up to 30 CLI runs one after another, each checked on its own: more than the default timeout on a loaded machine.
  const LONG = 240_000
  /** What the snapshotter changes: the commands that create, remove or mount. */
  const native = (dir: string): string[][] => failing(dir).filter(a => ['prepare', 'view', 'commit', 'rm', 'unmount', 'mounts'].includes(a[0]!))

  for (const [snapshotter, commands] of [['overlayfs', failing], ['native', native], ['btrfs', native]] as const) {
    /** A fresh directory the snapshotter's root can be in (btrfs: on the file's loop btrfs), for the duration of `fn`. */
    const within = async (fn: (dir: string) => Promise<void>): Promise<void> => {
      const base = tempRootFor(snapshotter, 'ctrsnap-fs-errors-')
      try {
        await fn(base.dir)
      } finally {
        base.cleanup()
      }
    }

    it.skipIf(loopSkips(snapshotter))(`on a root that does not exist (${snapshotter}): nothing is created${loopNote(snapshotter)}`, () => within(async dir => {
      const root = path.join(dir, 'root')
      for (const args of [...commands(dir), ['cleanup']]) {
        const r = await run(args, root, snapshotter)
        expect(r.exitCode, args.join(' ')).not.toBe('hung')
        expect(fs.readdirSync(dir), `${args.join(' ')} (exit ${r.exitCode}: ${r.stderr})`).toEqual([])
      }
    }), LONG)

    it.skipIf(loopSkips(snapshotter))(`on a root with snapshots (${snapshotter}): failing and reading commands change nothing${loopNote(snapshotter)}`, () => within(async dir => {
      const root = path.join(dir, 'root')
      for (const args of [['prepare', 'w'], ['commit', 'base', 'w'], ['prepare', 'work', 'base'], ['view', 'look', 'base']]) {
        expect((await run(args, root, snapshotter)).exitCode, args.join(' ')).toBe(0)
      }
      const before = tree(dir)
      for (const args of [
        ...commands(dir),
        ['info', 'work'], ['usage', 'work'], ['label', 'base'], ['mounts', path.join(dir, 't'), 'work'],
        ['commit', 'c', 'base'], ['prepare', 'work'], ['view', 'v', 'work'], ['rm', 'base'], ['mounts', '--mount', path.join(dir, 't'), 'base'],
      ]) {
        const r = await run(args, root, snapshotter)
        expect(r.exitCode, args.join(' ')).not.toBe('hung')
        expect(tree(dir), `${args.join(' ')} (exit ${r.exitCode}: ${r.stderr})`).toEqual(before)
      }
    }), LONG)
  }
})
