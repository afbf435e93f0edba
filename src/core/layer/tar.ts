import {InvalidArgumentError} from '../errors.js'

// A strict, incremental tar reader and a small writer. The reader sees every
// byte before GNU tar does, so it must agree with GNU tar on where each
// header is: anything whose layout tar could read differently (bad checksums,
// non-numeric fields, sparse or multi-volume entries, data on header-only
// types, a PAX path together with a GNU long name) is refused, not guessed.
// Names are kept as latin1 strings: one char per byte, so the exact bytes can
// be rebuilt with Buffer.from(name, 'latin1') for file system calls.

export const BLOCK = 512

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo'

export interface TarTime {
  sec: number
  nsec: number
}

export interface TarEntry {
  /** As stored (after PAX/GNU long names), latin1. */
  name: string
  type: EntryType
  linkname: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: TarTime
  devmajor: number
  devminor: number
  /** SCHILY.xattr.* records: name -> raw value. */
  xattrs: Map<string, Buffer>
  /** Stream offsets: where the entry's first header block (PAX or GNU long name included) starts, and where its data starts. */
  start: number
  dataStart: number
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
}

const MAX_META = 1 << 20

/** How every refusal of the reader begins (TarIndex puts its archive's name there instead). */
export const CORRUPT_PREFIX = 'invalid layer tar: '

function corrupt(what: string): InvalidArgumentError {
  return new InvalidArgumentError(`${CORRUPT_PREFIX}${what}`)
}

function cstring(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off)
  return b.toString('latin1', off, end < 0 || end > off + len ? off + len : end)
}

/** A numeric header field: octal (NUL/space padded) or GNU base-256. */
function num(b: Buffer, off: number, len: number, field: string): number {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) throw corrupt(`negative ${field}`)
    let v = b[off]! & 0x7f
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!
    if (!Number.isSafeInteger(v)) throw corrupt(`${field} too large`)
    return v
  }
  // Octal digits between optional leading spaces and trailing NULs/spaces; anything else is refused.
  const end = off + len
  let i = off
  while (i < end && b[i] === 0x20) i++
  let v = 0
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x37) v = v * 8 + (b[i++]! - 0x30)
  while (i < end && (b[i] === 0 || b[i] === 0x20)) i++
  if (i !== end) throw corrupt(`${field} field is not a number (${JSON.stringify(b.toString('latin1', off, end))})`)
  return v
}

function checksumOk(h: Buffer): boolean {
  let stored: number
  try {
    stored = num(h, 148, 8, 'checksum')
  } catch {
    return false // not even a number: not a header (junk is reported as a bad checksum)
  }
  // The checksum field counts as spaces.
  let u = 8 * 32
  for (let i = 0; i < 148; i++) u += h[i]!
  for (let i = 156; i < BLOCK; i++) u += h[i]!
  if (stored === u) return true
  // Some old writers summed signed bytes.
  let high = 0
  for (let i = 0; i < BLOCK; i++) if (h[i]! > 127 && (i < 148 || i >= 156)) high++
  return stored === u - 256 * high
}

function parseTime(v: string): TarTime {
  const m = /^(-?\d+)(?:\.(\d+))?$/.exec(v)
  if (!m) throw corrupt(`PAX time ${JSON.stringify(v)}`)
  return {sec: Number(m[1]), nsec: m[2] ? Number((m[2] + '000000000').slice(0, 9)) : 0}
}

interface Pax {
  path?: string
  linkpath?: string
  size?: number
  uid?: number
  gid?: number
  mtime?: TarTime
  xattrs: Map<string, Buffer>
}

