import fs from 'node:fs'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {applyLayer} from '../../src/core/layer/apply.js'
import {diffSnapshot} from '../../src/core/layer/diff.js'
import {TarScanner} from '../../src/core/layer/tar.js'
import type {LocalSnapshotter} from '../../src/core/local.js'
import {openSnapshotter} from '../../src/core/open.js'
import {ctrsnap} from '../helpers/cli.js'
import {buildImage, expectedChainIds, ociLayoutFiles, writeFiles} from '../helpers/image.js'
import {isLinux, isRoot, tempRoot, tempRootFor} from '../helpers/root.js'
import {buildTar, dir, file, gnuLong, hardlink, join, opaque, streamOf, symlink, treeOf, whiteout, type Node} from '../helpers/tar.js'

// Names are bytes end to end (containerd extracts them byte for byte): names that
// are not UTF-8 must survive the scanner, the applier, whiteouts, diff and usage.

const root = isRoot && isLinux
let tmp: {dir: string; cleanup: () => void}
beforeEach(() => {
  tmp = tempRoot('ctrsnap-names-')
})
afterEach(() => tmp.cleanup())

/** A snapshotter root where `sn` can live (btrfs: on the file's loop btrfs), removed after the test. */
const stores: ReturnType<typeof tempRoot>[] = []
const rootFor = (sn: string): string => {
  const t = tempRootFor(sn, 'ctrsnap-names-root-')
  stores.push(t)
  return path.join(t.dir, 'root')
}
afterEach(() => {
  for (const t of stores.splice(0)) t.cleanup()
})

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
/** The key treeOf gives a path: text when it is UTF-8, else its bytes in hex. */
const hexKey = (p: Buffer): string => `hex:${p.toString('hex')}`
const CAF = b('caf\xe9') // "café" in latin1: not UTF-8
const DIR = b('d\xff')
const INNER = b('x\xfe')
const LONG = b('long-\xe9-'.repeat(20)) // > 100 bytes: a PAX path, raw bytes

const layers = () => [
  buildTar([
    file(CAF, 'latin1 name', {mtime: 1000}),
    file('café', 'utf-8 name', {mtime: 1001}),
    dir(DIR, {mode: 0o750, mtime: 1002}),
    file(join(DIR, INNER), 'inner', {mtime: 1003}),
    file(join(DIR, 'keep'), 'keep', {mtime: 1004}),
    symlink(b('s\xe9'), CAF),
    hardlink(b('h\xe9'), CAF),
    file(LONG, 'pax', {mtime: 1005}),
    // a GNU long name is raw bytes too
    gnuLong('L', 'gnu-\xe9-'.repeat(20)),
    file('short', 'gnu', {mtime: 1006}),
    dir(b('o\xe9'), {mtime: 1007}),
    file(join(b('o\xe9'), 'old'), 'old'),
  ]),
  buildTar([
    whiteout('', CAF),
    whiteout(DIR, INNER),
    opaque(b('o\xe9')),
    file(join(b('o\xe9'), b('new\xe9')), 'new'),
  ]),
]

