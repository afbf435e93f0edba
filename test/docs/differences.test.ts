import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'

// The README's "Differences from ctr snapshots", each claim run against the CLI.
describe('README differences from ctr', () => {
  let tmp: ReturnType<typeof tempRoot>
  beforeEach(() => { tmp = tempRoot() })
  afterEach(() => tmp.cleanup())

  it('no gc.root label, labels sorted, --label on prepare, view and commit, views stay', async () => {
    const o = {root: tmp.dir}
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
    expect(await ctrsnap(['label', 'a'], o)).toEqual({stdout: '\n', stderr: '', exitCode: 0})
    expect((await ctrsnap(['label', 'a', 'z=1', 'b=2', 'm'], o)).stdout).toBe('b=2,m=true,z=1\n')
    expect((await ctrsnap(['commit', '--label', 'c=1', 'base', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['label', 'base'], o)).stdout).toBe('c=1\n')
    expect((await ctrsnap(['view', '--label', 'v=1', 'look', 'base'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', '--label', 'p=1', 'work', 'base'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['label', 'look'], o)).stdout).toBe('v=1\n')
    expect((await ctrsnap(['label', 'work'], o)).stdout).toBe('p=1\n')
    // ctr's GC would take the view at the next removal.
    expect((await ctrsnap(['rm', 'work'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nlook base   View      \n')
  })

  it('usage errors exit 2 with one line and the usage; other errors have their own codes', async () => {
    const o = {root: tmp.dir}
    const r = await ctrsnap(['prepare'], o)
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.split('\n')).toEqual(['ctrsnap: missing argument KEY', expect.stringMatching(/^usage: ctrsnap prepare /), ''])
    expect((await ctrsnap(['info', 'nope'], o)).exitCode).toBe(3)
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(4)
    expect((await ctrsnap(['commit', 'c', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', 'b', 'c'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['rm', 'c'], o)).exitCode).toBe(5)
    expect((await ctrsnap(['prepare', 'x', 'b'], o)).exitCode).toBe(6)
  })

  it('--json errors are {"error": {kind, message, exitCode}} on stdout', async () => {
    const r = await ctrsnap(['info', '--json', 'nope'], {root: tmp.dir})
    expect(r.exitCode).toBe(3)
    expect(JSON.parse(r.stdout)).toEqual({error: {kind: 'not-found', message: `snapshot "nope" does not exist (root ${tmp.dir}, snapshotter overlayfs, namespace default)`, exitCode: 3}})
  })
})

describe.skipIf(!canMount)('README differences from ctr on btrfs (needs root on Linux)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string; snapshotter: string}
  beforeEach(() => {
    tmp = tempRootFor('btrfs')
    o = {root: path.join(tmp.dir, 'r'), snapshotter: 'btrfs'}
  })
  afterEach(() => tmp.cleanup())
  const subvolumes = async (): Promise<string[]> =>
    (await execa('btrfs', ['subvolume', 'list', '-o', tmp.dir])).stdout.split('\n').filter(Boolean).map(l => l.replace(/^.* path /, '').replace(/^.*?\/r\/btrfs\//, ''))

  it('rm deletes the subvolume before it returns (ctr leaves it to its garbage collection)', async () => {
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['view', 'v', 'base'], o)).exitCode).toBe(0)
    expect(await subvolumes()).toEqual(['snapshots/1', 'view/2'])
    expect((await ctrsnap(['rm', 'v'], o)).exitCode).toBe(0)
    expect(await subvolumes()).toEqual(['snapshots/1'])
    expect((await ctrsnap(['rm', 'base'], o)).exitCode).toBe(0)
    expect(await subvolumes()).toEqual([])
  })

  it('a subvolume mounted by hand by subvolid, as ctr\'s line mounts it, is committed and its active subvolume deleted, as ctr does', async () => {
    const line = (await ctrsnap(['prepare', '-t', '/T', 'a'], o)).stdout
    const [, dev, opts] = /^mount -t btrfs (\S+) \/T -o (\S+)\n$/.exec(line)!
    const t = path.join(tmp.dir, 't')
    fs.mkdirSync(t)
    await execa('mount', ['-t', 'btrfs', '-o', opts!, dev!, t])
    try {
      fs.writeFileSync(path.join(t, 'f'), 'x')
      expect(await ctrsnap(['commit', 'c', 'a'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
      // The mount now shows the deleted subvolume: empty.
      expect(fs.readdirSync(t)).toEqual([])
    } finally {
      await execa('umount', [t])
    }
    expect(await subvolumes()).toEqual(['snapshots/1'])
    expect(fs.readFileSync(path.join(o.root, 'btrfs', 'snapshots', '1', 'f'), 'utf8')).toBe('x')
  })
})
