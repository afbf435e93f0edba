import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {archive, buildImage, dockerSaveFiles, expectedChainIds, ociLayoutFiles, writeFiles, type BuiltImage} from '../helpers/image.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'
import {openSnapshotter} from '../../src/core/open.js'

// End to end through the built CLI (npm run build first). Root is needed for
// the owners, devices and xattrs the layer applier writes, not for mounts.

let tmp: {dir: string; cleanup: () => void}
let root: string
beforeEach(() => {
  tmp = tempRoot('ctrsnap-unpack-cli-')
  root = path.join(tmp.dir, 'root')
})
afterEach(() => tmp.cleanup())

const base = () => [
  {name: 'etc/', type: 'dir' as const},
  {name: 'etc/os-release', content: 'ID=test\n'},
]

/** One layer per supported media type. */
function everyMediaType(): BuiltImage {
  return buildImage([
    {entries: base(), compression: 'gzip'},
    {entries: [{name: 'a', content: 'tar'}], compression: 'none'},
    {entries: [{name: 'b', content: 'zstd'}], compression: 'zstd'},
    {entries: [{name: 'c', content: 'docker'}], compression: 'gzip', mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip'},
    {entries: [{name: 'd', content: 'nd-tar'}], compression: 'none', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar'},
    {entries: [{name: 'e', content: 'nd-gzip'}], compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'},
    {entries: [{name: 'f', content: 'nd-zstd'}], compression: 'zstd', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'},
  ])
}

async function withStdin(args: string[], file: string, opts: {snapshotter?: string} = {}) {
  const r = await execa('node', [BIN, ...args], {env: {CTRSNAP_ROOT: root, CTRSNAP_SNAPSHOTTER: opts.snapshotter ?? 'overlayfs', DEBUG: ''}, inputFile: file, reject: false, stripFinalNewline: false})
  return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode}
}

const run = (args: string[], snapshotter = 'overlayfs') => ctrsnap(args, {root, snapshotter})

/** Anything but a snapshot's own directory (a spool, a staging dir) in the snapshot directories (btrfs: its three kinds'). */
const strays = (snapshotter: string): string[] =>
  ['snapshots', 'active', 'view'].map(d => path.join(root, snapshotter, d)).flatMap(d => (fs.existsSync(d) ? fs.readdirSync(d) : [])).filter(n => !/^\d+$/.test(n))

describe.each(['overlayfs', 'native', 'btrfs'])('ctrsnap unpack (%s)', snapshotter => {
  // The store where the snapshotter can live (btrfs: on the file's loop btrfs); tmp holds the images.
  let store: ReturnType<typeof tempRoot>
  beforeEach(() => {
    store = tempRootFor(snapshotter, 'ctrsnap-unpack-cli-root-')
    root = path.join(store.dir, 'root')
  })
  afterEach(() => store.cleanup())
  it.skipIf(!canMount)('unpacks every layer media type from an OCI archive; stdout is the top chainID only (needs root)', async () => {
    const img = everyMediaType()
    const file = path.join(tmp.dir, 'img.tar')
    fs.writeFileSync(file, archive(ociLayoutFiles([{image: img, tag: 'v1'}])))
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    const r = await run(['unpack', `${file}:v1`], snapshotter)
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(`${chain[6]}\n`)
    // Not a terminal: one plain line per layer, in order.
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(7)
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^unpacking ${img.layers[i]!.digest} \\(${i + 1}/7\\) \\d+\\.\\d (B|KiB) \\.\\.\\. done \\d+\\.\\ds$`)))
    const ls = await run(['ls', '--json'], snapshotter)
    const infos = JSON.parse(ls.stdout) as {name: string; parent: string | null; kind: string; labels: Record<string, string>}[]
    expect(infos.map(i => i.name).sort()).toEqual([...chain].sort())
    for (const [i, c] of chain.entries()) {
      const info = infos.find(x => x.name === c)!
      expect([info.parent, info.kind, info.labels['ctrsnap.io/uncompressed'], info.labels['ctrsnap.io/digest']]).toEqual([i === 0 ? null : chain[i - 1], 'Committed', img.layers[i]!.diffId, img.layers[i]!.digest])
    }
    // The unpacked chain works as a parent.
    expect((await run(['prepare', 'work', r.stdout.trim()], snapshotter)).exitCode).toBe(0)

    const again = await run(['unpack', '--json', `${file}:v1`], snapshotter)
    expect(again.exitCode).toBe(0)
    expect(again.stderr).toBe('')
    const layers = JSON.parse(again.stdout)
    expect(layers.map((l: {chainId: string; status: string}) => [l.chainId, l.status])).toEqual(chain.map(c => [c, 'reused']))
    expect(layers[3]).toEqual({chainId: chain[3], diffId: img.layers[3]!.diffId, digest: img.layers[3]!.digest, size: img.layers[3]!.blob.length, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', status: 'reused'})
  })

  it.skipIf(!canMount)('reads a docker save archive and an OCI archive from stdin, quietly (needs root)', async () => {
    const img = buildImage([{entries: base()}, {entries: [{name: 'x', content: 'x'}], compression: 'zstd'}])
    const save = path.join(tmp.dir, 'save.tar')
    fs.writeFileSync(save, archive(dockerSaveFiles([{image: img, tags: ['test/img:1']}])))
    const r = await withStdin(['unpack', '--quiet', '-'], save, {snapshotter})
    expect([r.exitCode, r.stderr]).toEqual([0, ''])
    expect(r.stdout).toBe(`${expectedChainIds(img.layers.map(l => l.diffId))[1]}\n`)

    const other = buildImage([{entries: [{name: 'y', content: 'y'}]}])
    const oci = path.join(tmp.dir, 'oci.tar')
    fs.writeFileSync(oci, archive(ociLayoutFiles([{image: other}])))
    const r2 = await withStdin(['unpack', '-q', '-'], oci, {snapshotter})
    expect([r2.exitCode, r2.stdout]).toEqual([0, `${other.layers[0]!.diffId}\n`])
    // The spooled copy of stdin is gone.
    expect(strays(snapshotter)).toEqual([])
  })

  it.skipIf(!canMount)('two unpacks of the same image at once both succeed, one chain results (needs root)', async () => {
    const img = buildImage([{entries: base()}, {entries: [{name: 'big', content: 'z'.repeat(3 << 20)}]}, {entries: [{name: 'top', content: 't'}]}])
    const dir = writeFiles(path.join(tmp.dir, 'layout'), ociLayoutFiles([{image: img}]))
    const [a, b] = await Promise.all([run(['unpack', '-q', dir], snapshotter), run(['unpack', '-q', dir], snapshotter)])
    expect([a.exitCode, b.exitCode, a.stderr, b.stderr]).toEqual([0, 0, '', ''])
    expect(a.stdout).toBe(b.stdout)
    expect(JSON.parse((await run(['ls', '--json'], snapshotter)).stdout)).toHaveLength(3)
    expect(JSON.parse((await run(['cleanup', '--dry-run', '--json'], snapshotter)).stdout)).toEqual([])
  })

  it.skipIf(!canMount)('two unpacks of the same image at once: --json shows each layer extracted by one and reused by the other, no lock left behind (needs root)', async () => {
    const img = buildImage([{entries: base()}, {entries: [{name: 'big', content: 'z'.repeat(3 << 20)}]}, {entries: [{name: 'top', content: 't'}]}])
    const dir = writeFiles(path.join(tmp.dir, 'layout'), ociLayoutFiles([{image: img}]))
    const [a, b] = await Promise.all([run(['unpack', '--json', dir], snapshotter), run(['unpack', '--json', dir], snapshotter)])
    expect([a.exitCode, b.exitCode, a.stderr, b.stderr]).toEqual([0, 0, '', ''])
    const sa = (JSON.parse(a.stdout) as {status: string}[]).map(l => l.status)
    const sb = (JSON.parse(b.stdout) as {status: string}[]).map(l => l.status)
    expect(sa).toHaveLength(3)
    expect(sa.map((s, i) => [s, sb[i]].sort())).toEqual([['extracted', 'reused'], ['extracted', 'reused'], ['extracted', 'reused']])
    expect(JSON.parse((await run(['ls', '--json'], snapshotter)).stdout)).toHaveLength(3)
    expect(strays(snapshotter)).toEqual([])
    expect(fs.readdirSync(path.join(root, snapshotter, 'locks'))).toEqual([])
  })

  it.skipIf(!canMount)('a corrupt layer fails with one clear line and leaves the store as it was (needs root)', async () => {
    const img = buildImage([{entries: base()}, {entries: [{name: 'x', content: 'x'.repeat(100000)}], compression: 'zstd'}])
    const files = ociLayoutFiles([{image: img}])
    const p = `blobs/sha256/${img.layers[1]!.digest.slice(7)}`
    files.set(p, files.get(p)!.subarray(0, 30)) // truncated: size and digest no longer match the manifest
    const dir = writeFiles(path.join(tmp.dir, 'bad'), files)
    expect((await run(['prepare', 'keep'], snapshotter)).exitCode).toBe(0)
    const before = await run(['ls'], snapshotter)
    const r = await run(['unpack', '-q', dir], snapshotter)
    expect(r.exitCode).toBe(6)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`^ctrsnap: layer 2 \\(${img.layers[1]!.digest}\\): size mismatch: the manifest says \\d+ bytes, the blob has 30 \\(digest sha256:[a-f0-9]{64}\\)\\n$`))
    expect((await run(['ls'], snapshotter)).stdout).toBe(before.stdout)
    expect(strays(snapshotter)).toEqual([])
    expect(JSON.parse((await run(['cleanup', '--dry-run', '--json'], snapshotter)).stdout)).toEqual([])
  })
})

describe('ctrsnap unpack errors', () => {
  it('names what the user gave, with distinct exit codes', async () => {
    const missing = await run(['unpack', path.join(tmp.dir, 'nope')])
    expect([missing.exitCode, missing.stdout]).toEqual([3, ''])
    expect(missing.stderr).toBe(`ctrsnap: image source "${path.join(tmp.dir, 'nope')}" does not exist (expected an OCI layout directory, an OCI or docker save archive, or - for stdin)\n`)

    const badPlatform = await run(['unpack', '--platform', 'linux', tmp.dir])
    expect([badPlatform.exitCode, badPlatform.stderr]).toEqual([6, 'ctrsnap: platform "linux": expected os/arch[/variant], such as linux/amd64 or linux/arm/v7\n'])

    const amd = buildImage([{entries: [{name: 'f', content: '1'}]}], {os: 'linux', architecture: 'amd64'})
    const arm = buildImage([{entries: [{name: 'f', content: '2'}]}], {os: 'linux', architecture: 'arm64'})
    const dir = writeFiles(path.join(tmp.dir, 'multi'), ociLayoutFiles([{image: amd, withPlatform: true}, {image: arm, withPlatform: true}], {nested: true}))
    const none = await run(['unpack', '--platform', 'linux/riscv64', dir])
    expect(none.exitCode).toBe(3)
    expect(none.stderr).toMatch(/^ctrsnap: .*multi: no image for platform linux\/riscv64; available: linux\/amd64 \(sha256:[a-f0-9]{64}\); linux\/arm64 \(sha256:[a-f0-9]{64}\)\n$/)

    const lz4 = writeFiles(path.join(tmp.dir, 'lz4'), ociLayoutFiles([{image: buildImage([{entries: [{name: 'a'}], mediaType: 'application/vnd.oci.image.layer.v1.tar+lz4'}])}]))
    const unsupported = await run(['unpack', lz4])
    expect(unsupported.exitCode).toBe(6)
    expect(unsupported.stderr).toMatch(/^ctrsnap: .*lz4: layer 1 \(sha256:[a-f0-9]{64}\): unsupported layer media type "application\/vnd.oci.image.layer.v1.tar\+lz4" \(supported: .*\)\n$/)

    const jobs = await run(['unpack', '--jobs', '9', path.join(tmp.dir, 'nope')])
    expect([jobs.exitCode, jobs.stderr.split('\n')[0]]).toEqual([2, 'ctrsnap: --jobs: expected an integer less than or equal to 4 but received: 9'])

    const json = await run(['unpack', '--json', path.join(tmp.dir, 'nope')])
    expect(json.exitCode).toBe(3)
    expect(JSON.parse(json.stdout).error.kind).toBe('not-found')
  })
})

const NOTHING_TO_CLEAN = 'would reclaim 0 items, 0.0 B\n'

describe('ctrsnap unpack killed (SIGKILL) mid-way', () => {
  it.skipIf(!canMount)('leaves only its own staging and extract key; cleanup takes both, and unpack again completes the chain (needs root)', async () => {
    // Big incompressible layers, so the kill lands while layers are streaming.
    const big = (seed: number): Buffer => {
      const b = Buffer.alloc(24 << 20)
      for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ (i >>> 7)) >>> 0, i)
      return b
    }
    const img = buildImage([0, 1, 2, 3].map(i => ({entries: [{name: `f${i}`, content: big(i)}], compression: 'gzip' as const})))
    const dir = writeFiles(path.join(tmp.dir, 'img'), ociLayoutFiles([{image: img}]))
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    const child = execa('node', [BIN, 'unpack', '--jobs', '2', dir], {env: {CTRSNAP_ROOT: root, CTRSNAP_SNAPSHOTTER: 'overlayfs', DEBUG: ''}, reject: false})
    // Killed once the first layer is in (its progress line), while the next ones stream.
    await new Promise<void>(resolve => {
      child.stderr!.on('data', (d: Buffer) => {
        if (d.toString().includes('(1/4)')) resolve()
      })
      void child.then(() => resolve())
    })
    child.kill('SIGKILL')
    const killed = await child
    expect(killed.signal).toBe('SIGKILL')

    const snapshots = path.join(root, 'overlayfs', 'snapshots')
    const ls = JSON.parse((await run(['ls', '--json'])).stdout) as {name: string; kind: string; parent: string}[]
    // What it committed are whole layers of the chain, in order; at most one extract key is left, active.
    const committed = ls.filter(s => s.kind === 'Committed').map(s => s.name)
    expect(committed.length).toBeGreaterThanOrEqual(1)
    expect(committed.sort()).toEqual(chain.slice(0, committed.length).sort())
    const keys = ls.filter(s => s.kind !== 'Committed')
    for (const k of keys) expect(k.name).toMatch(/^extract-\S+ sha256:[a-f0-9]{64}$/)

    const cleaned = await run(['cleanup'])
    expect(cleaned.exitCode).toBe(0)
    expect(fs.readdirSync(snapshots).filter(d => !/^\d+$/.test(d))).toEqual([])
    expect((await run(['cleanup', '--dry-run'])).stdout).toBe(NOTHING_TO_CLEAN)
    // The extract keys too: their owner (the killed run) is gone.
    expect((JSON.parse((await run(['ls', '--json'])).stdout) as {name: string}[]).filter(s => s.name.startsWith('extract-'))).toEqual([])

    // The killed run's layer locks go stale after CTRSNAP_LOCK_STALE_MS (at least 5 s); then they are taken over.
    const again = await ctrsnap(['unpack', '-q', dir], {root, snapshotter: 'overlayfs', env: {CTRSNAP_LOCK_STALE_MS: '5000'}})
    expect([again.exitCode, again.stdout]).toEqual([0, `${chain[3]}\n`])
    const after = JSON.parse((await run(['ls', '--json'])).stdout) as {name: string}[]
    expect(after.map(s => s.name).sort()).toEqual([...chain].sort())
    const top = await openSnapshotter({root, snapshotter: 'overlayfs'}).layerPaths(chain[3]!)
    expect(fs.readFileSync(path.join(top.own!, 'f3')).equals(big(3))).toBe(true)
  })
})
