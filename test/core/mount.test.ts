import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {checkMountable, isInUse, MAX_MOUNT_DATA, MAX_OVERLAY_LOWERS, optionBytes, readMountinfo, relativeOverlay} from '../../src/core/mount.js'
import {isKind} from '../../src/core/errors.js'
import type {Mount} from '../../src/core/snapshotter.js'

const base = '/var/lib/ctrsnap/overlayfs/snapshots'
const chain = (n: number): Mount => ({
  type: 'overlay',
  source: 'overlay',
  options: ['index=off', `lowerdir=${Array.from({length: n}, (_, i) => `${base}/${n - i}/fs`).join(':')}`],
})

describe('overlay option compaction', () => {
  it('rewrites upper, work and lower dirs relative to the snapshots dir and keeps other options', () => {
    const m: Mount = {type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${base}/3/work`, `upperdir=${base}/3/fs`, `lowerdir=${base}/2/fs:${base}/1/fs`]}
    expect(relativeOverlay(m, base).options).toEqual(['index=off', 'workdir=3/work', 'upperdir=3/fs', 'lowerdir=2/fs:1/fs'])
  })

  it('leaves bind mounts and foreign paths alone', () => {
    const bind: Mount = {type: 'bind', source: `${base}/1/fs`, options: ['ro', 'rbind']}
    expect(relativeOverlay(bind, base)).toEqual(bind)
    const foreign: Mount = {type: 'overlay', source: 'overlay', options: ['lowerdir=/elsewhere/a:/elsewhere/b']}
    expect(relativeOverlay(foreign, base).options).toEqual(['lowerdir=/elsewhere/a:/elsewhere/b'])
  })

  it('makes a 500-layer chain fit in one page although its absolute form does not', () => {
    const m = chain(MAX_OVERLAY_LOWERS)
    expect(optionBytes(m)).toBeGreaterThan(MAX_MOUNT_DATA)
    const [rel] = checkMountable('top', [m], base)
    expect(optionBytes(rel!)).toBeLessThanOrEqual(MAX_MOUNT_DATA)
  })

  it('refuses 501 lower layers before anything is mounted, naming the key', () => {
    let err: unknown
    try {
      checkMountable('top', [chain(MAX_OVERLAY_LOWERS + 1)], base)
    } catch (e) {
      err = e
    }
    expect(isKind(err, 'failed-precondition')).toBe(true)
    expect(String((err as Error).message)).toBe('snapshot "top" has 501 lower layers; overlayfs mounts at most 500')
  })
})

describe('mountinfo', () => {
  it('parses octal escapes and both halves of a line', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mi-')), 'mountinfo')
    fs.writeFileSync(file, [
      '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '40 35 0:50 / /mnt/ov rw - overlay overlay rw,lowerdir=/r/snapshots/2/fs:/r/snapshots/1/fs',
      '',
    ].join('\n'))
    const e = readMountinfo(file)
    expect(e.map(x => x.mountPoint)).toEqual(['/mnt/with space', '/mnt/ov'])
    expect(e[0]).toMatchObject({root: '/mnt1', fsType: 'ext3', source: '/dev/root'})
    expect(isInUse('/r/snapshots/1', e)).toBe(true)
    expect(isInUse('/r/snapshots/3', e)).toBe(false)
    expect(isInUse('/mnt', e)).toBe(true)
  })

  it('reads the live table of this process', () => {
    expect(readMountinfo().some(e => e.mountPoint === '/')).toBe(process.platform === 'linux')
  })
})