function parsePax(data: Buffer, global: boolean): Pax {
  const pax: Pax = {xattrs: new Map()}
  let off = 0
  while (off < data.length) {
    if (data[off] === 0) break
    const sp = data.indexOf(0x20, off)
    const len = sp < 0 ? NaN : Number(data.toString('latin1', off, sp))
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length || data[off + len - 1] !== 0x0a) throw corrupt('malformed PAX record')
    const rec = data.subarray(sp + 1, off + len - 1)
    const eq = rec.indexOf(0x3d)
    if (eq < 0) throw corrupt('malformed PAX record')
    const key = rec.toString('latin1', 0, eq)
    off += len
    if (key === 'atime' || key === 'ctime') continue
    const value = rec.subarray(eq + 1)
    const str = value.toString('latin1')
    if (global && (key === 'path' || key === 'linkpath' || key === 'size')) throw corrupt(`global PAX header sets "${key}"`)
    if (key.startsWith('GNU.sparse.')) throw corrupt('sparse files are not supported')
    if (str.includes('\0') && !key.startsWith('SCHILY.xattr.')) throw corrupt(`PAX ${key} contains a NUL byte`)
    const int = (): number => {
      if (!/^\d+$/.test(str) || !Number.isSafeInteger(Number(str))) throw corrupt(`PAX ${key}=${JSON.stringify(str)} is not a number`)
      return Number(str)
    }
    if (key === 'path') pax.path = str
    else if (key === 'linkpath') pax.linkpath = str
    else if (key === 'size') pax.size = int()
    else if (key === 'uid') pax.uid = int()
    else if (key === 'gid') pax.gid = int()
    else if (key === 'mtime') pax.mtime = parseTime(str)
    else if (key.startsWith('SCHILY.xattr.')) pax.xattrs.set(key.slice('SCHILY.xattr.'.length), Buffer.from(value))
  }
  return pax
}

const ZERO = Buffer.alloc(BLOCK)
const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK

/**
 * Push chunks in stream order; `onEntry` runs for each entry as soon as its
 * header is complete (it may throw to refuse it). push() returns how many
 * bytes of the chunk belong to the archive (everything up to and including
 * the first zero block, where GNU tar stops reading too).
 */
export class TarScanner {
  /** Bytes consumed so far. */
  offset = 0
  done = false
  private buf: Buffer[] = []
  private bufLen = 0
  private skip = 0
  // metadata being collected for the next real entry
  private meta: 'x' | 'g' | 'L' | 'K' | null = null
  private metaLen = 0
  private pax: Pax | null = null
  private longName: string | undefined
  private longLink: string | undefined
  private global = false

  /** Where the entry whose headers are being read began. */
  start = 0

  /**
   * For a reader that can seek (TarIndex): take the data of the entry just
   * read as passed over without pushing it; returns how many bytes (padding
   * included) to jump.
   */
  skipData(): number {
    const n = this.skip
    this.skip = 0
    this.offset += n
    return n
  }

  constructor(private readonly onEntry: (e: TarEntry) => void) {}

  /** Inside an entry's header blocks: bytes from `start` on may still be rewritten. */
  get inHeader(): boolean {
    return this.bufLen > 0 || this.meta !== null || this.pax !== null || this.longName !== undefined || this.longLink !== undefined || this.global
  }

  /** Bytes of a header block read only in part (0 inside entry data or an extended header's data): they may be the end marker. */
  get partialBlock(): number {
    return this.meta ? 0 : this.bufLen
  }