/** The tree `key` presents, read through a read-only mount of a view. */
async function merged(snap: LocalSnapshotter, key: string): Promise<Record<string, Node>> {
  const target = path.join(tmp.dir, `mnt-${key.replace(/[^a-z0-9]/gi, '').slice(-12)}`)
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

function expectTopTree(t: Record<string, Node>): void {
  expect(t[hexKey(CAF)]).toBeUndefined()
  expect(t['café']).toMatchObject({type: 'file', size: 10})
  expect(t[hexKey(DIR)]).toMatchObject({type: 'dir', mode: 0o750})
  expect(t[hexKey(join(DIR, INNER))]).toBeUndefined()
  expect(t[hexKey(join(DIR, 'keep'))]).toMatchObject({type: 'file', size: 4})
  // the link still names the bytes of the (now whited-out) path
  expect(t[hexKey(b('s\xe9'))]).toMatchObject({type: 'symlink', link: hexKey(CAF)})
  expect(t[hexKey(b('h\xe9'))]).toMatchObject({type: 'file', size: 11})
  expect(t[hexKey(LONG)]).toMatchObject({type: 'file', size: 3})
  expect(t[hexKey(b('gnu-\xe9-'.repeat(20)))]).toMatchObject({type: 'file', size: 3})
  expect(Object.keys(t).filter(k => k.startsWith(hexKey(b('o\xe9/'))))).toEqual([hexKey(join(b('o\xe9'), b('new\xe9')))])
  expect(Object.keys(t).filter(k => k.includes(Buffer.from('.wh.').toString('hex')))).toEqual([])
}

describe.skipIf(!root)('names that are not UTF-8 (needs root)', () => {
  for (const sn of ['overlayfs', 'native', 'btrfs'] as const) {
    it(`${sn}: unpack extracts them byte for byte, plain and as whiteouts; usage counts them`, async () => {
      const tars = layers()
      const image = buildImage(tars.map(tar => ({entries: [], tar, compression: 'gzip' as const})))
      const src = writeFiles(path.join(tmp.dir, 'image'), ociLayoutFiles([{image}]))
      const ctrRoot = rootFor(sn)
      const r = await ctrsnap(['unpack', '--quiet', src], {root: ctrRoot, snapshotter: sn})
      expect(r.stderr).toBe('')
      expect(r.exitCode).toBe(0)
      const chain = expectedChainIds(image.layers.map(l => l.diffId))
      expect(r.stdout).toBe(`${chain[1]}\n`)

      const snap = openSnapshotter({root: ctrRoot, snapshotter: sn})
      expectTopTree(await merged(snap, chain[1]!))
      // The bytes on disk, in the top snapshot's own directory.
      const own = (await snap.layerPaths(chain[1]!)).own!
      const names = fs.readdirSync(own, {encoding: 'buffer'})
      expect(names.some(n => n.equals(b('o\xe9')))).toBe(true)
      expect(names.some(n => n.equals(CAF))).toBe(sn === 'overlayfs') // overlay: the whiteout device; native: gone

      // usage walks the names as bytes: every inode of the first layer is counted.
      const u = await ctrsnap(['usage', '--json', chain[0]!], {root: ctrRoot, snapshotter: sn})
      expect(u.exitCode).toBe(0)
      const [row] = JSON.parse(u.stdout) as {inodes: number}[]
      // root, café (latin1) + its hard link, café (utf-8), d\xff, d\xff/x\xfe, d\xff/keep, s\xe9, the PAX name, the GNU name, o\xe9, o\xe9/old
      expect(row!.inodes).toBe(11)
    })

    it(`${sn}: diff of a snapshot holding them round-trips (diff, apply on the parent, same tree)`, async () => {
      const snap = openSnapshotter({root: rootFor(sn), snapshotter: sn})
      const layer = async (name: string, parent: string, tar: Buffer): Promise<void> => {
        await snap.prepare(`x-${name}`, parent)
        const p = await snap.layerPaths(`x-${name}`)
        await applyLayer(streamOf(tar), {format: snap.layerFormat, target: p.own!, parents: p.parents})
        await snap.commit(name, `x-${name}`)
      }
      const [l1, l2] = layers()
      await layer('base', '', l1!)
      await layer('top', 'base', l2!)
      expect((await snap.usage('base')).inodes).toBe(11)

      for (const parent of [undefined, 'base', '']) {
        const out = new PassThrough()
        const chunks: Buffer[] = []
        out.on('data', (c: Buffer) => chunks.push(c))
        await diffSnapshot(snap, 'top', parent, out, {compression: 'none'})
        const blob = Buffer.concat(chunks)
        const names: Buffer[] = []
        const s = new TarScanner(e => names.push(b(e.name.replace(/\/$/, ''))))
        s.push(blob)
        s.end()
        if (parent !== '') expect(names.some(n => n.equals(b('.wh.caf\xe9')))).toBe(true)
        const rt = `rt-${parent ?? 'own'}`
        await layer(rt, parent ?? 'base', blob)
        expect(await merged(snap, rt)).toEqual(await merged(snap, 'top'))
      }
    })
  }
})
