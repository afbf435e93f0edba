import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'

// The README's "On-disk layout" and the FILES section of ctrsnap(1), checked against the CLI.
describe('on-disk layout as documented', () => {
  let tmp: ReturnType<typeof tempRoot>
  beforeEach(() => { tmp = tempRoot() })
  afterEach(() => tmp.cleanup())

  it('commands that only read create nothing on a missing root', async () => {
    const root = path.join(tmp.dir, 'a/b')
    const reads = [['ls'], ['tree'], ['usage'], ['info', 'x'], ['label', 'x'], ['mounts', '/mnt/x', 'x'], ['cleanup', '--dry-run']]
    for (const args of reads) {
      const r = await ctrsnap(args, {root})
      expect([0, 3], `${args.join(' ')}: ${r.stderr}`).toContain(r.exitCode)
    }
    expect(fs.existsSync(path.join(tmp.dir, 'a'))).toBe(false)
  })

  it.each([
    ['overlayfs', ['fs', 'work']],
    ['native', []],
  ] as const)('%s: the first write creates <root>/<snapshotter> 0700 with metadata.db and snapshots/<id>', async (snapshotter, inside) => {
    const root = path.join(tmp.dir, 'a/b')
    expect((await ctrsnap(['prepare', 'k'], {root, snapshotter})).exitCode).toBe(0)
    for (const d of [path.join(tmp.dir, 'a'), root, path.join(root, snapshotter)]) expect((fs.statSync(d).mode & 0o777).toString(8), d).toBe('700')
    const dir = path.join(root, snapshotter)
    expect(fs.readdirSync(dir).sort()).toEqual(['metadata.db', 'snapshots'])
    const ids = fs.readdirSync(path.join(dir, 'snapshots'))
    expect(ids).toHaveLength(1)
    expect(ids[0]).toMatch(/^\d+$/)
    expect(fs.readdirSync(path.join(dir, 'snapshots', ids[0]!)).sort()).toEqual([...inside])
  })

  it.skipIf(!canMount)('btrfs: the first write creates <root>/btrfs 0700 with metadata.db and active/, view/, snapshots/ 0755; an active snapshot is the subvolume active/<id>, committed it is snapshots/<id> (needs root on Linux)', async () => {
    const onBtrfs = tempRootFor('btrfs')
    try {
      const root = path.join(onBtrfs.dir, 'a/b')
      expect((await ctrsnap(['prepare', 'k'], {root, snapshotter: 'btrfs'})).exitCode).toBe(0)
      for (const d of [path.join(onBtrfs.dir, 'a'), root, path.join(root, 'btrfs')]) expect((fs.statSync(d).mode & 0o777).toString(8), d).toBe('700')
      const dir = path.join(root, 'btrfs')
      expect(fs.readdirSync(dir).sort()).toEqual(['active', 'metadata.db', 'snapshots', 'view'])
      for (const d of ['active', 'snapshots', 'view']) expect((fs.statSync(path.join(dir, d)).mode & 0o777).toString(8), d).toBe('755')
      const ids = fs.readdirSync(path.join(dir, 'active'))
      expect(ids).toHaveLength(1)
      expect(ids[0]).toMatch(/^\d+$/)
      // A subvolume's root directory is inode 256.
      expect(fs.statSync(path.join(dir, 'active', ids[0]!)).ino).toBe(256)
      expect((await ctrsnap(['commit', 'c', 'k'], {root, snapshotter: 'btrfs'})).exitCode).toBe(0)
      expect([fs.readdirSync(path.join(dir, 'active')), fs.readdirSync(path.join(dir, 'snapshots'))]).toEqual([[], ids])
    } finally {
      onBtrfs.cleanup()
    }
  })
})
