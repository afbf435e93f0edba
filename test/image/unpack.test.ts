import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {openSnapshotter} from '../../src/core/open.js'
import {openImage} from '../../src/core/image/source.js'
import {LABEL_DIGEST, LABEL_UNCOMPRESSED, streamLayer, unpackImage, type StageLayer} from '../../src/core/image/unpack.js'
import {stageLayer} from '../../src/core/layer/apply.js'
import type {LocalSnapshotter} from '../../src/core/local.js'
import {buildImage, expectedChainIds, ociLayoutFiles, writeFiles, type BuiltImage, type LayoutEntry} from '../helpers/image.js'
import {isLinux, isRoot, tempRoot, tempRootFor} from '../helpers/root.js'

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`
const amd64 = {os: 'linux', architecture: 'amd64'}

let tmp: {dir: string; cleanup: () => void}
const stage: StageLayer = stageLayer
beforeEach(async () => {
  tmp = tempRoot('ctrsnap-unpack-')
})
afterEach(() => tmp.cleanup())

const threeLayers = (): BuiltImage =>
  buildImage([
    {entries: [{name: 'etc/', type: 'dir'}, {name: 'etc/os', content: 'base\n'}, {name: 'bin/', type: 'dir'}, {name: 'bin/sh', content: '#!', mode: 0o755}]},
    {entries: [{name: 'usr/', type: 'dir'}, {name: 'usr/lib', content: 'lib'.repeat(10000)}], compression: 'zstd'},
    {entries: [{name: 'app/', type: 'dir'}, {name: 'app/main', content: 'main'}], compression: 'none'},
  ])

function layout(name: string, entries: LayoutEntry[]): string {
  return writeFiles(path.join(tmp.dir, name), ociLayoutFiles(entries))
}

// Every layer of the test images streams at once unless a test says otherwise, whatever the machine's CPUs.
async function unpack(sn: LocalSnapshotter, spec: string, concurrency = 3) {
  const image = await openImage(spec, {platform: amd64, tempDir: () => fs.mkdtempSync(path.join(tmp.dir, 'spool-'))})
  try {
    return await unpackImage(sn, image, {stage, concurrency})
  } finally {
    image.close()
  }
}

/** Where snapshot directories are: snapshots/ (btrfs: committed ones; its active/ and view/ too). */
const SNAPSHOT_DIRS = ['snapshots', 'active', 'view']

/** What must be identical before and after a failed unpack: records and the snapshot directories. */
async function state(sn: LocalSnapshotter) {
  const dirs = SNAPSHOT_DIRS.map(d => path.join(sn.root, d)).flatMap(d => (fs.existsSync(d) ? fs.readdirSync(d) : []))
  return {walk: (await sn.walk()).map(i => [i.name, i.kind, i.parent]), dirs: dirs.sort()}
}

// The driver is real: overlay layers are plain directories until mounted, so no mount is needed here.
describe.each(['overlayfs', 'native', 'btrfs'] as const)('unpack on %s', snapshotter => {
  const needsRoot = !(isRoot && isLinux)
  // The snapshotter's root, where it can live (btrfs: on the file's loop btrfs); tmp holds images and spools.
  let base: {dir: string; cleanup: () => void}
  beforeEach(() => {
    base = tempRootFor(snapshotter, 'ctrsnap-unpack-root-')
  })
  afterEach(() => base.cleanup())
  const rootDir = (): string => path.join(base.dir, 'root')
  it.skipIf(needsRoot)('commits each layer under its chainID on the previous one, with labels (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    const img = threeLayers()
    const res = await unpack(sn, layout('img', [{image: img}]))
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    expect(res.chainId).toBe(chain[2])
    expect(res.layers.map(l => [l.chainId, l.diffId, l.digest, l.size, l.status])).toEqual(img.layers.map((l, i) => [chain[i], l.diffId, l.digest, l.blob.length, 'extracted']))
    const infos = await sn.walk()
    expect(infos.map(i => [i.name, i.kind, i.parent]).sort()).toEqual([
      [chain[0], 'Committed', ''],
      [chain[1], 'Committed', chain[0]],
      [chain[2], 'Committed', chain[1]],
    ].sort())
    for (const [i, l] of img.layers.entries()) {
      expect((await sn.stat(chain[i]!)).labels).toEqual({[LABEL_UNCOMPRESSED]: l.diffId, [LABEL_DIGEST]: l.digest})
    }
    expect((await state(sn)).dirs.filter(d => !/^\d+$/.test(d))).toEqual([])
    // The top layer's directory, found as a parent of a probe (the public way to reach a committed layer).
    await sn.prepare('probe', chain[2]!)
    const top = (await sn.layerPaths('probe')).parents[0]!
    expect(fs.readFileSync(path.join(top, 'app/main'), 'utf8')).toBe('main')
    if (snapshotter !== 'overlayfs') expect(fs.readFileSync(path.join(top, 'usr/lib'), 'utf8')).toBe('lib'.repeat(10000))
    else expect(fs.existsSync(path.join(top, 'usr'))).toBe(false)
  })

  for (const concurrency of [1, 3]) {
    it.skipIf(needsRoot)(`streams ${concurrency} layer(s) at once and still commits them in order (needs root)`, async () => {
      const sn = openSnapshotter({root: rootDir(), snapshotter})
      const img = threeLayers()
      let inFlight = 0
      let most = 0
      const watching: StageLayer = async (t, o) => {
        most = Math.max(most, ++inFlight)
        // Long enough for every layer allowed to start to have started.
        await new Promise(r => setTimeout(r, 100))
        try {
          return await stage(t, o)
        } finally {
          inFlight--
        }
      }
      const image = await openImage(layout('img', [{image: img}]), {platform: amd64, tempDir: () => tmp.dir})
      const res = await unpackImage(sn, image, {stage: watching, concurrency})
      expect(most).toBe(concurrency)
      const chain = expectedChainIds(img.layers.map(l => l.diffId))
      expect(res.chainId).toBe(chain[2])
      const infos = await sn.walk()
      expect(infos.map(i => [i.name, i.kind, i.parent]).sort()).toEqual(chain.map((c, i) => [c, 'Committed', i === 0 ? '' : chain[i - 1]]).sort())
      expect((await state(sn)).dirs.filter(d => !/^\d+$/.test(d))).toEqual([])
      // Each layer's own content, in its own snapshot.
      const own = (await sn.layerPaths(chain[2]!)).own!
      expect(fs.readFileSync(path.join(own, 'app/main'), 'utf8')).toBe('main')
      if (snapshotter === 'overlayfs') expect(fs.existsSync(path.join(own, 'etc'))).toBe(false)
      else expect(fs.readFileSync(path.join(own, 'etc/os'), 'utf8')).toBe('base\n')
    })
  }

  it.skipIf(needsRoot)('reuses existing layers: a second unpack extracts nothing, a shared base is not extracted again (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    const img = threeLayers()
    const dir = layout('img', [{image: img}])
    await unpack(sn, dir)
    const before = await state(sn)
    let calls = 0
    const counting: StageLayer = (t, o) => {
      calls++
      return stage(t, o)
    }
    const image = await openImage(dir, {platform: amd64, tempDir: () => tmp.dir})
    const again = await unpackImage(sn, image, {stage: counting})
    expect(calls).toBe(0)
    expect(again.layers.map(l => l.status)).toEqual(['reused', 'reused', 'reused'])
    expect(await state(sn)).toEqual(before)
    // Same first two layers, a new third: only the third is extracted.
    const child = buildImage([{entries: [{name: 'etc/', type: 'dir'}, {name: 'etc/os', content: 'base\n'}, {name: 'bin/', type: 'dir'}, {name: 'bin/sh', content: '#!', mode: 0o755}]}, {entries: [{name: 'usr/', type: 'dir'}, {name: 'usr/lib', content: 'lib'.repeat(10000)}], compression: 'zstd'}, {entries: [{name: 'other', content: 'o'}]}])
    const image2 = await openImage(layout('child', [{image: child}]), {platform: amd64, tempDir: () => tmp.dir})
    const r2 = await unpackImage(sn, image2, {stage: counting})
    expect(calls).toBe(1)
    expect(r2.layers.map(l => l.status)).toEqual(['reused', 'reused', 'extracted'])
    expect((await sn.stat(r2.chainId)).parent).toBe(expectedChainIds(img.layers.map(l => l.diffId))[1])
  })

  it.skipIf(needsRoot)('two unpacks of the same image at once both succeed with one chain (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    const img = threeLayers()
    const dir = layout('img', [{image: img}])
    const [a, b] = await Promise.all([unpack(sn, dir), unpack(sn, dir)])
    expect(a.chainId).toBe(b.chainId)
    const s = await state(sn)
    expect(s.walk).toHaveLength(3)
    expect(s.dirs.filter(d => !/^\d+$/.test(d))).toEqual([])
    expect(s.dirs).toHaveLength(3)
  })

  it.skipIf(needsRoot)('two unpacks of the same image at once extract each layer exactly once; the other waits and reuses it (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    const img = threeLayers()
    const dir = layout('img', [{image: img}])
    const targets: string[] = []
    const counting: StageLayer = async (tar, o) => {
      targets.push(o.dir)
      // Slow enough that without the layer lock both runs would be extracting the same layer at once.
      await new Promise(r => setTimeout(r, 50))
      return stage(tar, o)
    }
    const run = async () => {
      const image = await openImage(dir, {platform: amd64, tempDir: () => fs.mkdtempSync(path.join(tmp.dir, 'spool-'))})
      try {
        return await unpackImage(sn, image, {stage: counting})
      } finally {
        image.close()
      }
    }
    const [a, b] = await Promise.all([run(), run()])
    expect(a.chainId).toBe(b.chainId)
    expect(targets).toHaveLength(3)
    expect(a.layers.map((l, i) => [l.status, b.layers[i]!.status].sort())).toEqual(Array(3).fill(['extracted', 'reused']))
    const s = await state(sn)
    expect(s.walk).toHaveLength(3)
    expect(s.dirs.filter(d => !/^\d+$/.test(d))).toEqual([])
    expect(fs.readdirSync(path.join(sn.root, 'locks'))).toEqual([])
  })

  it.skipIf(needsRoot)('refuses to build on a snapshot that has a layer chainID as its name but is not that layer (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    const img = threeLayers()
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    await sn.prepare(chain[0]!, '')
    const before = await state(sn)
    await expect(unpack(sn, layout('img', [{image: img}]))).rejects.toThrow(`snapshot "${chain[0]}" exists but is not layer 1 of this image (it is active, expected committed on "")`)
    expect(await state(sn)).toEqual(before)
  })

  it.skipIf(needsRoot)('an interrupted unpack (SIGINT in the CLI) removes what it made (needs root)', async () => {
    const sn = openSnapshotter({root: rootDir(), snapshotter})
    await sn.prepare('keep', '')
    const before = await state(sn)
    const ctl = new AbortController()
    const image = await openImage(layout('img', [{image: threeLayers()}]), {platform: amd64, tempDir: () => tmp.dir})
    // Stop while layer 2 is streaming: layer 1 is committed by then and must go too.
    const events = {bytes: (l: {index: number}) => void (l.index === 1 && ctl.abort())}
    await expect(unpackImage(sn, image, {stage, events, signal: ctl.signal, concurrency: 1})).rejects.toThrow(/layer 2 \(sha256:[a-f0-9]{64}\): unpack interrupted/)
    expect(await state(sn)).toEqual(before)
  })

  describe('a bad layer leaves the store as it was', () => {
    const cases: [string, (img: BuiltImage) => BuiltImage, RegExp][] = [
      [
        'blob digest mismatch',
        img => {
          const blob = Buffer.from(img.layers[2]!.blob)
          blob[blob.length - 600] ^= 0xff // same size, different bytes
          img.layers[2]!.blob = blob
          return img
        },
        /layer 3 \(sha256:[a-f0-9]{64}\): digest mismatch: the manifest says sha256:[a-f0-9]{64}, the blob is sha256:[a-f0-9]{64}/,
      ],
      ['truncated gzip', img => retarget(img, 0, b => b.subarray(0, b.length - 20)), /layer 1 \(sha256:[a-f0-9]{64}\): corrupt or truncated gzip data/],
      [
        'corrupt zstd',
        img =>
          retarget(img, 1, b => {
            const c = Buffer.from(b)
            for (let i = 20; i < c.length - 8; i += 7) c[i] ^= 0x5a
            return c
          }),
        /layer 2 \(sha256:[a-f0-9]{64}\): corrupt or truncated zstd data/,
      ],
      [
        'diffID mismatch',
        img => {
          const cfg = JSON.parse(img.config.toString())
          cfg.rootfs.diff_ids[1] = sha(Buffer.from('something else'))
          return rebuild(img, Buffer.from(JSON.stringify(cfg)))
        },
        /layer 2 \(sha256:[a-f0-9]{64}\): uncompressed digest mismatch: the config's diff_id is sha256:[a-f0-9]{64}, the content is sha256:[a-f0-9]{64}/,
      ],
    ]
    for (const [name, spoil, message] of cases) {
      it.skipIf(needsRoot)(`${name} (needs root)`, async () => {
        const sn = openSnapshotter({root: rootDir(), snapshotter})
        // Something already there must survive untouched.
        await sn.prepare('keep', '')
        const before = await state(sn)
        await expect(unpack(sn, layout('bad', [{image: spoil(threeLayers())}]))).rejects.toThrow(message)
        expect(await state(sn)).toEqual(before)
      })
    }
  })
})

/** Replace layer i's blob and point the manifest at it, so only its content is wrong. */
function retarget(img: BuiltImage, i: number, f: (b: Buffer) => Buffer): BuiltImage {
  const l = img.layers[i]!
  l.blob = f(l.blob)
  l.digest = sha(l.blob)
  return rebuild(img, img.config)
}

function rebuild(img: BuiltImage, config: Buffer): BuiltImage {
  const m = JSON.parse(img.manifest.toString())
  m.config.digest = sha(config)
  m.config.size = config.length
  m.layers = img.layers.map(l => ({mediaType: l.mediaType, digest: l.digest, size: l.blob.length}))
  const manifest = Buffer.from(JSON.stringify(m))
  return {...img, config, configDigest: sha(config), manifest, manifestDigest: sha(manifest)}
}

describe('streamLayer', () => {
  it('hands the whole layer to a consumer that starts reading after the decompressor has exited', async () => {
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const img = buildImage([{entries: [{name: 'f', content: 'x'.repeat(30000)}], compression}])
      const image = await openImage(layout(`late-${compression}`, [{image: img}]), {platform: amd64, tempDir: () => tmp.dir})
      const got: Buffer[] = []
      const r = await streamLayer(image.layers[0]!, async s => {
        await new Promise(res => setTimeout(res, 200))
        for await (const c of s) got.push(c as Buffer)
      })
      expect(Buffer.concat(got).equals(img.layers[0]!.tar)).toBe(true)
      expect(r).toEqual({digest: img.layers[0]!.digest, size: img.layers[0]!.blob.length, diffId: img.layers[0]!.diffId})
    }
  })

  it('still hashes what a consumer leaves unread, so the diffID is of the whole stream', async () => {
    const img = buildImage([{entries: [{name: 'f', content: 'y'.repeat(200000)}], compression: 'zstd'}])
    const image = await openImage(layout('partial', [{image: img}]), {platform: amd64, tempDir: () => tmp.dir})
    const r = await streamLayer(image.layers[0]!, async s => {
      for await (const _ of s) break
    })
    expect(r.diffId).toBe(img.layers[0]!.diffId)
  })
})
