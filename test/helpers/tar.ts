import {execFileSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {BLOCK, EOA, entryHeader, padding, sealHeader, ustarHeader, type WriteEntry} from '../../src/core/layer/tar.js'

// Layers built in code at test time: every entry type, PAX xattrs, whiteouts,
// and raw header blocks for archives that lie.

/** A name as text (written as UTF-8) or as raw bytes (written as they are, for names that are not UTF-8). */
export type Name = string | Buffer
type Opts = Partial<Omit<WriteEntry, 'name' | 'linkname'>>
export type Spec = (Omit<WriteEntry, 'name' | 'linkname'> & {name: Name; linkname?: Name; data?: string | Buffer}) | {raw: Buffer}

export const file = (name: Name, data: string | Buffer = '', e: Opts = {}): Spec => ({name, type: 'file', data, ...e})
export const dir = (name: Name, e: Opts = {}): Spec => ({name, type: 'dir', ...e})
export const symlink = (name: Name, linkname: Name, e: Opts = {}): Spec => ({name, type: 'symlink', linkname, mode: 0o777, ...e})
export const hardlink = (name: Name, linkname: Name, e: Opts = {}): Spec => ({name, type: 'link', linkname, ...e})
export const chardev = (name: Name, major: number, minor: number, e: Opts = {}): Spec => ({name, type: 'char', devmajor: major, devminor: minor, ...e})
export const blockdev = (name: Name, major: number, minor: number, e: Opts = {}): Spec => ({name, type: 'block', devmajor: major, devminor: minor, ...e})
export const fifo = (name: Name, e: Opts = {}): Spec => ({name, type: 'fifo', ...e})
/** Names joined as bytes, so a part that is not UTF-8 stays as it is. */
export const join = (...parts: Name[]): Buffer => Buffer.concat(parts.filter(p => p.length > 0).flatMap((p, i) => (i ? [Buffer.from('/'), Buffer.from(p)] : [Buffer.from(p)])))
export const whiteout = (parent: Name, name: Name, e: Opts = {}): Spec => file(join(parent, Buffer.concat([Buffer.from('.wh.'), Buffer.from(name)])), '', e)
export const opaque = (parent: Name): Spec => file(join(parent, '.wh..wh..opq'))
/** A raw header block (checksum sealed) followed by `data` padded to a block. */
export const raw = (header: Buffer, data: Buffer = Buffer.alloc(0)): Spec => ({raw: Buffer.concat([sealHeader(header), data, padding(data.length)])})
/** A GNU long-name ('L') or long-link ('K') record for the next entry. */
export const gnuLong = (flag: 'L' | 'K', value: string): Spec => {
  const data = Buffer.from(value + '\0', 'latin1')
  return {raw: Buffer.concat([ustarHeader({name: '././@LongLink', flag, size: data.length}), data, padding(data.length)])}
}

export function buildTar(specs: Spec[], opts: {end?: boolean} = {}): Buffer {
  const out: Buffer[] = []
  for (const s of specs) {
    if ('raw' in s) {
      out.push(s.raw)
      continue
    }
    const data = s.data === undefined ? Buffer.alloc(0) : Buffer.from(s.data)
    // Test names are text (UTF-8) or bytes; the writer takes bytes as latin1.
    const bytes = (t: Name | undefined): string | undefined => (t === undefined ? t : Buffer.from(t).toString('latin1'))
    out.push(entryHeader({...s, name: bytes(s.name)!, linkname: bytes(s.linkname), size: s.size ?? (s.type === 'file' ? data.length : 0)}), data, padding(data.length))
  }
  if (opts.end !== false) out.push(EOA)
  return Buffer.concat(out)
}

/** A stream of buf in chunks of `chunk` bytes (small chunks split headers across pushes). */
export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk))
  return Readable.from(parts)
}

export {BLOCK}

export interface Node {
  type: string
  mode: number
  uid: number
  gid: number
  mtimeNs?: string
  size?: number
  sha?: string
  link?: string
  rdev?: number
  xattrs: string
  /** First path (walk order) of the paths here sharing this file's inode, if any other does. */
  linkGroup?: string
}

/** Every attribute of a tree that a layer carries, for exact comparisons. Directory mtimes optional. */
export function treeOf(root: string, opts: {dirMtimes?: boolean; mtimes?: boolean} = {}): Record<string, Node> {
  const out: Record<string, Node> = {}
  const inodes = new Map<bigint, string[]>()
  const xattrs = xattrDump(root)
  // Walk by bytes so names that are not UTF-8 survive; such names are keyed as `hex:<bytes>`.
  const key = (b: Buffer): string => {
    const t = b.toString('utf8')
    return Buffer.from(t).equals(b) ? t : `hex:${b.toString('hex')}`
  }
  const walk = (relB: Buffer): void => {
    const rel = key(relB)
    const abs = relB.length ? Buffer.concat([Buffer.from(root + '/'), relB]) : Buffer.from(root)
    const st = fs.lstatSync(abs, {bigint: true})
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other'
    const n: Node = {type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), xattrs: xattrs.get(rel || '.') ?? ''}
    if (type !== 'symlink' && opts.mtimes !== false && (type !== 'dir' || opts.dirMtimes !== false)) n.mtimeNs = String(st.mtimeNs)
    if (type === 'symlink') n.link = key(fs.readlinkSync(abs, {encoding: 'buffer'}))
    if (type === 'file') {
      n.size = Number(st.size)
      n.sha = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')
      if (st.nlink > 1n) {
        const group = inodes.get(st.ino) ?? []
        group.push(rel)
        inodes.set(st.ino, group)
      }
    }
    if (type === 'char' || type === 'block') n.rdev = Number(st.rdev)
    out[rel || '.'] = n
    if (type === 'dir') {
      const names = fs.readdirSync(abs, {encoding: 'buffer'}).sort(Buffer.compare)
      for (const name of names) walk(relB.length ? Buffer.concat([relB, Buffer.from('/'), name]) : name)
    }
  }
  walk(Buffer.alloc(0))
  // Links are among the paths visible here (overlayfs counts links a whiteout hides).
  for (const group of inodes.values()) if (group.length > 1) for (const p of group) out[p]!.linkGroup = group[0]
  return out
}

/** getfattr's dump of all xattrs (trusted.* included: we are root), keyed by relative path. */
export function xattrDump(root: string): Map<string, string> {
  const out = new Map<string, string>()
  let text = ''
  try {
    text = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], {cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28})
  } catch (err) {
    text = (err as {stdout?: string}).stdout ?? ''
  }
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter(Boolean)
    if (!lines[0]?.startsWith('# file: ')) continue
    const name = lines[0].slice('# file: '.length).replace(/^\.\/?/, '') || '.'
    out.set(name, lines.slice(1).sort().join(','))
  }
  return out
}

/** An outside directory with a canary file, and a check that nothing in it changed. */
export function canary(dir: string): {path: string; assertUntouched: () => void} {
  fs.mkdirSync(dir, {recursive: true})
  const p = path.join(dir, 'canary')
  fs.writeFileSync(p, 'canary\n')
  fs.chmodSync(p, 0o644)
  const before = JSON.stringify(treeOf(dir))
  return {
    path: p,
    assertUntouched: () => {
      const after = JSON.stringify(treeOf(dir))
      if (after !== before) throw new Error(`outside directory ${dir} changed:\n${before}\n->\n${after}`)
    },
  }
}