  push(chunk: Buffer): number {
    if (this.done) return 0
    let pos = 0
    while (pos < chunk.length && !this.done) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos)
        this.skip -= n
        pos += n
        this.offset += n
        continue
      }
      if (this.bufLen === 0 && !this.inHeader) this.start = this.offset
      const want = this.meta ? this.metaLen + pad(this.metaLen) : BLOCK
      const n = Math.min(want - this.bufLen, chunk.length - pos)
      this.buf.push(chunk.subarray(pos, pos + n))
      this.bufLen += n
      pos += n
      this.offset += n
      if (this.bufLen < want) break
      const block = this.buf.length === 1 ? this.buf[0]! : Buffer.concat(this.buf)
      this.buf = []
      this.bufLen = 0
      if (this.meta) this.takeMeta(block.subarray(0, this.metaLen))
      else this.header(block)
    }
    return pos
  }

  /** The input ended: fine only at a header boundary (a missing end marker is tolerated, as Go and GNU tar do). */
  end(): void {
    if (this.done) return
    if (this.skip > 0 || this.bufLen > 0 || this.meta) throw corrupt(`archive is truncated (input ended inside an entry at byte ${this.offset})`)
    if (this.pax || this.longName !== undefined || this.longLink !== undefined) throw corrupt('archive ends after an extended header with no entry')
    this.done = true
  }

  private takeMeta(data: Buffer): void {
    const kind = this.meta
    this.meta = null
    if (kind === 'x' || kind === 'g') {
      const p = parsePax(data, kind === 'g')
      if (kind === 'x') {
        this.pax ??= {xattrs: new Map()}
        Object.assign(this.pax, {...p, xattrs: this.pax.xattrs})
        for (const [k, v] of p.xattrs) this.pax.xattrs.set(k, v)
      }
    } else {
      const s = cstring(data, 0, data.length)
      if (kind === 'L') this.longName = s
      else this.longLink = s
    }
  }

  private header(h: Buffer): void {
    if (h[0] === 0 && h.equals(ZERO)) {
      this.done = true
      return
    }
    if (!checksumOk(h)) throw corrupt(`bad header checksum at byte ${this.offset - BLOCK}`)
    const flag = String.fromCharCode(h[156]!)
    const size = num(h, 124, 12, 'size')
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw corrupt(`extended header of ${size} bytes`)
      if ((flag === 'L' && this.longName !== undefined) || (flag === 'K' && this.longLink !== undefined)) throw corrupt('repeated GNU long name header')
      this.meta = flag
      this.metaLen = size
      if (flag === 'g') this.global = true
      if (size === 0) this.meta = null
      return
    }
    const type = TYPES[flag]
    if (!type) throw corrupt(`unsupported entry type ${JSON.stringify(flag)} at byte ${this.offset - BLOCK}`)
    const pax = this.pax
    if (pax?.path !== undefined && this.longName !== undefined) throw corrupt('entry has both a PAX path and a GNU long name')
    if (pax?.linkpath !== undefined && this.longLink !== undefined) throw corrupt('entry has both a PAX linkpath and a GNU long link')
    let name = pax?.path ?? this.longName
    if (name === undefined) {
      name = cstring(h, 0, 100)
      // POSIX ustar (not GNU "ustar  ") joins the prefix field; star's is shorter.
      if (h.toString('latin1', 257, 263) === 'ustar\0') {
        const star = h.toString('latin1', 508, 512) === 'tar\0'
        const prefix = cstring(h, 345, star ? 131 : 155)
        if (prefix) name = `${prefix}/${name}`
      }
    }
    const entry: TarEntry = {
      name,
      type,
      linkname: pax?.linkpath ?? this.longLink ?? cstring(h, 157, 100),
      size: pax?.size ?? size,
      mode: num(h, 100, 8, 'mode') & 0o7777,
      uid: pax?.uid ?? num(h, 108, 8, 'uid'),
      gid: pax?.gid ?? num(h, 116, 8, 'gid'),
      mtime: pax?.mtime ?? {sec: num(h, 136, 12, 'mtime'), nsec: 0},
      devmajor: type === 'char' || type === 'block' ? num(h, 329, 8, 'devmajor') : 0,
      devminor: type === 'char' || type === 'block' ? num(h, 337, 8, 'devminor') : 0,
      xattrs: pax?.xattrs ?? new Map(),
      start: this.start,
      dataStart: this.offset,
    }
    this.global = false
    this.pax = null
    this.longName = undefined
    this.longLink = undefined
    if (type !== 'file' && entry.size !== 0) throw corrupt(`${type} entry "${name}" claims ${entry.size} bytes of data`)
    if (type === 'file' && name.endsWith('/')) throw corrupt(`regular file entry "${name}" has a directory name`)
    this.onEntry(entry)
    this.skip = entry.size + pad(entry.size)
  }
}

