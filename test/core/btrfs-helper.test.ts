import {execa} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {cleanupAll, loopDevices, makeLoopBtrfs, PREFIX, sweepDeadLoops, type LoopBtrfs} from '../helpers/btrfs.js'
import {isMountPoint} from '../helpers/mount.js'
import {canMount} from '../helpers/root.js'

const BTRFS_SUPER_MAGIC = 0x9123683e
const attached = (image: string): boolean => loopDevices().some(d => d.backFile === image)

describe.skipIf(!canMount)('loop btrfs test helper (needs root)', () => {
  let fsys: LoopBtrfs | undefined
  afterEach(() => fsys?.cleanup())

  it('mounts a fresh btrfs on a loop device and cleanup() unmounts it, detaches the device and deletes the dir', () => {
    fsys = makeLoopBtrfs()
    expect(fs.statfsSync(fsys.dir).type).toBe(BTRFS_SUPER_MAGIC)
    expect(isMountPoint(fsys.dir)).toBe(true)
    expect(loopDevices()).toContainEqual({name: fsys.device, backFile: fsys.image})
    expect(path.basename(path.dirname(fsys.dir))).toMatch(new RegExp(`^${PREFIX}${process.pid}-`))
    fsys.cleanup()
    expect(attached(fsys.image)).toBe(false)
    expect(fs.existsSync(path.dirname(fsys.dir))).toBe(false)
    fsys.cleanup() // idempotent
  })

  it('cleanupAll (what the exit and signal handlers run) tears down every loop btrfs still live, even with a mount on it', async () => {
    const a = makeLoopBtrfs()
    const b = makeLoopBtrfs()
    const inner = path.join(a.dir, 'inner')
    fs.mkdirSync(inner)
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', inner])
    cleanupAll()
    for (const f of [a, b]) {
      expect(attached(f.image)).toBe(false)
      expect(fs.existsSync(path.dirname(f.dir))).toBe(false)
    }
  })

  it('sweepDeadLoops detaches the loop btrfs of a SIGKILLed process and leaves a live process\'s alone', async () => {
    fsys = makeLoopBtrfs() // ours: this pid is alive
    // A child does what makeLoopBtrfs does under its own pid, then is killed without any chance to clean up.
    const child = execa('bash', ['-c', [
      'set -e',
      `t=$(mktemp -d ${os.tmpdir()}/${PREFIX}$$-XXXXXX)`,
      'truncate -s 256M "$t/disk.img"; mkfs.btrfs -q "$t/disk.img" >/dev/null; mkdir "$t/mnt"; mount -o loop "$t/disk.img" "$t/mnt"',
      'echo "$t"; exec sleep 600',
    ].join('\n')], {reject: false})
    const tmp = await new Promise<string>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))
      void child.then(r => reject(new Error(`child exited early: ${r.stderr}`)))
    })
    child.kill('SIGKILL')
    await child
    const image = path.join(tmp, 'disk.img')
    expect(attached(image)).toBe(true)
    expect(isMountPoint(path.join(tmp, 'mnt'))).toBe(true)

    expect(sweepDeadLoops()).toContain(tmp)
    expect(attached(image)).toBe(false)
    expect(fs.existsSync(tmp)).toBe(false)
    expect(attached(fsys.image)).toBe(true)
    expect(isMountPoint(fsys.dir)).toBe(true)
  })
})
