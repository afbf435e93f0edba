import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {applyLayer} from '../../src/core/layer/apply.js'
import type {LocalSnapshotter} from '../../src/core/local.js'
import {openSnapshotter} from '../../src/core/open.js'
import {isLinux, isRoot, tempRoot, tempRootFor} from '../helpers/root.js'
import {blockdev, buildTar, chardev, dir, fifo, file, hardlink, opaque, streamOf, symlink, treeOf, whiteout, type Node, type Spec} from '../helpers/tar.js'

// A path that comes again with another type: the later entry wins, replacing
// what is there unless both are directories (containerd's archive.applyNaive),
// for every pair of types, within one layer and across layers, on both
// snapshotters. Expected trees are built from layers that hold only what must
// remain, so the comparison covers everything a layer carries (types, modes,
// owners, times, link targets, devices, hard links).

const root = isRoot && isLinux
let tmp: {dir: string; cleanup: () => void}
beforeEach(() => {
  tmp = tempRoot('ctrsnap-replace-')
})
afterEach(() => tmp.cleanup())

/** A snapshotter root where `sn` can live (btrfs: on the file's loop btrfs), removed after the test. */
const stores: ReturnType<typeof tempRoot>[] = []
const rootFor = (sn: string): string => {
  const t = tempRootFor(sn, 'ctrsnap-replace-root-')
  stores.push(t)
  return path.join(t.dir, 'root')
}
afterEach(() => {
  for (const t of stores.splice(0)) t.cleanup()
})

const KINDS = ['file', 'dir', 'dirc', 'symlink', 'symdir', 'hardlink', 'fifo', 'char', 'block'] as const
type Kind = (typeof KINDS)[number]
const isDir = (k: Kind): boolean => k === 'dir' || k === 'dirc'

/** An entry of kind `k` at `p`; `tag` tells apart the two of a pair. */
function entries(k: Kind, p: string, tag: string): Spec[] {
  const t = tag === 'a' ? 1000 : 2000
  switch (k) {
    case 'file': return [file(p, `file ${tag}`, {mode: 0o640, mtime: t})]
    case 'dir': return [dir(p, {mode: 0o750, mtime: t + 1})]
    case 'dirc': return [dir(p, {mode: 0o700, mtime: t + 2}), file(`${p}/inner-${tag}`, 'inner', {mtime: t + 3})]
    case 'symlink': return [symlink(p, `nowhere-${tag}`)]
    case 'symdir': return [symlink(p, 'realdir')]
    case 'hardlink': return [hardlink(p, 'other')]
    case 'fifo': return [fifo(p, {mode: 0o600, mtime: t + 4})]
    case 'char': return [chardev(p, 1, 3, {mode: 0o666, mtime: t + 5})]
    case 'block': return [blockdev(p, 7, 0, {mode: 0o660, mtime: t + 6})]
  }
}

// Targets the links point at, in every layer (a hard link cannot reach into a parent layer).
const base = (): Spec[] => [dir('realdir', {mtime: 10}), file('realdir/keep', 'k', {mtime: 11}), file('other', 'other', {mtime: 12})]

// The layer's own symlinks never lead anywhere a later entry writes to (refused elsewhere): no content under a former symlink.
const PAIRS = KINDS.flatMap(a => KINDS.map(b => [a, b] as const)).filter(([a, b]) => !(b === 'dirc' && (a === 'symlink' || a === 'symdir')))


async function layer(snap: LocalSnapshotter, name: string, parent: string, specs: Spec[]): Promise<void> {
  await snap.prepare(`x-${name}`, parent)
  const p = await snap.layerPaths(`x-${name}`)
  await applyLayer(streamOf(buildTar(specs), 777), {format: snap.layerFormat, target: p.own!, parents: p.parents})
  await snap.commit(name, `x-${name}`)
}

/** The tree `key` presents, read through a read-only mount of a view. */
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

