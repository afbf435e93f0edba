import fs from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {chainIds} from '../../src/core/image/chain-id.js'
import {parseDigest, sha256} from '../../src/core/image/digest.js'
import {layerCompression, MT} from '../../src/core/image/media-types.js'
import {formatPlatform, parsePlatform} from '../../src/core/image/platform.js'
import {openImage, type Image} from '../../src/core/image/source.js'
import {archive, buildImage, dockerSaveFiles, expectedChainIds, ociLayoutFiles, writeFiles} from '../helpers/image.js'
import {tempRoot} from '../helpers/root.js'

const amd64 = {os: 'linux', architecture: 'amd64'}
const arm64 = {os: 'linux', architecture: 'arm64'}
const armv7 = {os: 'linux', architecture: 'arm', variant: 'v7'}

let tmp: {dir: string; cleanup: () => void}
beforeEach(() => {
  tmp = tempRoot('ctrsnap-src-')
})
afterEach(() => tmp.cleanup())

const open = (spec: string, platform = amd64, extra: {explicit?: boolean; stdin?: Readable} = {}): Promise<Image> =>
  openImage(spec, {platform, explicit: extra.explicit ?? true, stdin: extra.stdin, tempDir: () => fs.mkdtempSync(path.join(tmp.dir, 'spool-'))})

const img1 = () => buildImage([{entries: [{name: 'a', content: 'A'}]}, {entries: [{name: 'b', content: 'B'}], compression: 'zstd'}, {entries: [{name: 'c', content: 'C'}], compression: 'none'}])

describe('chain IDs and digests', () => {
  it('match an independent computation of image-spec ChainID', () => {
    const diffIds = [sha256('one'), sha256('two'), sha256('three')]
    expect(chainIds(diffIds)).toEqual(expectedChainIds(diffIds))
    expect(chainIds(diffIds)[0]).toBe(diffIds[0])
    expect(chainIds([])).toEqual([])
  })
  it('reject malformed digests naming where they came from', () => {
    expect(() => parseDigest('sha256:ABC', 'layer 1')).toThrow(/layer 1: "sha256:ABC" is not a sha256 digest/)
    expect(() => parseDigest('md5:' + 'a'.repeat(32), 'x')).toThrow(/not a sha256 digest/)
  })
  it('name an unsupported layer media type', () => {
    expect(() => layerCompression('application/vnd.oci.image.layer.v1.tar+bzip2', 'layer 2')).toThrow(/layer 2: unsupported layer media type "application\/vnd.oci.image.layer.v1.tar\+bzip2"/)
    expect(layerCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'x')).toBe('zstd')
    expect(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip', 'x')).toBe('gzip')
  })
  it('parse platforms with containerd normalisation', () => {
    expect(formatPlatform(parsePlatform('linux/aarch64/v8'))).toBe('linux/arm64')
    expect(formatPlatform(parsePlatform('linux/arm'))).toBe('linux/arm/v7')
    expect(formatPlatform(parsePlatform('linux/x86_64'))).toBe('linux/amd64')
    expect(() => parsePlatform('linux')).toThrow(/expected os\/arch\[\/variant\]/)
  })
})

