import fs from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {SnapshotError} from '../../src/core/errors.js'
import {MountInTheWayError, removeOnDevice, removeTree} from '../../src/core/fs/remove.js'
import {readMountinfo} from '../../src/core/mount.js'
import {openSnapshotter} from '../../src/core/open.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'

describe('removeTree', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => {
    root = tempRoot('ctrsnap-remove-')
  })
  afterEach(async () => {
    for (const e of readMountinfo().reverse()) if (e.mountPoint.startsWith(root.dir)) await execa('umount', ['-l', e.mountPoint], {reject: false})
    root.cleanup()
  })

  /** top/{a/b/file, keep-link -> outside, 'caf\xe9' (not UTF-8)} and a directory outside top the link points to. */
  function tree(): {top: string; outside: string} {
    const top = path.join(root.dir, 'top')
    fs.mkdirSync(path.join(top, 'a', 'b'), {recursive: true})
    fs.writeFileSync(path.join(top, 'a', 'b', 'file'), 'x')
    const outside = path.join(root.dir, 'outside')
    fs.mkdirSync(outside)
    fs.writeFileSync(path.join(outside, 'precious'), 'keep')
    fs.symlinkSync(outside, path.join(top, 'a', 'link'))
    fs.writeFileSync(Buffer.concat([Buffer.from(`${top}/caf`), Buffer.from([0xe9])]), 'latin-1 name')
    return {top, outside}
  }

  it('removes a whole tree, byte names included, unlinking symlinks without following them', () => {
    const {top, outside} = tree()
    removeTree(top)
    expect(fs.existsSync(top)).toBe(false)
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep')
  })

  it('a missing path is nothing to do; a file is unlinked', () => {
    removeTree(path.join(root.dir, 'none'))
    const f = path.join(root.dir, 'f')
    fs.writeFileSync(f, '')
    removeTree(f)
    expect(fs.existsSync(f)).toBe(false)
  })

  it.skipIf(!canMount)('refuses before touching anything when a mount is inside (needs root on Linux)', async () => {
    const {top} = tree()
    const mnt = path.join(top, 'a', 'mnt')
    fs.mkdirSync(mnt)
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', mnt])
    fs.writeFileSync(path.join(mnt, 'on-tmpfs'), 'keep')
    const err = (() => {
      try {
        removeTree(top)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(MountInTheWayError)
    expect((err as SnapshotError).kind).toBe('failed-precondition')
    expect((err as Error).message).toBe(`cannot remove ${top}: ${mnt} is mounted inside it; unmount it first`)
    expect(fs.readFileSync(path.join(top, 'a', 'b', 'file'), 'utf8')).toBe('x')
    expect(fs.readFileSync(path.join(mnt, 'on-tmpfs'), 'utf8')).toBe('keep')
  })

  it.skipIf(!canMount)('the walk alone (a mount that appeared after the check) never enters another file system, and removes the rest (needs root on Linux)', async () => {
    const {top} = tree()
    const mnt = path.join(top, 'a', 'b', 'mnt')
    fs.mkdirSync(mnt)
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', mnt])
    fs.mkdirSync(path.join(mnt, 'sub'))
    fs.writeFileSync(path.join(mnt, 'sub', 'on-tmpfs'), 'keep')
    expect(() => removeOnDevice(top)).toThrow(new RegExp(`^cannot remove ${top}: ${mnt} is on another file system`))
    // The tmpfs and its content stay, and the directories above it; everything beside them is gone.
    expect(fs.readFileSync(path.join(mnt, 'sub', 'on-tmpfs'), 'utf8')).toBe('keep')
    expect(fs.readdirSync(top)).toEqual(['a'])
    expect(fs.readdirSync(path.join(top, 'a'))).toEqual(['b'])
    expect(fs.readdirSync(path.join(top, 'a', 'b'))).toEqual(['mnt'])
    await execa('umount', [mnt])
    removeTree(top)
    expect(fs.existsSync(top)).toBe(false)
  })
})

for (const snapshotter of ['overlayfs', 'native', 'btrfs'] as const) {
  describe.skipIf(!canMount)(`rm when a mount appears inside after the check, on ${snapshotter} (needs root on Linux)`, () => {
    let root: ReturnType<typeof tempRoot>
    beforeEach(() => {
      root = tempRootFor(snapshotter, 'ctrsnap-remove-')
    })
    afterEach(async () => {
      for (const e of readMountinfo().reverse()) if (e.mountPoint.startsWith(root.dir)) await execa('umount', ['-l', e.mountPoint], {reject: false})
      root.cleanup()
    })

    it('the record goes (crash order), the directory stays as rm-<id> with the mount and its file; cleanup leaves it while the mount lives, then takes it', async () => {
      const s = openSnapshotter({root: root.dir, snapshotter})
      await s.prepare('a', '')
      const own = (await s.layerPaths('a')).own!
      const mnt = path.join(own, 'mnt')
      fs.mkdirSync(mnt)
      await execa('mount', ['-t', 'tmpfs', 'tmpfs', mnt])
      fs.writeFileSync(path.join(mnt, 'precious'), 'keep')
      // The mount "appears" after the check: skip the check.
      ;(s as unknown as {assertNothingMountedInside: () => void}).assertNothingMountedInside = () => {}
      // The snapshot's directory (overlayfs: around its fs/ layer), renamed aside within its own directory.
      const dir = snapshotter === 'overlayfs' ? path.dirname(own) : own
      const left = path.join(path.dirname(dir), 'rm-1')
      const leftMnt = path.join(left, path.relative(dir, mnt))
      await expect(s.remove('a')).rejects.toThrow(
        `the snapshot is removed, but its directory ${left} is left: ${leftMnt} is mounted inside it; unmount it, then run ctrsnap cleanup (which leaves it alone while the mount lives)`,
      )
      expect(await s.walk()).toEqual([])
      expect(fs.readFileSync(path.join(leftMnt, 'precious'), 'utf8')).toBe('keep')
      const plan = await s.cleanup()
      expect(plan).toEqual({items: [], skipped: [{path: left, reason: `${leftMnt} is mounted inside it`}]})
      await execa('umount', [leftMnt])
      expect((await s.cleanup()).items.map(i => [i.kind, i.path])).toEqual([['removing', left]])
      expect(fs.readdirSync(path.dirname(dir))).toEqual([])
    })
  })
}
