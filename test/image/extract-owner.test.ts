import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {buildImage, expectedChainIds, ociLayoutFiles, writeFiles, type BuiltImage} from '../helpers/image.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'
import {openSnapshotter} from '../../src/core/open.js'
import {openImage} from '../../src/core/image/source.js'
import {unpackImage} from '../../src/core/image/unpack.js'
import {stageLayer} from '../../src/core/layer/apply.js'
import {extractKey, LABEL_EXTRACT_OWNER, processStartTime} from '../../src/core/owner.js'

// A killed unpack's `extract-<unique> <chainID>` snapshot records its owner
// (pid and start time); cleanup, and a later unpack of the layer, remove it
// once that process is gone, and never while it runs.

const HERE = path.dirname(fileURLToPath(import.meta.url))
const WORKER = path.resolve(HERE, '../helpers/worker-unpack.mjs')

beforeAll(() => {
  // The killed processes run dist/: it must be built from these sources.
  for (const f of ['core/image/unpack', 'core/owner', 'core/cleanup', 'core/local']) {
    if (fs.statSync(path.resolve(HERE, `../../dist/${f}.js`)).mtimeMs < fs.statSync(path.resolve(HERE, `../../src/${f}.ts`)).mtimeMs) throw new Error(`dist is older than src/${f}.ts: run npm run build`)
  }
})

let tmp: ReturnType<typeof tempRoot>
let root: string
beforeEach(() => {
  tmp = tempRoot('ctrsnap-extract-owner-')
  root = path.join(tmp.dir, 'root')
})
afterEach(() => tmp.cleanup())

/** Four layers, each with a file `f<i>` of its own (the worker finds a layer's staging by it). */
const fourLayers = (): BuiltImage =>
  buildImage([0, 1, 2, 3].map(i => ({entries: [{name: `f${i}`, content: `layer ${i}\n`.repeat(2000 * (i + 1))}], compression: i === 2 ? ('zstd' as const) : ('gzip' as const)})))

/** Run the unpack in a child that SIGKILLs itself at STEP of layer LAYER; fails unless it died there. */
async function killedUnpack(snapshotter: string, dir: string, step: string, layer: number): Promise<void> {
  const r = await execa('node', [WORKER, root, snapshotter, dir, step, String(layer)], {reject: false})
  expect(r.signal, `${step} ${layer}: ${r.stdout}${r.stderr}`).toBe('SIGKILL')
}

/**
 * The killed process's locks go stale CTRSNAP_LOCK_STALE_MS after its
 * last refresh (at least 5 s); age them instead of waiting (their takeover is
 * tested in test/core/store.test.ts).
 */
function ageLayerLocks(snapshotter: string): void {
  const locks = path.join(root, snapshotter, 'locks')
  const old = new Date(Date.now() - 3600_000)
  for (const l of fs.existsSync(locks) ? fs.readdirSync(locks) : []) fs.utimesSync(path.join(locks, l), old, old)
  // And the store's, if the kill came while it committed another layer.
  const store = path.join(root, snapshotter, 'metadata.db.lock')
  if (fs.existsSync(store)) fs.utimesSync(store, old, old)
}

/** Read in-process (the CLI's ls prints the same walk): each CLI start costs a second on a loaded machine. */
async function keys(snapshotter: string): Promise<{name: string; kind: string; parent: string}[]> {
  return openSnapshotter({root, snapshotter}).walk()
}

/** The whole chain is there, committed in order, each layer's own file in its own directory. */
async function expectChain(snapshotter: string, img: BuiltImage): Promise<void> {
  const chain = expectedChainIds(img.layers.map(l => l.diffId))
  const ls = await keys(snapshotter)
  expect(ls.map(s => [s.name, s.kind, s.parent])).toEqual(chain.map((c, i) => [c, 'Committed', i === 0 ? '' : chain[i - 1]]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)))
  const sn = openSnapshotter({root, snapshotter})
  for (const [i, c] of chain.entries()) {
    const own = (await sn.layerPaths(c)).own!
    expect(fs.readFileSync(path.join(own, `f${i}`), 'utf8')).toBe(`layer ${i}\n`.repeat(2000 * (i + 1)))
  }
}

