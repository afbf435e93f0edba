import fs from 'node:fs'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import type {Readable} from 'node:stream'
import {InvalidArgumentError, NotFoundError} from '../errors.js'
import {digestHex, isDigest, parseDigest, sha256, type Digest} from './digest.js'
import {isIndex, isManifest, layerCompression, MT, OCI_LAYOUT_VERSION, sniffCompression, type Compression} from './media-types.js'
import {formatPlatform, isUnknownPlatform, platformMatches, type Platform} from './platform.js'
import {normalise, TarIndex} from './tar-index.js'
import {sameReference} from './reference.js'

/** One layer to unpack, bottom first, with what it must verify against. */
export interface ImageLayer {
  /** 0-based position in the image. */
  index: number
  mediaType: string
  compression: Compression
  /** Expected digest and size of the blob as stored (undefined when the source does not say: old docker save). */
  digest?: Digest
  size?: number
  /** Bytes the source actually holds for this blob (for progress). */
  blobSize: number
  diffId: Digest
  open(): Readable
}

export interface Image {
  /** What the user gave, for messages. */
  source: string
  /** OCI manifest digest, when the source is an OCI layout. */
  manifestDigest?: Digest
  platform?: Platform
  layers: ImageLayer[]
  /** Remove what opening needed (a spooled copy of stdin). */
  close(): void
}

export interface OpenImageOptions {
  /** Wanted platform; `explicit` says the user asked for it (otherwise it is the host's). */
  platform: Platform
  explicit?: boolean
  /** A fresh directory for spooling stdin (under the snapshotter root, so cleanup knows it). */
  tempDir: () => string
  stdin?: Readable & {isTTY?: boolean}
}

const ANN_REF_NAME = 'org.opencontainers.image.ref.name'
const ANN_CONTAINERD_NAME = 'io.containerd.image.name'
/** No manifest, index or config is this big; refusing keeps a hostile archive from exhausting memory. */
const MAX_JSON = 32 << 20

/** A file inside an image source, however stored. */
interface SourceFile {
  size: number
  read(): Buffer
  head(n: number): Buffer
  stream(): Readable
}

interface Files {
  get(rel: string): SourceFile | undefined
}

class DirFiles implements Files {
  readonly real: string
  constructor(dir: string) {
    this.real = fs.realpathSync(dir)
  }

  get(rel: string): SourceFile | undefined {
    const n = normalise(rel)
    if (n === undefined || n === '') return undefined
    let p: string
    try {
      p = fs.realpathSync(path.join(this.real, n))
    } catch {
      return undefined
    }
    // A symlink in the layout must not lead reading outside it.
    if (!p.startsWith(this.real + path.sep)) return undefined
    const st = fs.statSync(p)
    if (!st.isFile()) return undefined
    return {
      size: st.size,
      read: () => fs.readFileSync(p),
      head: n => {
        const b = Buffer.alloc(Math.min(n, st.size))
        const fd = fs.openSync(p, 'r')
        try {
          fs.readSync(fd, b, 0, b.length, 0)
        } finally {
          fs.closeSync(fd)
        }
        return b
      },
      stream: () => fs.createReadStream(p, {highWaterMark: 1 << 20}),
    }
  }
}

class TarFiles implements Files {
  constructor(readonly idx: TarIndex) {}
  get(rel: string): SourceFile | undefined {
    const e = this.idx.lookup(rel)
    if (!e) return undefined
    return {
      size: e.size,
      read: () => this.idx.read(e),
      head: n => this.idx.read({offset: e.offset, size: Math.min(n, e.size)}),
      stream: () => this.idx.stream(e),
    }
  }
}

interface Selector {
  tag?: string
  digest?: Digest
}