// ---------------------------------------------------------------- writer

export interface WriteEntry {
  name: string
  type: EntryType
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: TarTime | number
  linkname?: string
  devmajor?: number
  devminor?: number
  xattrs?: Map<string, Buffer> | Record<string, string | Buffer>
  /** Extra PAX records, written as given (tests use this to build lying headers). */
  pax?: Record<string, string | Buffer>
}

const FLAG: Record<EntryType, string> = {file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6'}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body])
}

function octal(b: Buffer, off: number, len: number, v: number): boolean {
  const s = v.toString(8)
  if (v < 0 || s.length > len - 1) return false
  b.write(s.padStart(len - 1, '0') + '\0', off, len, 'latin1')
  return true
}

/** One ustar header block (checksum filled in), with `flag` as its typeflag as given: tests build headers of any type with it. */
export function ustarHeader(f: {name: string; flag: string; mode?: number; uid?: number; gid?: number; size?: number; mtime?: number; linkname?: string; devmajor?: number; devminor?: number}): Buffer {
  const h = Buffer.alloc(BLOCK)
  h.write(f.name, 0, 100, 'latin1')
  octal(h, 100, 8, f.mode ?? 0o644)
  octal(h, 108, 8, Math.min(f.uid ?? 0, 0o7777777))
  octal(h, 116, 8, Math.min(f.gid ?? 0, 0o7777777))
  octal(h, 124, 12, Math.min(f.size ?? 0, 0o77777777777))
  octal(h, 136, 12, Math.max(0, Math.min(f.mtime ?? 0, 0o77777777777)))
  h.write(f.flag, 156, 1, 'latin1')
  h.write(f.linkname ?? '', 157, 100, 'latin1')
  h.write('ustar\x0000', 257, 8, 'latin1')
  octal(h, 329, 8, f.devmajor ?? 0)
  octal(h, 337, 8, f.devminor ?? 0)
  return sealHeader(h)
}

/** Recompute a header block's checksum in place. */
export function sealHeader(h: Buffer): Buffer {
  h.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += h[i]!
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1')
  return h
}

/**
 * The header blocks of one entry: a PAX header when anything does not fit
 * ustar (long or non-ASCII names, sub-second mtimes, big ids, xattrs), then
 * the ustar header. The caller writes the data and `padding(size)`.
 */
export function entryHeader(e: WriteEntry): Buffer {
  const mtime = typeof e.mtime === 'number' ? {sec: e.mtime, nsec: 0} : (e.mtime ?? {sec: 0, nsec: 0})
  const size = e.size ?? 0
  const records: Buffer[] = []
  const ascii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s)
  if (Buffer.byteLength(e.name, 'latin1') > 100 || !ascii(e.name)) records.push(paxRecord('path', Buffer.from(e.name, 'latin1')))
  const link = e.linkname ?? ''
  if (Buffer.byteLength(link, 'latin1') > 100 || !ascii(link)) records.push(paxRecord('linkpath', Buffer.from(link, 'latin1')))
  if ((e.uid ?? 0) > 0o7777777) records.push(paxRecord('uid', Buffer.from(String(e.uid))))
  if ((e.gid ?? 0) > 0o7777777) records.push(paxRecord('gid', Buffer.from(String(e.gid))))
  if (size > 0o77777777777) records.push(paxRecord('size', Buffer.from(String(size))))
  if (mtime.nsec !== 0 || mtime.sec < 0 || mtime.sec > 0o77777777777) {
    records.push(paxRecord('mtime', Buffer.from(`${mtime.sec}${mtime.nsec ? '.' + String(mtime.nsec).padStart(9, '0') : ''}`)))
  }
  const xattrs = e.xattrs instanceof Map ? e.xattrs : new Map(Object.entries(e.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v)]))
  for (const [k, v] of xattrs) records.push(paxRecord(`SCHILY.xattr.${k}`, v))
  for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, Buffer.from(v)))
  const main = ustarHeader({
    name: e.name.slice(0, 100),
    flag: FLAG[e.type],
    mode: e.mode ?? (e.type === 'dir' ? 0o755 : 0o644),
    uid: e.uid,
    gid: e.gid,
    size,
    mtime: mtime.sec,
    linkname: link.slice(0, 100),
    devmajor: e.devmajor,
    devminor: e.devminor,
  })
  if (records.length === 0) return main
  const data = Buffer.concat(records)
  const base = e.name.replace(/\/+$/, '').split('/').pop() ?? ''
  const ph = ustarHeader({name: `PaxHeaders/${base}`.slice(0, 100), flag: 'x', size: data.length, mtime: Math.max(0, Math.min(mtime.sec, 0o77777777777))})
  return Buffer.concat([ph, data, Buffer.alloc(pad(data.length)), main])
}