describe('image sources', () => {
  it('reads an OCI layout directory, with layers, diffIDs and compressions', async () => {
    const img = img1()
    const dir = writeFiles(path.join(tmp.dir, 'layout'), ociLayoutFiles([{image: img, tag: 'v1'}]))
    const got = await open(dir)
    expect(got.manifestDigest).toBe(img.manifestDigest)
    expect(got.layers.map(l => [l.compression, l.digest, l.diffId, l.size])).toEqual(img.layers.map((l, i) => [['gzip', 'zstd', 'none'][i], l.digest, l.diffId, l.blob.length]))
  })

  it('selects DIR:TAG by ref.name and DIR@digest by manifest digest', async () => {
    const a = img1()
    const b = buildImage([{entries: [{name: 'x', content: 'X'}]}])
    const dir = writeFiles(path.join(tmp.dir, 'layout'), ociLayoutFiles([{image: a, tag: 'a'}, {image: b, tag: 'b'}]))
    expect((await open(`${dir}:b`)).manifestDigest).toBe(b.manifestDigest)
    expect((await open(`${dir}@${a.manifestDigest}`)).manifestDigest).toBe(a.manifestDigest)
    await expect(open(`${dir}:nope`)).rejects.toThrow(/no image tagged "nope" \(tags: a, b\)/)
    await expect(open(dir)).rejects.toThrow(/2 images match platform linux\/amd64: .*a, sha256.*b, sha256.*choose one with SOURCE:TAG/)
    await expect(open(`${dir}@sha256:${'0'.repeat(64)}`)).rejects.toThrow(/no manifest or index sha256:0{64}/)
  })

  it('finds an image by the short or the full name of its reference, normalised as docker does', async () => {
    const a = img1()
    const b = buildImage([{entries: [{name: 'y', content: 'Y'}]}])
    const save = path.join(tmp.dir, 'full.tar')
    fs.writeFileSync(save, archive(dockerSaveFiles([{image: a, tags: ['docker.io/example/app:v1']}, {image: b, tags: ['busybox:latest']}])))
    const diffIds = async (spec: string): Promise<string[]> => (await open(spec)).layers.map(l => l.diffId)
    expect(await diffIds(`${save}:example/app:v1`)).toEqual(a.layers.map(l => l.diffId))
    for (const name of ['busybox', 'library/busybox', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox']) {
      expect(await diffIds(`${save}:${name}`), name).toEqual(b.layers.map(l => l.diffId))
    }
    await expect(open(`${save}:example/app:v2`)).rejects.toThrow(/no image tagged "example\/app:v2"/)
    const dir = writeFiles(path.join(tmp.dir, 'layout'), ociLayoutFiles([{image: a, tag: 'docker.io/example/app:v1'}, {image: b, tag: 'b'}]))
    expect((await open(`${dir}:example/app:v1`)).manifestDigest).toBe(a.manifestDigest)
  })

  it('reads an OCI archive and the same archive from stdin', async () => {
    const img = img1()
    const file = path.join(tmp.dir, 'img.tar')
    fs.writeFileSync(file, archive(ociLayoutFiles([{image: img, tag: 'latest'}])))
    expect((await open(file)).manifestDigest).toBe(img.manifestDigest)
    expect((await open(`${file}:latest`)).manifestDigest).toBe(img.manifestDigest)
    const fromStdin = await open('-', amd64, {stdin: fs.createReadStream(file)})
    expect(fromStdin.manifestDigest).toBe(img.manifestDigest)
    const spool = fs.readdirSync(tmp.dir).filter(n => n.startsWith('spool-'))
    expect(spool).toHaveLength(1)
    fromStdin.close()
    expect(fs.readdirSync(tmp.dir).filter(n => n.startsWith('spool-'))).toEqual([])
  })

  it('reads a docker save archive by RepoTags, from a file and stdin', async () => {
    const a = img1()
    const b = buildImage([{entries: [{name: 'y', content: 'Y'}]}])
    const file = path.join(tmp.dir, 'save.tar')
    fs.writeFileSync(file, archive(dockerSaveFiles([{image: a, tags: ['repo/a:1']}, {image: b, tags: ['repo/b:latest']}])))
    const got = await open(`${file}:repo/a:1`)
    expect(got.layers.map(l => l.diffId)).toEqual(a.layers.map(l => l.diffId))
    expect(got.layers.every(l => l.compression === 'none' && l.digest === undefined)).toBe(true)
    expect((await open(`${file}:repo/b`)).layers.map(l => l.diffId)).toEqual(b.layers.map(l => l.diffId))
    await expect(open(file)).rejects.toThrow(/2 images match/)
    await expect(open(`${file}:zzz`)).rejects.toThrow(/no image tagged "zzz" \(RepoTags: repo\/a:1, repo\/b:latest\)/)
    const single = path.join(tmp.dir, 'one.tar')
    fs.writeFileSync(single, archive(dockerSaveFiles([{image: b, tags: ['b:1']}])))
    expect((await open('-', amd64, {stdin: fs.createReadStream(single)})).layers).toHaveLength(1)
  })

  it('reads a docker save archive of the newer layout (blobs/sha256 layers, compressed), verifying digests from the paths', async () => {
    const img = buildImage([{entries: [{name: 'a', content: 'A'}], compression: 'gzip'}, {entries: [{name: 'b', content: 'B'}], compression: 'zstd'}])
    const files = new Map<string, Buffer>([[`blobs/sha256/${img.configDigest.slice(7)}`, img.config]])
    for (const l of img.layers) files.set(`blobs/sha256/${l.digest.slice(7)}`, l.blob)
    files.set('manifest.json', Buffer.from(JSON.stringify([{Config: `blobs/sha256/${img.configDigest.slice(7)}`, RepoTags: ['new:1'], Layers: img.layers.map(l => `blobs/sha256/${l.digest.slice(7)}`)}])))
    const file = path.join(tmp.dir, 'new.tar')
    fs.writeFileSync(file, archive(files))
    const got = await open(file)
    expect(got.layers.map(l => [l.compression, l.digest, l.size, l.mediaType])).toEqual([
      ['gzip', img.layers[0]!.digest, img.layers[0]!.blob.length, 'application/vnd.docker.image.rootfs.diff.tar.gzip'],
      ['zstd', img.layers[1]!.digest, img.layers[1]!.blob.length, 'application/vnd.oci.image.layer.v1.tar+zstd'],
    ])
  })

  it('resolves a (nested) index by platform and lists what is there when nothing or several match', async () => {
    const x86 = buildImage([{entries: [{name: 'f', content: 'amd64'}]}], amd64)
    const arm = buildImage([{entries: [{name: 'f', content: 'arm64'}]}], arm64)
    const arm7 = buildImage([{entries: [{name: 'f', content: 'armv7'}]}], armv7)
    for (const nested of [false, true]) {
      const dir = writeFiles(path.join(tmp.dir, `multi-${nested}`), ociLayoutFiles([{image: x86, withPlatform: true}, {image: arm, withPlatform: true}, {image: arm7, withPlatform: true}], {nested}))
      expect((await open(dir, amd64)).manifestDigest).toBe(x86.manifestDigest)
      expect((await open(dir, parsePlatform('linux/arm64/v8'))).manifestDigest).toBe(arm.manifestDigest)
      expect((await open(dir, parsePlatform('linux/arm/v7'))).manifestDigest).toBe(arm7.manifestDigest)
      await expect(open(dir, parsePlatform('linux/s390x'))).rejects.toThrow(/no image for platform linux\/s390x; available: linux\/amd64 .*linux\/arm64 .*linux\/arm\/v7/)
    }
    // Two entries for one platform: ambiguous, both listed.
    const x86b = buildImage([{entries: [{name: 'g', content: 'other'}]}], amd64)
    const dir = writeFiles(path.join(tmp.dir, 'dup'), ociLayoutFiles([{image: x86, withPlatform: true}, {image: x86b, withPlatform: true}]))
    await expect(open(dir, amd64)).rejects.toThrow(new RegExp(`2 images match platform linux/amd64: .*${x86.manifestDigest}.*${x86b.manifestDigest}`))
    // No platform in the index: the config tells.
    const bare = writeFiles(path.join(tmp.dir, 'bare'), ociLayoutFiles([{image: arm}]))
    await expect(open(bare, amd64)).rejects.toThrow(/no image for platform linux\/amd64; available: linux\/arm64/)
    expect((await open(bare, arm64)).manifestDigest).toBe(arm.manifestDigest)
  })

  it('refuses what is not an image, clearly', async () => {
    await expect(open(path.join(tmp.dir, 'missing'))).rejects.toThrow(/image source ".*missing" does not exist/)
    const junk = path.join(tmp.dir, 'junk.tar')
    fs.writeFileSync(junk, 'not a tar at all'.repeat(100))
    await expect(open(junk)).rejects.toThrow(/not a valid image archive: bad tar header checksum/)
    const empty = fs.mkdirSync(path.join(tmp.dir, 'emptydir'), {recursive: true})!
    await expect(open(empty)).rejects.toThrow(/not an image: no oci-layout and index.json/)
    const img = buildImage([{entries: [{name: 'a'}], mediaType: 'application/vnd.oci.image.layer.v1.tar+lz4'}])
    const dir = writeFiles(path.join(tmp.dir, 'lz4'), ociLayoutFiles([{image: img}]))
    await expect(open(dir)).rejects.toThrow(/layer 1 \(sha256:[a-f0-9]{64}\): unsupported layer media type "application\/vnd.oci.image.layer.v1.tar\+lz4"/)
    // A tampered config no longer matches its descriptor.
    const good = img1()
    const files = ociLayoutFiles([{image: good}])
    files.set(`blobs/sha256/${good.configDigest.slice(7)}`, Buffer.from(good.config.toString().replace('amd64', 'arm64')))
    const bad = writeFiles(path.join(tmp.dir, 'tampered'), files)
    await expect(open(bad)).rejects.toThrow(/config sha256:[a-f0-9]{64}: size|digest mismatch/)
  })

  it('refuses an OCI layout of another version than 1.0.0, as containerd does, in a directory and an archive', async () => {
    for (const [layout, want] of [['{"imageLayoutVersion":"9.9.9"}', /oci-layout: unsupported imageLayoutVersion "9.9.9" \(OCI image layouts are version 1.0.0\)$/], ['{}', /oci-layout: no imageLayoutVersion/]] as const) {
      const files = ociLayoutFiles([{image: img1()}])
      files.set('oci-layout', Buffer.from(layout))
      await expect(open(writeFiles(path.join(tmp.dir, `v-${layout.length}`), files))).rejects.toThrow(want)
      const file = path.join(tmp.dir, `v-${layout.length}.tar`)
      fs.writeFileSync(file, archive(files))
      await expect(open(file)).rejects.toThrow(want)
    }
  })

  // containerd's images.Manifest: a descriptor the platform leads to must be a manifest or an index.
  const UNKNOWN = 'application/vnd.example.unknown+json'
  const withTypes = (entries: {image: ReturnType<typeof img1>; withPlatform?: boolean}[], types: string[], nested = false): Map<string, Buffer> => {
    const files = ociLayoutFiles(entries, {nested})
    const rewrite = (name: string): void => {
      const doc = JSON.parse(files.get(name)!.toString())
      doc.manifests.forEach((m: {mediaType: string}, i: number) => void (m.mediaType = types[i] ?? m.mediaType))
      files.set(name, Buffer.from(JSON.stringify(doc)))
    }
    if (!nested) rewrite('index.json')
    else {
      // The inner index's new bytes under their new digest, which index.json then names.
      const top = JSON.parse(files.get('index.json')!.toString())
      const innerName = `blobs/sha256/${top.manifests[0].digest.slice(7)}`
      rewrite(innerName)
      const inner = files.get(innerName)!
      const digest = sha256(inner)
      files.set(`blobs/sha256/${digest.slice(7)}`, inner)
      top.manifests[0] = {...top.manifests[0], digest, size: inner.length}
      files.set('index.json', Buffer.from(JSON.stringify(top)))
    }
    return files
  }

  it('refuses a manifest whose descriptor names an unknown media type, even though its document is a manifest', async () => {
    const img = img1()
    for (const nested of [false, true]) {
      const dir = writeFiles(path.join(tmp.dir, `unknown-${nested}`), withTypes([{image: img}], [UNKNOWN], nested))
      const want = new RegExp(`: ${img.manifestDigest} is not an image manifest or index \\(media type "application/vnd.example.unknown\\+json"\\)$`)
      await expect(open(dir)).rejects.toThrow(want)
      await expect(open(dir, amd64, {explicit: false})).rejects.toThrow(want)
    }
    // With the platform named in the descriptor, too.
    const dir = writeFiles(path.join(tmp.dir, 'unknown-platform'), withTypes([{image: img, withPlatform: true}], [UNKNOWN]))
    await expect(open(dir)).rejects.toThrow(/is not an image manifest or index \(media type "application\/vnd.example.unknown\+json"\)/)
  })

  it('passes over an unknown media type the platform does not lead to, as containerd does', async () => {
    const x86 = img1()
    const arm = buildImage([{entries: [{name: 'f', content: 'arm64'}]}], arm64)
    // Another platform's descriptor: filtered out before its type matters.
    const other = writeFiles(path.join(tmp.dir, 'other'), withTypes([{image: x86, withPlatform: true}, {image: arm, withPlatform: true}], [MT.ociManifest, UNKNOWN]))
    expect((await open(other)).manifestDigest).toBe(x86.manifestDigest)
    // One without a platform next to a match for the platform: the match is taken first.
    const bare = writeFiles(path.join(tmp.dir, 'bare-unknown'), withTypes([{image: x86, withPlatform: true}, {image: arm}], [MT.ociManifest, UNKNOWN]))
    expect((await open(bare)).manifestDigest).toBe(x86.manifestDigest)
    await expect(open(bare, arm64)).rejects.toThrow(new RegExp(`${arm.manifestDigest} is not an image manifest or index`))
  })
})