/** Anything but a snapshot's own directory in the snapshot directories (btrfs: its three kinds'). */
const leftovers = (snapshotter: string): string[] =>
  ['snapshots', 'active', 'view'].map(d => path.join(root, snapshotter, d)).flatMap(d => (fs.existsSync(d) ? fs.readdirSync(d) : [])).filter(d => !/^\d+$/.test(d))

describe.each(['overlayfs', 'native', 'btrfs'])('unpack SIGKILLed (%s)', snapshotter => {
  // The store where the snapshotter can live (btrfs: on the file's loop btrfs).
  let base: ReturnType<typeof tempRoot>
  beforeEach(() => {
    base = tempRootFor(snapshotter, 'ctrsnap-extract-owner-root-')
    root = path.join(base.dir, 'root')
  })
  afterEach(() => base.cleanup())
  // An extract snapshot is active: btrfs keeps it in active/.
  const activeDir = snapshotter === 'btrfs' ? 'active' : 'snapshots'
  for (const step of ['staged', 'prepared', 'finished']) {
    it.skipIf(!canMount)(`killed with layer 2 ${step}: cleanup removes its extract snapshot and staging, lists them first with sizes, and unpack again completes the chain (needs root)`, async () => {
      const img = fourLayers()
      const dir = writeFiles(path.join(tmp.dir, 'img'), ociLayoutFiles([{image: img}]))
      const chain = expectedChainIds(img.layers.map(l => l.diffId))
      await killedUnpack(snapshotter, dir, step, 2)

      const before = await keys(snapshotter)
      const extracts = before.filter(s => s.name.startsWith('extract-'))
      for (const e of extracts) expect([e.kind, e.name]).toEqual(['Active', expect.stringMatching(/^extract-\S+ sha256:[a-f0-9]{64}$/)])
      if (step !== 'staged') {
        // Layer 2's own extract snapshot was made, with its owner: the (dead) worker.
        const key = extracts.find(e => e.name.endsWith(` ${chain[1]}`))!.name
        expect((await openSnapshotter({root, snapshotter}).stat(key)).labels[LABEL_EXTRACT_OWNER]).toMatch(/^\d+:\d+$/)
        const dry = await ctrsnap(['cleanup', '--dry-run'], {root, snapshotter})
        const line = dry.stdout.split('\n').find(l => l.includes(` ${chain[1]}"`))
        expect(line).toMatch(new RegExp(`^would remove ${root}/${snapshotter}/${activeDir}/\\d+ \\(extract snapshot of a killed unpack "extract-\\S+ ${chain[1]}", \\d+\\.\\d (B|KiB|MiB)\\)$`))
        // Finished, it holds the layer (its own file, 4000 lines, on overlay; the whole tree on native).
        if (step === 'finished') expect(line).toMatch(/ \d+\.\d KiB\)$/)
      }

      ageLayerLocks(snapshotter)
      const cleaned = await ctrsnap(['cleanup'], {root, snapshotter})
      expect(cleaned.exitCode).toBe(0)
      expect((await keys(snapshotter)).filter(s => s.name.startsWith('extract-'))).toEqual([])
      expect(leftovers(snapshotter)).toEqual([])
      expect(fs.readdirSync(path.join(root, snapshotter, 'locks'))).toEqual([])
      expect(await openSnapshotter({root, snapshotter}).cleanup({dryRun: true})).toEqual({items: [], skipped: []})

      const again = await ctrsnap(['unpack', '-q', dir], {root, snapshotter})
      expect([again.exitCode, again.stdout, again.stderr]).toEqual([0, `${chain[3]}\n`, ''])
      await expectChain(snapshotter, img)
    })
  }

  it.skipIf(!canMount)('a later unpack takes over a killed one: the dead extract snapshot goes and the layer is extracted again (needs root)', async () => {
    const img = fourLayers()
    const dir = writeFiles(path.join(tmp.dir, 'img'), ociLayoutFiles([{image: img}]))
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    await killedUnpack(snapshotter, dir, 'finished', 3)
    expect((await keys(snapshotter)).map(s => s.name.split(' ')[1])).toContain(chain[2])
    ageLayerLocks(snapshotter)
    const again = await ctrsnap(['unpack', '-q', dir], {root, snapshotter})
    expect([again.exitCode, again.stdout, again.stderr]).toEqual([0, `${chain[3]}\n`, ''])
    await expectChain(snapshotter, img)
    expect((await openSnapshotter({root, snapshotter}).cleanup({dryRun: true})).items.filter(i => i.kind !== 'temp')).toEqual([])
  })
})

