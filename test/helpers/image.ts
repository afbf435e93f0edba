import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

// Images built in code at test time: tar layers, OCI layouts, OCI archives,
// docker save archives. No binary fixtures.

export interface TarEntry {
  name: string
  type?: 'file' | 'dir' | 'symlink' | 'hardlink'
  content?: string | Buffer
  linkname?: string
  mode?: number
  uid?: number
  gid?: number
  mtime?: number
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

/** A ustar archive (PAX header for names over 100 bytes), two zero blocks at the end. */
export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const e of entries) {
    const type = e.type ?? 'file'
    const body = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0)
    if (Buffer.byteLength(e.name) > 100) {
      const rec = (k: string, v: string): string => {
        const base = ` ${k}=${v}\n`
        let len = Buffer.byteLength(base) + 1
        while (String(len).length + Buffer.byteLength(base) !== len) len = String(len).length + Buffer.byteLength(base)
        return `${len}${base}`
      }
      const pax = Buffer.from(rec('path', e.name))
      parts.push(header({name: 'PaxHeader', size: pax.length, typeflag: 'x', mode: 0o644}), pad(pax))
    }
    parts.push(
      header({
        name: Buffer.byteLength(e.name) > 100 ? e.name.slice(0, 99) : e.name,
        size: body.length,
        typeflag: {file: '0', dir: '5', symlink: '2', hardlink: '1'}[type],
        mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime,
        linkname: e.linkname,
      }),
      pad(body),
    )
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - rem)])
}

function header(h: {name: string; size: number; typeflag: string; mode: number; uid?: number; gid?: number; mtime?: number; linkname?: string}): Buffer {
  const b = Buffer.alloc(512)
  b.write(h.name, 0, 100, 'utf8')
  b.write(octal(h.mode, 8), 100, 'ascii')
  b.write(octal(h.uid ?? 0, 8), 108, 'ascii')
  b.write(octal(h.gid ?? 0, 8), 116, 'ascii')
  b.write(octal(h.size, 12), 124, 'ascii')
  b.write(octal(h.mtime ?? 1_700_000_000, 12), 136, 'ascii')
  b.write('        ', 148, 'ascii')
  b.write(h.typeflag, 156, 'ascii')
  if (h.linkname) b.write(h.linkname, 157, 100, 'utf8')
  b.write('ustar\0', 257, 'ascii')
  b.write('00', 263, 'ascii')
  let sum = 0
  for (const x of b) sum += x
  b.write(octal(sum, 7) + ' ', 148, 'ascii')
  return b
}

export type Compression = 'none' | 'gzip' | 'zstd'

export function compress(data: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(data)
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c'], {input: data, maxBuffer: 1 << 30})
  return data
}

const LAYER_TYPES: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
}

export interface LayerSpec {
  entries: TarEntry[]
  /** The layer's tar as given (built elsewhere, e.g. by tar.ts's buildTar for names in raw bytes); `entries` is then ignored. */
  tar?: Buffer
  compression?: Compression
  /** Override the media type written in the manifest. */
  mediaType?: string
}

export interface BuiltLayer {
  tar: Buffer
  blob: Buffer
  digest: string
  diffId: string
  mediaType: string
}

export interface BuiltImage {
  layers: BuiltLayer[]
  config: Buffer
  configDigest: string
  manifest: Buffer
  manifestDigest: string
  platform: {os: string; architecture: string; variant?: string}
}

export function buildImage(layers: readonly LayerSpec[], platform: {os: string; architecture: string; variant?: string} = {os: 'linux', architecture: 'amd64'}): BuiltImage {
  const built = layers.map((l): BuiltLayer => {
    const t = l.tar ?? tar(l.entries)
    const blob = compress(t, l.compression ?? 'gzip')
    return {tar: t, blob, digest: sha(blob), diffId: sha(t), mediaType: l.mediaType ?? LAYER_TYPES[l.compression ?? 'gzip']}
  })
  const config = Buffer.from(JSON.stringify({...platform, rootfs: {type: 'layers', diff_ids: built.map(l => l.diffId)}, config: {}}))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length},
      layers: built.map(l => ({mediaType: l.mediaType, digest: l.digest, size: l.blob.length})),
    }),
  )
  return {layers: built, config, configDigest: sha(config), manifest, manifestDigest: sha(manifest), platform}
}

/** Independent of src/: image-spec's ChainID, written out for the tests to compare with. */
export function expectedChainIds(diffIds: readonly string[]): string[] {
  const out: string[] = []
  for (const d of diffIds) out.push(out.length === 0 ? d : sha(`${out[out.length - 1]} ${d}`))
  return out
}

export interface LayoutEntry {
  image: BuiltImage
  tag?: string
  /** Describe it in the index with its platform (as multi-platform indexes do). */
  withPlatform?: boolean
}

/** Files of an OCI layout: path -> content. `nested` wraps the images in an inner index. */
export function ociLayoutFiles(entries: readonly LayoutEntry[], opts: {nested?: boolean; nestedTag?: string} = {}): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  const blob = (b: Buffer): void => void files.set(`blobs/sha256/${sha(b).slice(7)}`, b)
  const descs = entries.map(e => {
    blob(e.image.config)
    blob(e.image.manifest)
    // Under the digest the manifest names, so a test can spoil a blob's bytes behind it.
    for (const l of e.image.layers) files.set(`blobs/sha256/${l.digest.slice(7)}`, l.blob)
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: e.image.manifestDigest,
      size: e.image.manifest.length,
      ...(e.withPlatform ? {platform: e.image.platform} : {}),
      ...(e.tag ? {annotations: {'org.opencontainers.image.ref.name': e.tag}} : {}),
    }
  })
  let top = descs
  if (opts.nested) {
    const inner = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descs}))
    blob(inner)
    top = [{mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(inner), size: inner.length, ...(opts.nestedTag ? {annotations: {'org.opencontainers.image.ref.name': opts.nestedTag}} : {})}] as typeof descs
  }
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'))
  files.set('index.json', Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: top})))
  return files
}

/** A `docker save` archive's files (legacy layout: `<id>/layer.tar` uncompressed, `<hex>.json` config). */
export function dockerSaveFiles(images: readonly {image: BuiltImage; tags: string[]}[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  const manifest = images.map(({image, tags}) => {
    const cfg = `${image.configDigest.slice(7)}.json`
    files.set(cfg, image.config)
    const layers = image.layers.map((l, i) => {
      const id = createHash('sha256').update(`${image.configDigest}/${i}`).digest('hex')
      files.set(`${id}/layer.tar`, l.tar)
      files.set(`${id}/VERSION`, Buffer.from('1.0'))
      return `${id}/layer.tar`
    })
    return {Config: cfg, RepoTags: tags, Layers: layers}
  })
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)))
  return files
}

export function writeFiles(dir: string, files: Map<string, Buffer>): string {
  for (const [p, b] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), {recursive: true})
    fs.writeFileSync(path.join(dir, p), b)
  }
  return dir
}

/** A tar of the given files (directories implied), as an OCI archive or docker save writes one. */
export function archive(files: Map<string, Buffer>): Buffer {
  const dirs = new Set<string>()
  for (const p of files.keys()) for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.add(d)
  return tar([...[...dirs].sort().map(d => ({name: `${d}/`, type: 'dir' as const})), ...[...files].map(([name, content]) => ({name, content}))])
}
