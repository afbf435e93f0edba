import fs from 'node:fs'
import path from 'node:path'
import {InvalidArgumentError} from '../errors.js'
import {BLOCK, CORRUPT_PREFIX, TarScanner} from '../layer/tar.js'

/** Where a regular file's data lies inside an image archive. */
export interface ArchiveFile {
  offset: number
  size: number
}

/**
 * A read-only view of an image archive (OCI archive or docker save) without
 * unpacking it: one pass over the headers, read by the layer applier's
 * TarScanner (src/core/layer/tar.ts: one header parser), records where each
 * file's data lies, and blobs are later streamed straight from those byte
 * ranges; data is jumped over, not read. Only names are indexed; nothing is
 * extracted, so no entry can write anywhere.
 */
export class TarIndex {
  readonly files = new Map<string, ArchiveFile>()
  /** Symlinks and hard links, resolved on lookup (docker save links repeated layers). */
  readonly links = new Map<string, {target: string; hard: boolean}>()

  private constructor(readonly file: string) {}

  static open(file: string, shown = file): TarIndex {
    const idx = new TarIndex(file)
    const fd = fs.openSync(file, 'r')
    try {
      idx.scan(fd, fs.fstatSync(fd).size, shown)
    } finally {
      fs.closeSync(fd)
    }
    return idx
  }

  private scan(fd: number, total: number, shown: string): void {
    let pos = 0
    const bad = (why: string): never => {
      throw new InvalidArgumentError(`${shown}: not a valid image archive: ${why} at byte ${pos}`)
    }
    // Names as UTF-8, as the manifests that refer to them are.
    const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8')
    const scanner = new TarScanner(e => {
      if (e.dataStart + e.size > total) bad('entry runs past the end of the file (truncated archive)')
      const name = archivePath(utf8(e.name))
      if (name === undefined) return
      if (e.type === 'file') this.files.set(name, {offset: e.dataStart, size: e.size})
      else if (e.type === 'link' || e.type === 'symlink') this.links.set(name, {target: utf8(e.linkname), hard: e.type === 'link'})
    })
    const block = Buffer.alloc(BLOCK)
    try {
      while (!scanner.done) {
        pos += scanner.skipData()
        if (pos + BLOCK > total) {
          if (pos === 0) bad('empty or truncated tar')
          return // a missing end-of-archive marker is tolerated, like GNU tar
        }
        if (fs.readSync(fd, block, 0, BLOCK, pos) !== BLOCK) bad('short read')
        scanner.push(block)
        pos += BLOCK
      }
    } catch (err) {
      // The scanner's words, with this archive's name.
      if (err instanceof InvalidArgumentError && err.message.startsWith(CORRUPT_PREFIX)) bad(err.message.slice(CORRUPT_PREFIX.length))
      throw err
    }
  }

  /** The regular file a name refers to, following links within the archive; undefined if absent. */
  lookup(name: string): ArchiveFile | undefined {
    let cur = archivePath(name)
    for (let hops = 0; cur !== undefined && hops < 16; hops++) {
      const f = this.files.get(cur)
      if (f) return f
      const l = this.links.get(cur)
      if (!l) return undefined
      cur = l.hard || l.target.startsWith('/') ? archivePath(l.target) : archivePath(path.posix.join(path.posix.dirname(cur), l.target))
    }
    return undefined
  }

  read(e: ArchiveFile): Buffer {
    const buf = Buffer.alloc(e.size)
    const fd = fs.openSync(this.file, 'r')
    try {
      fs.readSync(fd, buf, 0, e.size, e.offset)
    } finally {
      fs.closeSync(fd)
    }
    return buf
  }

  stream(e: ArchiveFile): fs.ReadStream {
    // end is inclusive; an empty file still needs a stream that ends at once.
    return fs.createReadStream(this.file, e.size === 0 ? {start: 1, end: 0} : {start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20})
  }
}

/** `./a//b/` -> `a/b`; names that climb out of the archive (`..`) are dropped (undefined), never resolved. */
export function archivePath(name: string): string | undefined {
  const parts: string[] = []
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..') return undefined
    parts.push(p)
  }
  return parts.join('/')
}