/** `DIR`, `DIR:TAG`, `DIR@sha256:...`, the same for archives, `-` (stdin). A path that exists as given wins. */
export function parseSource(spec: string): {path: string; sel: Selector} {
  const exists = (p: string): boolean => p === '-' || fs.existsSync(p)
  if (spec === '') throw new InvalidArgumentError('image source must not be empty')
  if (exists(spec)) return {path: spec, sel: {}}
  const at = spec.lastIndexOf('@')
  if (at > 0 && exists(spec.slice(0, at))) return {path: spec.slice(0, at), sel: {digest: parseDigest(spec.slice(at + 1), `image source "${spec}"`)}}
  for (let i = spec.indexOf(':'); i > 0; i = spec.indexOf(':', i + 1)) {
    if (exists(spec.slice(0, i)) && i + 1 < spec.length) return {path: spec.slice(0, i), sel: {tag: spec.slice(i + 1)}}
  }
  throw new NotFoundError(`image source "${spec}" does not exist (expected an OCI layout directory, an OCI or docker save archive, or - for stdin)`)
}

/** Open an image source and resolve it to one platform's manifest and layers. Reads only metadata. */
export async function openImage(spec: string, opts: OpenImageOptions): Promise<Image> {
  const {path: p, sel} = parseSource(spec)
  let spoolDir: string | undefined
  const close = (): void => {
    if (spoolDir) fs.rmSync(spoolDir, {recursive: true, force: true})
    spoolDir = undefined
  }
  try {
    let files: Files
    if (p === '-') {
      const stdin = opts.stdin ?? process.stdin
      if (stdin.isTTY) throw new InvalidArgumentError('refusing to read an image archive from a terminal: pipe one into stdin, or give a path')
      spoolDir = opts.tempDir()
      const file = path.join(spoolDir, 'image.tar')
      // An archive must be seekable (docker save puts manifest.json last): keep one copy, next to the snapshots.
      await pipeline(stdin, fs.createWriteStream(file))
      files = new TarFiles(TarIndex.open(file, 'stdin'))
    } else if (fs.statSync(p).isDirectory()) {
      files = new DirFiles(p)
    } else {
      files = new TarFiles(TarIndex.open(p, spec))
    }
    const shown = p === '-' ? 'stdin' : p
    const resolved = files.get('index.json') && files.get('oci-layout') ? resolveOci(files, shown, sel, opts) : files.get('manifest.json') ? resolveDockerSave(files, shown, sel, opts) : undefined
    if (!resolved) throw new InvalidArgumentError(`${shown}: not an image: no oci-layout and index.json (OCI layout) and no manifest.json (docker save)`)
    return {source: spec, ...resolved, close}
  } catch (err) {
    close()
    throw err
  }
}

