import fs from 'node:fs'
import path from 'node:path'
import {InvalidArgumentError} from '../errors.js'

/** A regular file inside a tar archive: where its data starts and how long it is. */
export interface TarEntry {
  offset: number
  size: number
}

/**
 * A read-only view of an image archive (OCI archive or docker save) without
 * unpacking it: one pass over the headers records where each file's data
 * lies, and blobs are later streamed straight from those byte ranges.
 * Only names are indexed; nothing is extracted, so no entry can write anywhere.
 */
export class TarIndex {
  readonly files = new Map<string, TarEntry>()
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
    const header = Buffer.alloc(512)
    let pos = 0
    let longName: string | undefined
    let longLink: string | undefined
    let pax: Record<string, string> = {}
    const bad = (why: string): never => {
      throw new InvalidArgumentError(`${shown}: not a valid image archive: ${why} at byte ${pos}`)
    }
    for (;;) {
      if (pos + 512 > total) {
        if (pos === 0) bad('empty or truncated tar')
        return // a missing end-of-archive marker is tolerated, like GNU tar
      }
      if (fs.readSync(fd, header, 0, 512, pos) !== 512) bad('short read')
      if (header.every(b => b === 0)) return
      if (!checksumOk(header)) bad('bad tar header checksum')
      const type = String.fromCharCode(header[156]!)
      const size = pax.size !== undefined ? Number(pax.size) : parseNumber(header.subarray(124, 136))
      if (!Number.isSafeInteger(size) || size < 0) bad('bad entry size')
      const data = pos + 512
      if (data + size > total) bad('entry runs past the end of the file (truncated archive)')
      const next = data + Math.ceil(size / 512) * 512
      if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
        const buf = Buffer.alloc(size)
        fs.readSync(fd, buf, 0, size, data)
        if (type === 'L') longName = cString(buf)
        else if (type === 'K') longLink = cString(buf)
        else if (type === 'x') pax = parsePax(buf)
        pos = next
        continue
      }
      const prefix = header[257] === 0x75 /* ustar */ ? cString(header.subarray(345, 500)) : ''
      const raw = pax.path ?? longName ?? (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)))
      const link = pax.linkpath ?? longLink ?? cString(header.subarray(157, 257))
      const name = normalise(raw)
      if (name !== undefined) {
        if (type === '0' || type === '\0' || type === '7') this.files.set(name, {offset: data, size})
        else if (type === '1') this.links.set(name, {target: link, hard: true})
        else if (type === '2') this.links.set(name, {target: link, hard: false})
      }
      longName = longLink = undefined
      pax = {}
      pos = next
    }
  }

  /** The regular file a name refers to, following links within the archive; undefined if absent. */
  lookup(name: string): TarEntry | undefined {
    let cur = normalise(name)
    for (let hops = 0; cur !== undefined && hops < 16; hops++) {
      const f = this.files.get(cur)
      if (f) return f
      const l = this.links.get(cur)
      if (!l) return undefined
      cur = l.hard || l.target.startsWith('/') ? normalise(l.target) : normalise(path.posix.join(path.posix.dirname(cur), l.target))
    }
    return undefined
  }

  read(e: TarEntry): Buffer {
    const buf = Buffer.alloc(e.size)
    const fd = fs.openSync(this.file, 'r')
    try {
      fs.readSync(fd, buf, 0, e.size, e.offset)
    } finally {
      fs.closeSync(fd)
    }
    return buf
  }

  stream(e: TarEntry): fs.ReadStream {
    // end is inclusive; an empty file still needs a stream that ends at once.
    return fs.createReadStream(this.file, e.size === 0 ? {start: 1, end: 0} : {start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20})
  }
}

/** `./a//b/` -> `a/b`; names that climb out of the archive (`..`) are dropped, never resolved. */
export function normalise(name: string): string | undefined {
  const parts: string[] = []
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..') return undefined
    parts.push(p)
  }
  return parts.join('/')
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0)
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString('utf8')
}

/** Octal, or GNU base-256 when the high bit of the first byte is set. */
function parseNumber(b: Uint8Array): number {
  if (b[0]! & 0x80) {
    let n = b[0]! & 0x7f
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!
    return n
  }
  const s = cString(b).trim()
  return s === '' ? 0 : /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN
}

function checksumOk(h: Buffer): boolean {
  const want = parseNumber(h.subarray(148, 156))
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!
  return sum === want
}

function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  let pos = 0
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos)
    if (sp < 0) break
    const len = parseInt(buf.subarray(pos, sp).toString('ascii'), 10)
    if (!(len > 0) || pos + len > buf.length) break
    const rec = buf.subarray(sp + 1, pos + len - 1).toString('utf8')
    const eq = rec.indexOf('=')
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1)
    pos += len
  }
  return out
}
