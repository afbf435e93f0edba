import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {FailedPreconditionError} from '../errors.js'
import {compressor, layerMediaType, type Compression} from '../image/compression.js'
import type {LayerStore, Snapshotter} from '../snapshotter.js'
import {start, type Child} from '../exec.js'
import {enc} from '../fs/bytes.js'
import {interruptible} from '../interrupt.js'
import {BLOCK, entryHeader, TarRewriter, type TarEntry} from './tar.js'
import {OPAQUE, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX} from './whiteout.js'
import {xattrIndex, type XattrIndex} from './xattr.js'

export interface DiffResult {
  /** sha256 of the blob as written (compressed). */
  digest: string
  /** sha256 of the uncompressed tar. */
  diffId: string
  size: number
  mediaType: string
}

/**
 * Write the changes of `key` against `parent` (default: its own parent) as
 * an OCI layer to `out`. Against its own parent, a snapshotter that keeps a
 * change set (overlayfs' upper) is read as one (0:0 char devices ->
 * `.wh.NAME`, opaque xattr -> `.wh..wh..opq`); otherwise the two trees the
 * snapshotter presents (withTree: overlayfs mounts them read-only for the
 * purpose) are compared.
 */
export function diffSnapshot(snap: Snapshotter & LayerStore, key: string, parent: string | undefined, out: NodeJS.WritableStream, opts: {compression: Compression}): Promise<DiffResult> {
  // A signal kills tar and the compressor; the caller removes its partial output (src/core/interrupt.ts).
  return interruptible(() => writeDiff(snap, key, parent, out, opts))
}

async function writeDiff(snap: Snapshotter & LayerStore, key: string, parent: string | undefined, out: NodeJS.WritableStream, opts: {compression: Compression}): Promise<DiffResult> {
  const info = await snap.stat(key)
  const parentKey = parent ?? info.parent
  if (parentKey !== '' && parentKey !== key) await snap.stat(parentKey)
  const changes = parentKey === info.parent ? await snap.changeSet(key) : undefined
  const tree = <T>(k: string, fn: (dir: string | null) => Promise<T>): Promise<T> => (k === '' ? fn(null) : snap.withTree(k, fn))
  const sink = new LayerSink(out, opts.compression)
  try {
    if (changes !== undefined) {
      await writeUpper(changes, sink.write)
    } else {
      await tree(key, keyTree => tree(parentKey, parentTree => writeTreeDiff(keyTree, parentTree, sink.write)))
    }
    return await sink.finish()
  } catch (err) {
    sink.abort()
    throw err
  }
}

// ------------------------------------------------------------------ sink: diffID, compression, digest

class LayerSink {
  private readonly diffHash = crypto.createHash('sha256')
  private readonly blobHash = crypto.createHash('sha256')
  private size = 0
  private readonly comp: Child | null
  private readonly pumped: Promise<void>

  constructor(private readonly out: NodeJS.WritableStream, private readonly compression: Compression) {
    this.comp = compressor(compression) ?? null
    this.pumped = this.comp ? this.pump(this.comp.stdout!) : Promise.resolve()
    this.pumped.catch(() => {})
  }

  /** The first thing that went wrong (the output closing, the compressor failing): it wins over what follows from it. */
  private failure: unknown

  write = async (b: Buffer): Promise<void> => {
    if (this.failure !== undefined) throw this.failure
    if (b.length === 0) return
    this.diffHash.update(b)
    if (!this.comp) return this.emit(b)
    try {
      await this.comp.write(b)
    } catch (err) {
      await this.comp.done.catch((e: unknown) => {
        this.failure ??= e
      })
      throw this.failure ?? err
    }
  }

  private async pump(stdout: NodeJS.ReadableStream): Promise<void> {
    try {
      for await (const c of stdout as AsyncIterable<Buffer>) await this.emit(c)
    } catch (err) {
      // Nobody reads the compressor any more: stop it so writers fail instead of waiting.
      this.failure ??= err
      this.comp?.kill()
      throw err
    }
  }

  private async emit(b: Buffer): Promise<void> {
    this.blobHash.update(b)
    this.size += b.length
    if (!this.out.write(b)) await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error): void => reject(e)
      this.out.once('error', onErr)
      this.out.once('drain', () => {
        this.out.off('error', onErr)
        resolve()
      })
    })
  }

  async finish(): Promise<DiffResult> {
    if (this.comp) {
      this.comp.end()
      await this.pumped
      await this.comp.done
    }
    return {
      digest: `sha256:${this.blobHash.digest('hex')}`,
      diffId: `sha256:${this.diffHash.digest('hex')}`,
      size: this.size,
      mediaType: layerMediaType(this.compression),
    }
  }

  abort(): void {
    this.comp?.kill()
  }
}

// ------------------------------------------------------------------ producing the tar