function readJson(f: SourceFile | undefined, what: string, expect?: {digest?: Digest; size?: number}): any {
  if (!f) throw new NotFoundError(`${what} is missing`)
  if (f.size > MAX_JSON) throw new InvalidArgumentError(`${what} is ${f.size} bytes: too large for image metadata`)
  const buf = f.read()
  if (expect?.size !== undefined && buf.length !== expect.size) throw new InvalidArgumentError(`${what}: size ${buf.length} does not match the ${expect.size} its descriptor declares`)
  if (expect?.digest !== undefined) {
    const got = sha256(buf)
    if (got !== expect.digest) throw new InvalidArgumentError(`${what}: digest mismatch: expected ${expect.digest}, got ${got}`)
  }
  try {
    return JSON.parse(buf.toString('utf8'))
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON (${(err as Error).message})`)
  }
}

const blobPath = (d: Digest): string => `blobs/sha256/${digestHex(d)}`

interface Descriptor {
  mediaType?: string
  digest: Digest
  size?: number
  platform?: Platform
  annotations?: Record<string, string>
}

function descriptor(raw: any, what: string): Descriptor {
  if (!raw || typeof raw !== 'object') throw new InvalidArgumentError(`${what}: not a descriptor`)
  const size = raw.size === undefined ? undefined : Number(raw.size)
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) throw new InvalidArgumentError(`${what}: bad size ${JSON.stringify(raw.size)}`)
  const pl = raw.platform
  return {
    mediaType: typeof raw.mediaType === 'string' ? raw.mediaType : undefined,
    digest: parseDigest(raw.digest, `${what} digest`),
    size,
    platform: pl && typeof pl.os === 'string' && typeof pl.architecture === 'string' ? {os: pl.os, architecture: pl.architecture, variant: typeof pl.variant === 'string' ? pl.variant : undefined} : undefined,
    annotations: raw.annotations && typeof raw.annotations === 'object' ? raw.annotations : undefined,
  }
}

interface Candidate {
  desc: Descriptor
  platform?: Platform
  /** Tag the user could select it by, for the error listing candidates. */
  label?: string
  /** The media type of a descriptor that is neither a manifest nor an index ('none' when neither it nor its document says). */
  unsupported?: string
}

function resolveOci(files: Files, shown: string, sel: Selector, opts: OpenImageOptions): Omit<Image, 'source' | 'close'> {
  const blob = (d: Descriptor, what: string): any => readJson(files.get(blobPath(d.digest)), `${shown}: ${what} ${d.digest}`, d)
  // containerd's importer reads a layout of version 1.0.0 and refuses any other.
  const version = readJson(files.get('oci-layout'), `${shown}: oci-layout`)?.imageLayoutVersion
  if (version !== OCI_LAYOUT_VERSION) {
    throw new InvalidArgumentError(`${shown}: oci-layout: ${typeof version === 'string' ? `unsupported imageLayoutVersion ${JSON.stringify(version)}` : 'no imageLayoutVersion'} (OCI image layouts are version ${OCI_LAYOUT_VERSION})`)
  }
  const index = readJson(files.get('index.json'), `${shown}: index.json`)
  const top: Descriptor[] = (Array.isArray(index?.manifests) ? index.manifests : []).map((m: unknown, i: number) => descriptor(m, `${shown}: index.json manifests[${i}]`))
  const tagOf = (d: Descriptor): string | undefined => d.annotations?.[ANN_REF_NAME] ?? d.annotations?.[ANN_CONTAINERD_NAME]

  let roots: Descriptor[]
  if (sel.digest) {
    roots = top.filter(d => d.digest === sel.digest)
    if (roots.length === 0) {
      // Any manifest or index in blobs/ may be named, not only those index.json lists.
      if (!files.get(blobPath(sel.digest))) throw new NotFoundError(`${shown}: no manifest or index ${sel.digest} (index.json lists: ${top.map(d => d.digest).join(', ') || 'nothing'})`)
      roots = [{digest: sel.digest}]
    }
  } else if (sel.tag !== undefined) {
    roots = top.filter(d => {
      const t = tagOf(d)
      return t === sel.tag || d.annotations?.[ANN_REF_NAME] === sel.tag || (t !== undefined && (sameReference(t, sel.tag!) || (t.endsWith(`:${sel.tag}`) && !sel.tag!.includes(':'))))
    })
    if (roots.length === 0) {
      const tags = [...new Set(top.map(tagOf).filter((t): t is string => t !== undefined))]
      throw new NotFoundError(`${shown}: no image tagged "${sel.tag}" (tags: ${tags.join(', ') || 'none'})`)
    }
  } else {
    roots = top
  }
  if (roots.length === 0) throw new NotFoundError(`${shown}: index.json lists no images`)

  const cands: Candidate[] = []
  const visit = (d: Descriptor, label: string | undefined, depth: number): void => {
    if (depth > 8) throw new InvalidArgumentError(`${shown}: image indexes nested more than 8 deep`)
    let mt = d.mediaType
    let doc: any
    if (mt === undefined) {
      // A descriptor that does not say (SOURCE@DIGEST of a blob index.json does not list): the document does.
      doc = blob(d, 'manifest')
      mt = doc?.mediaType ?? (Array.isArray(doc?.manifests) ? MT.ociIndex : Array.isArray(doc?.layers) ? MT.ociManifest : undefined)
    }
    if (isIndex(mt)) {
      doc ??= blob(d, 'index')
      const children = Array.isArray(doc?.manifests) ? doc.manifests : []
      children.forEach((m: unknown, i: number) => visit(descriptor(m, `${shown}: index ${d.digest} manifests[${i}]`), label, depth + 1))
    } else if (isManifest(mt)) {
      cands.push({desc: {...d, mediaType: mt}, platform: d.platform, label})
    } else {
      // Any other media type is refused if it is what the platform selects (choose), as containerd's
      // images.Manifest does; never read as a manifest, whatever its document looks like.
      cands.push({desc: d, platform: d.platform, label, unsupported: mt ?? 'none'})
    }
  }
  for (const r of roots) visit(r, tagOf(r), 0)

  // A manifest an index lists without a platform: its config says which one it is.
  for (const c of cands) {
    if (c.platform || c.unsupported) continue
    const m = blob(c.desc, 'manifest')
    const cfgDesc = descriptor(m?.config, `${shown}: manifest ${c.desc.digest} config`)
    c.platform = configPlatform(blob(cfgDesc, 'config'))
  }
  const chosen = choose(cands, shown, opts)
  const manifest = blob(chosen.desc, 'manifest')
  const cfgDesc = descriptor(manifest?.config, `${shown}: manifest ${chosen.desc.digest} config`)
  const config = blob(cfgDesc, 'config')
  const diffIds = configDiffIds(config, `${shown}: config ${cfgDesc.digest}`)
  const rawLayers: unknown[] = Array.isArray(manifest?.layers) ? manifest.layers : []
  if (rawLayers.length !== diffIds.length) {
    throw new InvalidArgumentError(`${shown}: manifest ${chosen.desc.digest} has ${rawLayers.length} layers but its config lists ${diffIds.length} diff_ids`)
  }
  const layers = rawLayers.map((raw, i): ImageLayer => {
    const d = descriptor(raw, `${shown}: manifest ${chosen.desc.digest} layers[${i}]`)
    const mediaType = d.mediaType ?? ''
    const compression = layerCompression(mediaType, `${shown}: layer ${i + 1} (${d.digest})`)
    const f = files.get(blobPath(d.digest))
    if (!f) throw new NotFoundError(`${shown}: layer ${i + 1} blob ${d.digest} is missing`)
    return {index: i, mediaType, compression, digest: d.digest, size: d.size, blobSize: f.size, diffId: diffIds[i]!, open: () => f.stream()}
  })
  return {manifestDigest: chosen.desc.digest, platform: chosen.platform, layers}
}

function resolveDockerSave(files: Files, shown: string, sel: Selector, opts: OpenImageOptions): Omit<Image, 'source' | 'close'> {
  const list = readJson(files.get('manifest.json'), `${shown}: manifest.json`)
  if (!Array.isArray(list) || list.length === 0) throw new InvalidArgumentError(`${shown}: manifest.json lists no images`)
  const entries = list.map((e: any, i: number) => {
    if (!e || typeof e.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l: unknown) => typeof l === 'string')) {
      throw new InvalidArgumentError(`${shown}: manifest.json entry ${i} lacks Config or Layers`)
    }
    return {config: e.Config as string, layers: e.Layers as string[], tags: (Array.isArray(e.RepoTags) ? e.RepoTags : []).filter((t: unknown) => typeof t === 'string') as string[]}
  })
  // docker names files after their digests: `<hex>.json`, `blobs/sha256/<hex>`.
  const digestOfPath = (p: string): Digest | undefined => {
    const m = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(p)
    return m && isDigest(`sha256:${m[1]}`) ? (`sha256:${m[1]}` as Digest) : undefined
  }
  const label = (e: (typeof entries)[number]): string => e.tags[0] ?? digestOfPath(e.config) ?? e.config
  let pick = entries
  if (sel.tag !== undefined) {
    pick = entries.filter(e => e.tags.some(t => sameReference(t, sel.tag!)))
    if (pick.length === 0) throw new NotFoundError(`${shown}: no image tagged "${sel.tag}" (RepoTags: ${entries.flatMap(e => e.tags).join(', ') || 'none'})`)
  } else if (sel.digest) {
    pick = entries.filter(e => digestOfPath(e.config) === sel.digest)
    if (pick.length === 0) throw new NotFoundError(`${shown}: no image with config ${sel.digest} (images: ${entries.map(label).join(', ')})`)
  }
  const cands: (Candidate & {entry: (typeof entries)[number]; config: any})[] = pick.map(e => {
    const config = readJson(files.get(e.config), `${shown}: config ${e.config}`, {digest: digestOfPath(e.config)})
    return {desc: {digest: digestOfPath(e.config) ?? sha256(e.config)}, platform: configPlatform(config), label: e.tags[0], entry: e, config}
  })
  const chosen = choose(cands, shown, opts) as (typeof cands)[number]
  const diffIds = configDiffIds(chosen.config, `${shown}: config ${chosen.entry.config}`)
  if (chosen.entry.layers.length !== diffIds.length) {
    throw new InvalidArgumentError(`${shown}: manifest.json lists ${chosen.entry.layers.length} layers but the config lists ${diffIds.length} diff_ids`)
  }
  const layers = chosen.entry.layers.map((rel, i): ImageLayer => {
    const f = files.get(rel)
    if (!f) throw new NotFoundError(`${shown}: layer ${i + 1} file ${JSON.stringify(rel)} is missing`)
    const compression = sniffCompression(f.head(4))
    const mediaType = compression === 'gzip' ? MT.dockerLayerGzip : compression === 'zstd' ? MT.ociLayerZstd : MT.dockerLayer
    return {index: i, mediaType, compression, digest: digestOfPath(rel), size: digestOfPath(rel) ? f.size : undefined, blobSize: f.size, diffId: diffIds[i]!, open: () => f.stream()}
  })
  return {platform: chosen.platform, layers}
}

function configPlatform(config: any): Platform | undefined {
  if (config && typeof config.os === 'string' && typeof config.architecture === 'string') {
    return {os: config.os, architecture: config.architecture, variant: typeof config.variant === 'string' ? config.variant : undefined}
  }
  return undefined
}

function configDiffIds(config: any, what: string): Digest[] {
  const rootfs = config?.rootfs
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw new InvalidArgumentError(`${what}: no rootfs of type "layers" with diff_ids`)
  return rootfs.diff_ids.map((d: unknown, i: number) => parseDigest(d, `${what} rootfs.diff_ids[${i}]`))
}

/** The one candidate for the wanted platform, or an error listing what there is. */
function choose<C extends Candidate>(all: C[], shown: string, opts: OpenImageOptions): C {
  const cands = all.filter(c => !(c.platform && isUnknownPlatform(c.platform)))
  const want = formatPlatform(opts.platform)
  const describe = (cs: C[]): string => cs.map(c => `${c.platform ? formatPlatform(c.platform) : 'unknown platform'} (${c.label === undefined ? c.desc.digest : `${c.label}, ${c.desc.digest}`})`).join('; ')
  let matches = cands.filter(c => c.platform && platformMatches(opts.platform, c.platform))
  // containerd, finding no descriptor for the platform, goes on to the first that names none.
  if (matches.length === 0) matches = cands.filter(c => c.unsupported && !c.platform).slice(0, 1)
  // One image that does not say what it is: take it, unless a platform was asked for.
  if (matches.length === 0 && cands.length === 1 && !cands[0]!.platform && !opts.explicit) matches = cands
  const distinct = [...new Map(matches.map(c => [c.desc.digest, c])).values()]
  if (distinct.length === 1) {
    const c = distinct[0]!
    if (c.unsupported) throw new InvalidArgumentError(`${shown}: ${c.desc.digest} is not an image manifest or index (media type ${JSON.stringify(c.unsupported)})`)
    return c
  }
  if (distinct.length === 0) {
    throw new NotFoundError(`${shown}: no image for platform ${want}${opts.explicit ? '' : ' (the host)'}; available: ${describe(cands) || 'none'}${opts.explicit ? '' : '; choose one with --platform'}`)
  }
  throw new InvalidArgumentError(`${shown}: ${distinct.length} images match platform ${want}: ${describe(distinct)}; choose one with SOURCE:TAG or SOURCE@DIGEST`)
}