describe('extract snapshot owners', () => {
  const chainId = `sha256:${'a'.repeat(64)}`
  const other = `sha256:${'b'.repeat(64)}`

  /** A live process that is not this one, and its start time. */
  async function withLiveProcess(fn: (pid: number, start: string) => Promise<void>): Promise<void> {
    const p = execa('sleep', ['60'], {reject: false})
    try {
      await fn(p.pid!, processStartTime(p.pid!)!)
    } finally {
      p.kill('SIGKILL')
      await p
    }
  }

  it("cleanup leaves a live owner's extract snapshot, removes one whose pid now belongs to another process (other start time), and names one with no owner", async () => {
    const sn = openSnapshotter({root, snapshotter: 'overlayfs'})
    await withLiveProcess(async (pid, start) => {
      const live = extractKey('1-live', chainId)
      const reused = extractKey('2-reused', chainId)
      const unowned = extractKey('3-unowned', other)
      await sn.prepare(live, '', {labels: {[LABEL_EXTRACT_OWNER]: `${pid}:${start}`}})
      await sn.prepare(reused, '', {labels: {[LABEL_EXTRACT_OWNER]: `${pid}:${Number(start) + 1}`}})
      await sn.prepare(unowned, '')
      fs.writeFileSync(path.join((await sn.layerPaths(reused)).own!, 'x'), 'y'.repeat(10_000))
      const reusedDir = path.dirname((await sn.layerPaths(reused)).own!)

      const dry = await sn.cleanup({dryRun: true})
      expect(dry.items.map(i => [i.kind, i.snapshot?.key, i.path])).toEqual([['extract', reused, reusedDir]])
      expect(dry.items[0]!.bytes).toBeGreaterThanOrEqual(10_000)
      expect(dry.skipped.map(s => s.reason)).toEqual([
        `extract snapshot "${live}" in flight (process ${pid})`,
        `extract snapshot "${unowned}" records no owner (${LABEL_EXTRACT_OWNER}); if no unpack is running, remove it with: ctrsnap rm '${unowned}'`,
      ])

      await sn.cleanup()
      expect((await sn.walk()).map(i => i.name).sort()).toEqual([live, unowned])
      expect(fs.existsSync(reusedDir)).toBe(false)
      expect(fs.readdirSync(path.join(sn.root, 'snapshots')).filter(d => !/^\d+$/.test(d))).toEqual([])
    })
  })

  it.skipIf(!canMount)("an unpack takes over a dead owner's extraction of its layer and leaves a live owner's alone (needs root)", async () => {
    const sn = openSnapshotter({root, snapshotter: 'overlayfs'})
    const img = fourLayers()
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    const exited = execa('true')
    const gonePid = exited.pid!
    await exited
    await withLiveProcess(async (pid, start) => {
      const dead = extractKey('1-dead', chain[0]!)
      const live = extractKey('2-live', chain[1]!)
      await sn.prepare(dead, '', {labels: {[LABEL_EXTRACT_OWNER]: `${gonePid}:1`}})
      await sn.prepare(live, '', {labels: {[LABEL_EXTRACT_OWNER]: `${pid}:${start}`}})
      const image = await openImage(writeFiles(path.join(tmp.dir, 'img'), ociLayoutFiles([{image: img}])), {platform: {os: 'linux', architecture: 'amd64'}, tempDir: () => tmp.dir})
      try {
        const res = await unpackImage(sn, image, {stage: stageLayer, concurrency: 2})
        expect(res.layers.map(l => l.status)).toEqual(['extracted', 'extracted', 'extracted', 'extracted'])
      } finally {
        image.close()
      }
      expect((await sn.walk()).map(i => i.name).sort()).toEqual([...chain, live].sort())
    })
  })
})