const TAR_C = [
  '-c', '-f', '-', '--format=pax', '--numeric-owner', '--no-recursion', '--xattrs', '--xattrs-include=*',
  // No atime/ctime records: equal trees make equal layers.
  '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
  '--null', '--verbatim-files-from', '--no-unquote', '-T', '-',
]

/** Run GNU tar over `names` (relative to `dir`, in order), passing its output through `rewrite`. */
async function tarOf(dir: string, names: string[], decide: (e: TarEntry) => Buffer | undefined, write: (b: Buffer) => Promise<void>): Promise<void> {
  const tar = start('tar', TAR_C, {cwd: dir, stdout: true})
  const rw = new TarRewriter(decide)
  const feeding = (async () => {
    try {
      for (let i = 0; i < names.length; i += 1000) {
        await tar.write(Buffer.concat(names.slice(i, i + 1000).map(n => Buffer.from(`${n === '' ? '.' : n}\0`, 'latin1'))))
      }
    } finally {
      tar.end()
    }
  })()
  feeding.catch(() => {})
  try {
    for await (const chunk of tar.stdout as AsyncIterable<Buffer>) for (const b of rw.push(chunk)) await write(b)
    for (const b of rw.end()) await write(b)
  } catch (err) {
    tar.kill()
    await tar.done.catch(() => {})
    throw err
  }
  await tar.done
  await feeding
}

const rel = (name: string): string => name.replace(/^(\.\/)+/, '').replace(/\/+$/, '').replace(/^\.$/, '')

function markerHeader(name: string, e: Pick<TarEntry, 'uid' | 'gid' | 'mtime'>): Buffer {
  return entryHeader({name, type: 'file', mode: 0o644, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0})
}

/** The entry's headers again, without overlayfs' private xattrs. */
function withoutOverlayXattrs(e: TarEntry): Buffer {
  const xattrs = new Map([...e.xattrs].filter(([k]) => !k.startsWith('trusted.overlay.')))
  return entryHeader({name: e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime, linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor, xattrs})
}

/** Every path below `under` in `root` (relative, latin1, parents first, bytewise sorted), sockets left out. */
function listTree(root: string, under = ''): string[] {
  const out: string[] = []
  const walk = (r: string): void => {
    const names = fs.readdirSync(enc(root, r), {encoding: 'buffer'}).sort(Buffer.compare)
    for (const b of names) {
      const c = r ? `${r}/${b.toString('latin1')}` : b.toString('latin1')
      const st = fs.lstatSync(enc(root, c))
      if (st.isSocket()) continue
      out.push(c)
      if (st.isDirectory()) walk(c)
    }
  }
  walk(under)
  return out
}

/** The upper dir of an overlay snapshot is its change set; only whiteouts and opaque markers need translating. */
async function writeUpper(upper: string, write: (b: Buffer) => Promise<void>): Promise<void> {
  const names = ['', ...listTree(upper)]
  await tarOf(upper, names, e => {
    const r = rel(e.name)
    const overlayKeys = [...e.xattrs.keys()].filter(k => k.startsWith('trusted.overlay.'))
    if (overlayKeys.some(k => k === 'trusted.overlay.redirect' || k === 'trusted.overlay.metacopy')) {
      throw new FailedPreconditionError(`${upper}/${r} uses overlayfs redirects or metacopy (mounted with redirect_dir or metacopy); diff it against an explicit parent so the trees are compared`)
    }
    const opaque = e.type === 'dir' && e.xattrs.get(OVERLAY_OPAQUE_XATTR)?.toString() === 'y'
    const marker = opaque ? markerHeader(r ? `${r}/${OPAQUE}` : OPAQUE, e) : Buffer.alloc(0)
    // The root itself is not part of a layer (containerd neither writes nor applies it).
    if (r === '') return opaque ? marker : Buffer.alloc(0)
    if (e.type === 'char' && e.devmajor === 0 && e.devminor === 0) {
      const slash = r.lastIndexOf('/')
      return markerHeader(`${r.slice(0, slash + 1)}${WHITEOUT_PREFIX}${r.slice(slash + 1)}`, e)
    }
    if (overlayKeys.length === 0) return undefined
    return Buffer.concat([withoutOverlayXattrs(e), marker])
  }, write)
}

// ------------------------------------------------------------------ tree comparison

interface TreeChanges {
  /** Paths of the new tree to archive, parents first. */
  paths: string[]
  /** Deleted paths (relative, latin1). */
  deleted: string[]
}

/**
 * Compare two trees as containerd's double walk does: an entry changed if
 * its type, mode, owner, device, size, mtime or link target differ, or, when
 * the mtime has no sub-second part to trust, its content, and (given the
 * indexes) their xattrs. Changed and new entries come with their parent
 * directories; a deleted directory is one whiteout.
 */