export function padding(size: number): Buffer {
  return Buffer.alloc(pad(size))
}

/** End of archive: two zero blocks. */
export const EOA = Buffer.alloc(2 * BLOCK)

// ---------------------------------------------------------------- rewriter

/**
 * Pass a tar stream through, replacing the header blocks of chosen entries
 * (their data is kept) or inserting entries before them. `decide` returns the
 * replacement headers for an entry, `{insert}` for whole entries to put before
 * it, or undefined to keep it. Bytes of an entry whose headers are still
 * being read are held back until it is known what becomes of them; so is the
 * end marker and what follows it, until end().
 */
export class TarRewriter {
  private readonly scanner: TarScanner
  private held: Buffer[] = []
  /** Stream offset of the first held byte. */
  private heldAt = 0
  private edits: {start: number; end: number; with: Buffer}[] = []

  constructor(decide: (e: TarEntry) => Buffer | {insert: Buffer} | undefined) {
    this.scanner = new TarScanner(e => {
      const r = decide(e)
      if (Buffer.isBuffer(r)) this.edits.push({start: e.start, end: e.dataStart, with: r})
      else if (r) this.edits.push({start: e.start, end: e.start, with: r.insert})
    })
  }

  /** The end marker has been read: push() passes nothing more on; end() passes the marker and the rest. */
  get done(): boolean {
    return this.scanner.done
  }

  /** The bytes to pass on for this chunk (possibly fewer, held back, or more, released). */
  push(chunk: Buffer): Buffer[] {
    this.held.push(chunk)
    if (!this.scanner.done) this.scanner.push(chunk)
    // At the end marker, `start` is where the marker begins.
    const upTo = this.scanner.done || this.scanner.inHeader ? this.scanner.start : this.heldAt + this.heldLength()
    return this.release(upTo)
  }

  end(): Buffer[] {
    this.scanner.end()
    return this.release(this.heldAt + this.heldLength())
  }

  private heldLength(): number {
    let n = 0
    for (const b of this.held) n += b.length
    return n
  }

  private release(upTo: number): Buffer[] {
    const out: Buffer[] = []
    for (const e of this.edits) {
      out.push(...this.take(e.start))
      this.take(e.end)
      out.push(e.with)
    }
    this.edits = []
    out.push(...this.take(upTo))
    return out
  }

  /** Remove and return held bytes up to stream offset `upTo`. */
  private take(upTo: number): Buffer[] {
    const out: Buffer[] = []
    while (this.heldAt < upTo && this.held.length > 0) {
      const b = this.held[0]!
      const n = Math.min(b.length, upTo - this.heldAt)
      out.push(n === b.length ? b : b.subarray(0, n))
      if (n === b.length) this.held.shift()
      else this.held[0] = b.subarray(n)
      this.heldAt += n
    }
    return out
  }
}
