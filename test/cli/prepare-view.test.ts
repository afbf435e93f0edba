import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {execa} from 'execa'
import {sharedLoopBtrfs} from '../helpers/btrfs.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'

const USAGE = exitCodeFor('usage')
/** As users run it: vitest's NODE_ENV=test makes oclif add a warning to usage errors (see globals.test.ts). */
const AS_USER = {NODE_ENV: ''}

describe('prepare and view (overlayfs)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string}
  let snaps: string
  beforeAll(async () => {
    tmp = tempRoot()
    o = {root: path.join(tmp.dir, 'r')}
    snaps = `${o.root}/overlayfs/snapshots`
    expect(await ctrsnap(['prepare', 'a'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect(await ctrsnap(['commit', 'base', 'a'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect(await ctrsnap(['prepare', 'l2w', 'base'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect(await ctrsnap(['commit', 'l2', 'l2w'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
  })
  afterAll(() => tmp.cleanup())

  it('an omitted PARENT is not read from piped stdin (oclif would have made the piped text the parent)', async () => {
    expect(await ctrsnap(['prepare', 'piped'], {...o, input: 'base\n'})).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect((await ctrsnap(['ls', '--filter', 'name==piped'], o)).stdout).toBe('KEY   PARENT KIND   \npiped        Active \n')
    expect((await ctrsnap(['rm', 'piped'], o)).exitCode).toBe(0)
  })

  it('is silent without --target/--mounts (view too)', async () => {
    expect(await ctrsnap(['view', 'quiet-view', 'base'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
  })

  it('--target prints ctr\'s mount line for an empty active: rw bind of the new fs dir', async () => {
    const r = await ctrsnap(['prepare', '--target', '/mnt/e', 'e'], o)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(new RegExp(`^mount -t bind ${snaps}/(\\d+)/fs /mnt/e -o rw,rbind\\n$`))
    expect(fs.statSync(r.stdout.split(' ')[3]!).isDirectory()).toBe(true)
  })

  it('-t on a parent prints one overlay line: index=off first, work and upper of the new dir, lower of the parent', async () => {
    const ids = await dirsOf('base')
    const r = await ctrsnap(['prepare', '-t', '/mnt/c', 'c', 'base'], o)
    const m = /^mount -t overlay overlay \/mnt\/c -o index=off,workdir=(\S+)\/work,upperdir=(\S+)\/fs,lowerdir=(\S+)\n$/.exec(r.stdout)
    expect(m, r.stdout).not.toBeNull()
    expect(m![1]).toBe(m![2])
    expect(m![3]).toBe(`${ids}/fs`)
  })

  it('--mounts prints the mounts as Go-indented JSON; with -t too, lines first then JSON', async () => {
    const r = await ctrsnap(['prepare', '-t', '/T', '--mounts', 'cm', 'base'], o)
    expect(r.exitCode).toBe(0)
    const [line, ...json] = r.stdout.split('\n')
    const upper = /upperdir=(\S+)\/fs,/.exec(line!)![1]
    const base = await dirsOf('base')
    expect(json.join('\n')).toBe(`[
    {
        "Type": "overlay",
        "Source": "overlay",
        "Options": [
            "index=off",
            "workdir=${upper}/work",
            "upperdir=${upper}/fs",
            "lowerdir=${base}/fs"
        ]
    }
]
`)
  })

  it('view: of one layer a ro bind of that layer; of two an overlay of lowerdirs only (top first); without parent a ro bind', async () => {
    const base = await dirsOf('base')
    const l2 = await dirsOf('l2')
    expect((await ctrsnap(['view', '-t', '/mnt/v', 'v', 'base'], o)).stdout).toBe(`mount -t bind ${base}/fs /mnt/v -o ro,rbind\n`)
    expect((await ctrsnap(['view', '-t', '/mnt/v2', 'v2', 'l2'], o)).stdout).toBe(`mount -t overlay overlay /mnt/v2 -o index=off,lowerdir=${l2}/fs:${base}/fs\n`)
    expect((await ctrsnap(['view', '-t', '/mnt/v0', 'v0'], o)).stdout).toMatch(new RegExp(`^mount -t bind ${snaps}/\\d+/fs /mnt/v0 -o ro,rbind\\n$`))
  })

  it('errors: existing key 4, missing parent 3, parent not committed 6, empty key 6; one line naming the key, nothing on stdout', async () => {
    expect(await ctrsnap(['prepare', 'base'], o)).toEqual({stdout: '', stderr: 'ctrsnap: snapshot "base": already exists\n', exitCode: exitCodeFor('already-exists')})
    const missing = await ctrsnap(['view', 'p', 'nope'], o)
    expect(missing).toMatchObject({stdout: '', exitCode: exitCodeFor('not-found')})
    expect(missing.stderr).toMatch(/^ctrsnap: [^\n]*"nope"[^\n]*\n$/)
    const active = await ctrsnap(['prepare', 'x', 'c'], o)
    expect(active).toMatchObject({stdout: '', exitCode: exitCodeFor('invalid-argument')})
    expect(active.stderr).toMatch(/^ctrsnap: [^\n]*"c"[^\n]*not[^\n]*committed[^\n]*\n$/)
    const viewParent = await ctrsnap(['view', 'x', 'v'], o)
    expect(viewParent).toMatchObject({stdout: '', exitCode: exitCodeFor('invalid-argument')})
    expect(viewParent.stderr).toMatch(/^ctrsnap: [^\n]*"v"[^\n]*\n$/)
    expect(await ctrsnap(['prepare', ''], o)).toMatchObject({stdout: '', stderr: expect.stringMatching(/^ctrsnap: [^\n]*key[^\n]*empty[^\n]*\n$/), exitCode: exitCodeFor('invalid-argument')})
  })

  it('usage errors exit 2 with the message and the usage line on stderr, nothing on stdout', async () => {
    for (const args of [['prepare'], ['view'], ['prepare', 'a', 'b', 'c'], ['prepare', '--bogus', 'k'], ['view', '--target']]) {
      const r = await ctrsnap(args, {...o, env: AS_USER})
      expect({args, stdout: r.stdout, exitCode: r.exitCode}).toEqual({args, stdout: '', exitCode: USAGE})
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^ctrsnap: [^\\n]+\\nusage: ctrsnap ${args[0]} [^\\n]+\\n$`))
    }
  })

  it('--label K=V before the key: the repeatable flag takes one value, not the positional arguments after it', async () => {
    const r = await ctrsnap(['prepare', '--label', 'team=x', '--label', 'flag', 'lab', 'base'], {...o, env: AS_USER})
    expect(r).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect((await ctrsnap(['label', 'lab'], o)).stdout).toBe('flag=true,team=x\n')
  })

  /** The snapshot's own directory (…/snapshots/<id>), from a view's ro bind of it. */
  async function dirsOf(committed: string): Promise<string> {
    const key = `probe-${committed}-${Math.random().toString(36).slice(2, 8)}`
    const r = await ctrsnap(['view', '-t', '/p', key, committed], o)
    const m = new RegExp(`^mount -t (?:bind (${snaps}/\\d+)/fs /p -o ro,rbind|overlay overlay /p -o index=off,lowerdir=(${snaps}/\\d+)/fs)`).exec(r.stdout)
    expect(m, r.stdout + r.stderr).not.toBeNull()
    expect((await ctrsnap(['rm', key], o)).exitCode).toBe(0)
    return m![1] ?? m![2]!
  }
})

describe('prepare and view (native)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string; snapshotter: string}
  beforeAll(async () => {
    tmp = tempRoot()
    o = {root: path.join(tmp.dir, 'r'), snapshotter: 'native'}
  })
  afterAll(() => tmp.cleanup())

  it('binds with options in native order: rbind,rw for actives (a copy), rbind,ro for views (the parent\'s dir)', async () => {
    const snaps = `${o.root}/native/snapshots`
    const a = await ctrsnap(['prepare', '-t', '/T', 'a'], o)
    expect(a.stdout).toMatch(new RegExp(`^mount -t bind ${snaps}/\\d+ /T -o rbind,rw\\n$`))
    const baseDir = a.stdout.split(' ')[3]!
    fs.writeFileSync(path.join(baseDir, 'f'), 'x')
    expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0)
    const child = await ctrsnap(['prepare', '-t', '/T', 'c', 'base'], o)
    expect(child.stdout).toMatch(new RegExp(`^mount -t bind ${snaps}/\\d+ /T -o rbind,rw\\n$`))
    const childDir = child.stdout.split(' ')[3]!
    expect(childDir).not.toBe(baseDir)
    expect(fs.readFileSync(path.join(childDir, 'f'), 'utf8')).toBe('x')
    expect((await ctrsnap(['view', '-t', '/T', 'v', 'base'], o)).stdout).toBe(`mount -t bind ${baseDir} /T -o rbind,ro\n`)
    expect((await ctrsnap(['prepare', '--mounts', 'j', 'base'], o)).stdout).toMatch(/^\[\n {4}\{\n {8}"Type": "bind",\n {8}"Source": "[^"]+",\n {8}"Options": \[\n {12}"rbind",\n {12}"rw"\n {8}\]\n {4}\}\n\]\n$/)
  })
})

describe.skipIf(!canMount)('prepare and view (btrfs) (needs root on Linux)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string; snapshotter: string}
  beforeAll(async () => {
    tmp = tempRootFor('btrfs')
    o = {root: path.join(tmp.dir, 'r'), snapshotter: 'btrfs'}
  })
  afterAll(() => tmp.cleanup())

  const rootId = async (dir: string): Promise<string> => (await execa('btrfs', ['inspect-internal', 'rootid', dir])).stdout.trim()

  it('prints ctr 1.6\'s lines: the loop device, the snapshot\'s own subvolume by id, ro for views (with or without parent)', async () => {
    const dev = sharedLoopBtrfs().device
    const line = (kind: 'active' | 'view', id: string): string => `mount -t btrfs ${dev} /T -o subvolid=${id}${kind === 'view' ? ',ro' : ''}\n`
    const store = path.join(o.root, 'btrfs')
    const a = await ctrsnap(['prepare', '-t', '/T', 'a'], o)
    expect(a.stdout).toBe(line('active', await rootId(path.join(store, 'active', '1'))))
    fs.writeFileSync(path.join(store, 'active', '1', 'f'), 'x')
    expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0)
    const child = await ctrsnap(['prepare', '-t', '/T', 'c', 'base'], o)
    expect(child.stdout).toBe(line('active', await rootId(path.join(store, 'active', '2'))))
    expect(fs.readFileSync(path.join(store, 'active', '2', 'f'), 'utf8')).toBe('x')
    // A view is a read-only snapshot of its own, not its parent's subvolume.
    const v = await ctrsnap(['view', '-t', '/T', 'v', 'base'], o)
    expect(v.stdout).toBe(line('view', await rootId(path.join(store, 'view', '3'))))
    expect(v.stdout).not.toBe(line('view', await rootId(path.join(store, 'snapshots', '1'))))
    expect((await ctrsnap(['view', '-t', '/T', 'v0'], o)).stdout).toBe(line('view', await rootId(path.join(store, 'view', '4'))))
    // mounts reads the same id back from disk.
    expect((await ctrsnap(['mounts', '/T', 'c'], o)).stdout).toBe(child.stdout)
    const j = await ctrsnap(['prepare', '--mounts', 'j', 'base'], o)
    expect(JSON.parse(j.stdout)).toEqual([{Type: 'btrfs', Source: dev, Options: [`subvolid=${await rootId(path.join(store, 'active', '5'))}`]}])
    expect(j.stdout).toMatch(/^\[\n {4}\{\n {8}"Type": "btrfs",\n {8}"Source": "[^"]+",\n {8}"Options": \[\n {12}"subvolid=\d+"\n {8}\]\n {4}\}\n\]\n$/)
  })
})