export function compareTrees(newer: string, older: string | null, xattrs?: {newer: XattrIndex; older: XattrIndex}): TreeChanges {
  const xattrsDiffer = (c: string): boolean => xattrs !== undefined && (xattrs.newer.get(c) ?? '') !== (xattrs.older.get(c) ?? '')
  const paths: string[] = []
  const deleted: string[] = []
  const listed = new Set<string>()
  const include = (r: string): void => {
    let end = r.indexOf('/')
    while (end >= 0) {
      const a = r.slice(0, end)
      if (!listed.has(a)) {
        listed.add(a)
        paths.push(a)
      }
      end = r.indexOf('/', end + 1)
    }
    if (!listed.has(r)) {
      listed.add(r)
      paths.push(r)
    }
  }
  const addTree = (r: string): void => {
    include(r)
    if (fs.lstatSync(enc(newer, r)).isDirectory()) for (const c of listTree(newer, r)) include(c)
  }
  const names = (root: string, r: string): Buffer[] => fs.readdirSync(enc(root, r), {encoding: 'buffer'})
  const walk = (r: string): void => {
    const all = new Map<string, Buffer>()
    for (const b of names(newer, r)) all.set(b.toString('latin1'), b)
    if (older) for (const b of names(older, r)) all.set(b.toString('latin1'), b)
    for (const name of [...all.keys()].sort((a, b) => Buffer.compare(all.get(a)!, all.get(b)!))) {
      const c = r ? `${r}/${name}` : name
      const n = lstat(enc(newer, c))
      const o = older ? lstat(enc(older, c)) : null
      if (n?.isSocket()) continue
      if (!n) {
        if (!o?.isSocket()) {
          deleted.push(c)
          if (r) include(r)
        }
        continue
      }
      if (!o) {
        addTree(c)
        continue
      }
      if (n.isDirectory() && o.isDirectory()) {
        if (!sameMeta(n, o) || xattrsDiffer(c)) include(c)
        walk(c)
        continue
      }
      if (!sameMeta(n, o) || xattrsDiffer(c) || (n.isSymbolicLink() && !fs.readlinkSync(enc(newer, c), {encoding: 'buffer'}).equals(fs.readlinkSync(enc(older!, c), {encoding: 'buffer'}))) || (n.isFile() && n.mtimeNs % 1000000000n === 0n && !sameContent(enc(newer, c), enc(older!, c)))) {
        addTree(c)
      }
    }
  }
  walk('')
  return {paths, deleted}
}

function sameMeta(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false
  if (a.isSymbolicLink()) return true
  if (!a.isDirectory() && a.size !== b.size) return false
  return a.mtimeNs === b.mtimeNs
}

function sameContent(a: Buffer, b: Buffer): boolean {
  const fa = fs.openSync(a, 'r')
  const fb = fs.openSync(b, 'r')
  try {
    const ba = Buffer.alloc(1 << 16)
    const bb = Buffer.alloc(1 << 16)
    for (;;) {
      const na = fs.readSync(fa, ba)
      const nb = fs.readSync(fb, bb)
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false
      if (na === 0) return true
    }
  } finally {
    fs.closeSync(fa)
    fs.closeSync(fb)
  }
}

async function writeTreeDiff(newer: string | null, older: string | null, write: (b: Buffer) => Promise<void>): Promise<void> {
  if (newer === null) {
    // A snapshot with no tree of its own (a native view of nothing) is empty.
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-empty-'))
    try {
      return await writeTreeDiff(empty, older, write)
    } finally {
      fs.rmSync(empty, {recursive: true, force: true})
    }
  }
  const [xn, xo] = await Promise.all([xattrIndex(newer), older ? xattrIndex(older) : new Map<string, string>()])
  const {paths, deleted} = compareTrees(newer, older, xn && xo ? {newer: xn, older: xo} : undefined)
  // Whiteouts first: an applier handles them before anything that may re-create the path.
  const now = {uid: 0, gid: 0, mtime: {sec: 0, nsec: 0}}
  for (const d of deleted) {
    const slash = d.lastIndexOf('/')
    await write(markerHeader(`${d.slice(0, slash + 1)}${WHITEOUT_PREFIX}${d.slice(slash + 1)}`, now))
  }
  if (paths.length === 0) {
    await write(Buffer.alloc(2 * BLOCK))
    return
  }
  // Merged overlay trees do not show overlayfs' own xattrs; drop any anyway so a native copy of an upper cannot leak them.
  await tarOf(newer, paths, e => ([...e.xattrs.keys()].some(k => k.startsWith('trusted.overlay.')) ? withoutOverlayXattrs(e) : undefined), write)
}

// ------------------------------------------------------------------ helpers

function lstat(p: Buffer): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, {bigint: true})
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}