describe.skipIf(!root)('a path replaced by another type (needs root)', () => {
  for (const sn of ['overlayfs', 'native', 'btrfs'] as const) {
    describe(sn, () => {
      let snap: LocalSnapshotter
      beforeEach(() => {
        snap = openSnapshotter({root: rootFor(sn), snapshotter: sn})
      })
      // What remains of A then B at one path: B, and A's content if both are directories.
      const remains = (a: Kind, b: Kind, p: string): Spec[] => [...entries(b, p, 'b'), ...(a === 'dirc' && isDir(b) ? [file(`${p}/inner-a`, 'inner', {mtime: 1003})] : [])]
      const expectSame = async (key: string, want: Spec[]): Promise<void> => {
        await layer(snap, 'want', '', [...base(), ...want])
        const got = await merged(snap, key)
        const expected = await merged(snap, 'want')
        for (const k of new Set([...Object.keys(got), ...Object.keys(expected)])) expect(got[k], k).toEqual(expected[k])
      }

      it('within one layer, every pair of types in both orders: the later entry wins', async () => {
        await layer(snap, 'one', '', [...base(), ...PAIRS.flatMap(([a, b]) => [...entries(a, `${a}-${b}`, 'a'), ...entries(b, `${a}-${b}`, 'b')])])
        await expectSame('one', PAIRS.flatMap(([a, b]) => remains(a, b, `${a}-${b}`)))
      })

      it('across layers: the parent has A, the layer B', async () => {
        await layer(snap, 'parent', '', [...base(), ...PAIRS.flatMap(([a, b]) => entries(a, `${a}-${b}`, 'a'))])
        await layer(snap, 'child', 'parent', [...base(), ...PAIRS.flatMap(([a, b]) => entries(b, `${a}-${b}`, 'b'))])
        await expectSame('child', PAIRS.flatMap(([a, b]) => remains(a, b, `${a}-${b}`)))
      })

      // containerd applies overlay layers to the empty upper (a later directory merges with the lower one's),
      // native ones to the parent's copy (any non-directory entry removed the parent's directory for good).
      it(`within one layer over a parent directory with content: ${sn === 'overlayfs' ? 'a final directory merges with the lower one' : 'it survives only if both entries are directories'}`, async () => {
        const keep = (a: Kind, b: Kind): boolean => (sn === 'overlayfs' ? isDir(b) : isDir(a) && isDir(b))
        const old = (p: string): Spec[] => [dir(p, {mode: 0o711, mtime: 500}), file(`${p}/old`, 'old', {mtime: 501})]
        await layer(snap, 'parent', '', [...base(), ...PAIRS.flatMap(([a, b]) => old(`${a}-${b}`))])
        await layer(snap, 'child', 'parent', [...base(), ...PAIRS.flatMap(([a, b]) => [...entries(a, `${a}-${b}`, 'a'), ...entries(b, `${a}-${b}`, 'b')])])
        await expectSame('child', PAIRS.flatMap(([a, b]) => [...remains(a, b, `${a}-${b}`), ...(keep(a, b) ? [file(`${a}-${b}/old`, 'old', {mtime: 501})] : [])]))
      })

      it('what was learnt under a replaced directory goes with it: no copy-up, whiteout or opaque marker of the old one acts', async () => {
        await layer(snap, 'parent', '', [...base(), dir('w', {mtime: 600}), file('w/x', 'x', {mtime: 601}), dir('v', {mtime: 602}), file('v/y', 'y', {mtime: 603})])
        await layer(snap, 'child', 'parent', [
          file('w/a', 'a', {mtime: 700}), whiteout('w', 'x'), file('w', 'w', {mtime: 701}),
          dir('v', {mtime: 702}), opaque('v'), file('v/b', 'b'), file('v', 'v'), dir('v', {mode: 0o701, mtime: 703}), file('v/c', 'c', {mtime: 704}),
        ])
        // overlay: the last v merges with the lower v; native: the file v removed the parent's v.
        await expectSame('child', [file('w', 'w', {mtime: 701}), dir('v', {mode: 0o701, mtime: 703}), file('v/c', 'c', {mtime: 704}), ...(sn === 'overlayfs' ? [file('v/y', 'y', {mtime: 603})] : [])])
      })
    })
  }
})
