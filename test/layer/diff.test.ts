import {execFileSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {applyLayer} from '../../src/core/layer/apply.js'
import {diffSnapshot} from '../../src/core/layer/diff.js'
import type {Compression} from '../../src/core/image/compression.js'
import {TarScanner, type TarEntry} from '../../src/core/layer/tar.js'
import type {LocalSnapshotter} from '../../src/core/local.js'
import {openSnapshotter} from '../../src/core/open.js'
import {readMountinfo} from '../../src/core/mount.js'
import {isLinux, isRoot, tempRootFor} from '../helpers/root.js'
import {blockdev, buildTar, chardev, dir, fifo, file, hardlink, opaque, streamOf, symlink, treeOf, whiteout, type Node} from '../helpers/tar.js'

const root = isRoot && isLinux
let tmp: {dir: string; cleanup: () => void}

const base = () =>
  buildTar([
    dir('etc', {mtime: 1000}),
    file('etc/passwd', 'root:x:0:0\n', {mtime: 1001}),
    file('etc/gone', 'bye', {mtime: 1002}),
    dir('etc/dirgone', {mtime: 1003}),
    file('etc/dirgone/x', 'x', {mtime: 1004}),
    dir('opq', {mode: 0o750, mtime: 1005}),
    file('opq/old1', '1', {mtime: 1006}),
    file('opq/old2', '2', {mtime: 1007}),
    dir('usr/bin', {mtime: 1008}),
    file('usr/bin/tool', 'v1', {mode: 0o755, mtime: 1009}),
    file('usr/bin/same', 'same', {mtime: {sec: 1010, nsec: 5}}),
    symlink('usr/bin/link', 'tool', {mtime: 1011}),
    dir('keep', {mtime: 1012}),
    file('keep/file', 'k', {mtime: 1013}),
    file('modes', 'm', {mode: 0o644, mtime: 1014}),
  ])

const change = () =>
  buildTar([
    dir('etc', {mtime: 2000}),
    whiteout('etc', 'gone'),
    whiteout('etc', 'dirgone'),
    file('etc/passwd', 'root:x:0:0\nu:x:1000:1000\n', {mtime: 2001}),
    dir('opq', {mode: 0o700, uid: 5, mtime: 2002}),
    opaque('opq'),
    file('opq/new', 'n', {mtime: 2003, xattrs: {'user.k': 'v', 'trusted.x': 'y'}}),
    dir('usr/bin', {mtime: 2004}),
    file('usr/bin/tool', 'v2-longer', {mode: 0o4755, mtime: 2005}),
    symlink('usr/bin/link', '/usr/bin/tool', {mtime: 2006}),
    hardlink('usr/bin/tool2', 'usr/bin/tool'),
    dir('new', {mode: 0o1777, uid: 7, gid: 8, mtime: 2007, xattrs: {'user.dir': 'd'}}),
    chardev('new/null', 1, 3, {mode: 0o666, mtime: 2008}),
    blockdev('new/loop', 7, 0, {mode: 0o660, mtime: 2009}),
    fifo('new/fifo', {mtime: 2010}),
    file('new/a', 'a', {uid: 1000, gid: 1000, mtime: 2011}),
    hardlink('new/b', 'new/a'),
    dir('replaced-by-file-later', {mtime: 2012}),
    file('modes', 'm', {mode: 0o600, mtime: 1014}),
  ])


async function layer(snap: LocalSnapshotter, name: string, parent: string, tar: Buffer): Promise<void> {
  const key = `extract-${name}`
  await snap.prepare(key, parent)
  const p = await snap.layerPaths(key)
  await applyLayer(streamOf(tar), {format: snap.layerFormat, target: p.own!, parents: p.parents})
  await snap.commit(name, key)
}

async function diffBuf(snap: LocalSnapshotter, key: string, parent?: string, compression: Compression = 'none') {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const result = await diffSnapshot(snap, key, parent, out, {compression})
  return {result, blob: Buffer.concat(chunks)}
}

/** The merged tree a snapshot presents, read through a real read-only mount of a view. */
async function merged(snap: LocalSnapshotter, key: string): Promise<Record<string, Node>> {
  const target = path.join(tmp.dir, `mnt-${key}`)
  await snap.view(`view-${key}`, key)
  await snap.mount(`view-${key}`, target)
  try {
    const t = treeOf(target)
    delete t['.']
    return t
  } finally {
    await snap.unmount(target, {remove: true})
  }
}

function entries(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = []
  const s = new TarScanner(e => out.push(e))
  s.push(tar)
  s.end()
  return out
}

const sha = (b: Buffer): string => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`

describe.skipIf(!root)('diff (needs root)', () => {
  for (const sn of ['overlayfs', 'native', 'btrfs'] as const) {
    describe(sn, () => {
      let snap: LocalSnapshotter
      // The root where the snapshotter can live (btrfs: on the file's loop btrfs).
      beforeEach(() => {
        tmp = tempRootFor(sn, 'ctrsnap-diff-')
      })
      afterEach(() => tmp.cleanup())
      beforeEach(async () => {
        snap = openSnapshotter({root: tmp.dir, snapshotter: sn})
        await layer(snap, 'base', '', base())
        await layer(snap, 'key', 'base', change())
      })

      it('writes whiteouts and opaque markers for deletions and opaque directories', async () => {
        const {blob} = await diffBuf(snap, 'key')
        const names = entries(blob).map(e => e.name.replace(/\/$/, ''))
        expect(names).toContain('etc/.wh.gone')
        expect(names).toContain('etc/.wh.dirgone')
        expect(names).not.toContain('etc/dirgone/x')
        expect(names).not.toContain('keep/file')
        expect(names).toContain('usr/bin/tool2')
        if (sn === 'overlayfs') expect(names).toContain('opq/.wh..wh..opq')
        else expect(names.filter(n => n.startsWith('opq/.wh.')).sort()).toEqual(['opq/.wh.old1', 'opq/.wh.old2'])
        // The layer's own parents come along; nothing of overlayfs' private xattrs leaks.
        expect(names).toContain('usr/bin')
        for (const e of entries(blob)) expect([...e.xattrs.keys()].filter(k => k.startsWith('trusted.overlay.'))).toEqual([])
        expect(entries(blob).find(e => e.name === 'usr/bin/tool2')).toMatchObject({type: 'link', linkname: 'usr/bin/tool'})
      })

      it("round trip: applying diff(KEY) on KEY's parent reproduces KEY exactly", async () => {
        const {blob} = await diffBuf(snap, 'key')
        await layer(snap, 'rt', 'base', blob)
        const want = await merged(snap, 'key')
        expect(await merged(snap, 'rt')).toEqual(want)
        expect(want['opq/old1']).toBeUndefined()
        expect(want['etc/gone']).toBeUndefined()
        expect(want['usr/bin/tool2']!.linkGroup).toBe('usr/bin/tool')
        expect(want['new']).toMatchObject({mode: 0o1777, uid: 7, xattrs: expect.stringContaining('user.dir')})
        if (sn === 'overlayfs') {
          // The upper dirs too: whiteout devices, opaque xattrs, every dir's metadata.
          const own = async (k: string) => {
            const t = treeOf((await snap.layerPaths(k)).own!)
            delete t['.']
            return t
          }
          const upper = await own('key')
          expect(upper['etc/gone']).toMatchObject({type: 'char', rdev: 0})
          expect(upper['opq']!.xattrs).toContain('trusted.overlay.opaque')
          expect(await own('rt')).toEqual(upper)
        }
      })

      it('round trip against an explicit older parent (trees compared through read-only mounts)', async () => {
        await layer(snap, 'top', 'key', buildTar([whiteout('usr/bin', 'tool'), file('top', 't', {mtime: 3000}), dir('new', {mode: 0o755, mtime: 3001})]))
        // The read-only mounts made for the comparison go under the temp dir: this test's own, so the
        // check below sees no other suite's mounts.
        const own = path.join(tmp.dir, 'tmpdir')
        fs.mkdirSync(own)
        const saved = process.env.TMPDIR
        process.env.TMPDIR = own
        let blob: Buffer
        try {
          ({blob} = await diffBuf(snap, 'top', 'base'))
        } finally {
          if (saved === undefined) delete process.env.TMPDIR
          else process.env.TMPDIR = saved
        }
        // They are gone again, with their directories.
        expect(readMountinfo().filter(m => m.mountPoint.startsWith(`${own}/`))).toEqual([])
        expect(fs.readdirSync(own)).toEqual([])
        await layer(snap, 'rt2', 'base', blob)
        expect(await merged(snap, 'rt2')).toEqual(await merged(snap, 'top'))
        // and from nothing: the whole tree
        const {blob: full} = await diffBuf(snap, 'top', '')
        await layer(snap, 'rt3', '', full)
        expect(await merged(snap, 'rt3')).toEqual(await merged(snap, 'top'))
        const dirs = ['snapshots', 'active', 'view'].map(d => path.join(tmp.dir, sn, d)).filter(d => fs.existsSync(d))
        expect(dirs.flatMap(d => fs.readdirSync(d)).filter(n => n.startsWith('new-'))).toEqual([])
      })

      it('an xattr-only change (through a real mount of the active snapshot) is part of the diff', async () => {
        const mnt = path.join(tmp.dir, 'work')
        await snap.prepare('xwork', 'key')
        await snap.mount('xwork', mnt)
        try {
          execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', path.join(mnt, 'etc/passwd')])
          execFileSync('setfattr', ['-n', 'user.only', '-v', 'x', path.join(mnt, 'keep')])
        } finally {
          await snap.unmount(mnt)
        }
        await snap.commit('xkey', 'xwork')
        const {blob} = await diffBuf(snap, 'xkey')
        const names = entries(blob).map(e => e.name.replace(/\/$/, ''))
        expect(names).toContain('etc/passwd')
        expect(names).toContain('keep')
        expect(names).not.toContain('keep/file')
        await layer(snap, 'xrt', 'key', blob)
        const want = await merged(snap, 'xkey')
        expect(want['etc/passwd']!.xattrs).toContain('security.capability')
        expect(await merged(snap, 'xrt')).toEqual(want)
      })

      it('a view, or a snapshot against itself, has no changes: an empty layer', async () => {
        await snap.view('v', 'key')
        expect(entries((await diffBuf(snap, 'v')).blob)).toEqual([])
        expect(entries((await diffBuf(snap, 'key', 'key')).blob)).toEqual([])
        expect(entries((await diffBuf(snap, 'v', 'key')).blob)).toEqual([])
      })

      for (const c of ['gzip', 'zstd'] as const) {
        it(`${c}: digest of the blob, diffID of the tar, media type`, async () => {
          const {result, blob} = await diffBuf(snap, 'key', undefined, c)
          const plain = execFileSync(c === 'gzip' ? 'gzip' : 'zstd', ['-dc'], {input: blob, maxBuffer: 1 << 28})
          expect(result).toEqual({digest: sha(blob), diffId: sha(plain), size: blob.length, mediaType: `application/vnd.oci.image.layer.v1.tar+${c}`})
          const {result: again} = await diffBuf(snap, 'key', undefined, c)
          expect(again.digest).toBe(result.digest)
          const {result: none} = await diffBuf(snap, 'key')
          expect(none.diffId).toBe(result.diffId)
        })
      }
    })
  }
})
