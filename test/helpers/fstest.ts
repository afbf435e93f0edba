// Filesystem appliers and a directory-tree comparison, after continuity's
// fstest: the same changes are applied to a plain directory and to a mounted
// snapshot, and the two trees must then agree in everything a layer carries.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'

export type Applier = (root: string) => void | Promise<void>

const at = (root: string, name: string): string => path.join(root, name)

/** Appliers run in order. */
export function apply(...appliers: Applier[]): Applier {
  return async root => {
    for (const a of appliers) await a(root)
  }
}

/** Write (create or truncate) a file, then chmod so the umask does not decide the mode. */
export function createFile(name: string, content: string | Buffer, mode: number): Applier {
  return root => {
    fs.writeFileSync(at(root, name), content, {mode})
    fs.chmodSync(at(root, name), mode)
  }
}

export function createDir(name: string, mode: number): Applier {
  return root => {
    fs.mkdirSync(at(root, name), {recursive: true, mode})
    fs.chmodSync(at(root, name), mode)
  }
}

/** Remove a file or an empty directory (fails otherwise, like os.Remove). */
export function remove(name: string): Applier {
  return root => {
    const p = at(root, name)
    if (fs.lstatSync(p).isDirectory()) fs.rmdirSync(p)
    else fs.unlinkSync(p)
  }
}

export function removeAll(name: string): Applier {
  return root => fs.rmSync(at(root, name), {recursive: true, force: true})
}

/**
 * rename(2), falling back to copy-and-delete on EXDEV as mv(1) does: overlayfs
 * refuses to rename a directory that comes from a lower layer (without redirect_dir).
 */
export function rename(from: string, to: string): Applier {
  return async root => {
    try {
      fs.renameSync(at(root, from), at(root, to))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
      await execa('cp', ['-a', '-T', '--', at(root, from), at(root, to)])
      fs.rmSync(at(root, from), {recursive: true})
    }
  }
}

export function chown(name: string, uid: number, gid: number): Applier {
  return root => fs.lchownSync(at(root, name), uid, gid)
}

export function chmod(name: string, mode: number): Applier {
  return root => fs.chmodSync(at(root, name), mode)
}

/** `name` becomes a symlink whose target is `target`, verbatim. */
export function symlink(target: string, name: string): Applier {
  return root => fs.symlinkSync(target, at(root, name))
}

/** A hard link `name` to the existing `existing`. */
export function link(existing: string, name: string): Applier {
  return root => fs.linkSync(at(root, existing), at(root, name))
}

/** Node has no xattr API; setfattr is what the host has. */
export function setXattr(name: string, key: string, value: string): Applier {
  return async root => {
    await execa('setfattr', ['-h', '-n', key, '-v', value, at(root, name)])
  }
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'

export interface Entry {
  type: EntryType
  /** Permission and special bits (setuid, setgid, sticky): st_mode & 07777. */
  mode: number
  uid: number
  gid: number
  /** Regular files: byte length and sha256 of the content. */
  size?: number
  digest?: string
  /** Symlinks: the target, verbatim. */
  target?: string
  /** Devices: st_rdev. */
  rdev?: number
  /** Every extended attribute visible through this tree, hex-encoded values. */
  xattrs: Record<string, string>
}

export interface Tree {
  /** Relative path ('.' for the root) to its entry. */
  entries: Map<string, Entry>
  /** Sets of paths that are one inode (hard links), each sorted; singletons left out. */
  links: string[][]
}

function typeOf(st: fs.Stats): EntryType {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isCharacterDevice()) return 'char'
  if (st.isBlockDevice()) return 'block'
  if (st.isFIFO()) return 'fifo'
  return 'socket'
}

/** getfattr's octal escapes in `# file:` lines (\012 newline, \134 backslash, ...). */
const unescapeOctal = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** All xattrs under `dir` in one getfattr run, keyed by absolute path. */
async function readXattrs(dir: string): Promise<Map<string, Record<string, string>>> {
  const r = await execa('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', dir], {reject: false, env: {LC_ALL: 'C'}})
  if (r.exitCode !== 0) throw new Error(`getfattr ${dir} failed: ${r.stderr}`)
  const out = new Map<string, Record<string, string>>()
  let current: Record<string, string> | undefined
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {}
      out.set(path.resolve(unescapeOctal(line.slice('# file: '.length))), current)
    } else if (line !== '' && current) {
      const eq = line.indexOf('=')
      current[eq < 0 ? line : line.slice(0, eq)] = eq < 0 ? '' : line.slice(eq + 1)
    }
  }
  return out
}

export interface ReadTreeOptions {
  /** Read extended attributes too (one getfattr run); on by default. */
  xattrs?: boolean
}

/** Everything a layer carries about every entry under `dir`, the root included as '.'. */
export async function readTree(dir: string, opts: ReadTreeOptions = {}): Promise<Tree> {
  const root = path.resolve(dir)
  const xattrs = opts.xattrs === false ? new Map<string, Record<string, string>>() : await readXattrs(root)
  const entries = new Map<string, Entry>()
  const inodes = new Map<string, string[]>()
  const visit = (rel: string): void => {
    const abs = rel === '.' ? root : path.join(root, rel)
    const st = fs.lstatSync(abs)
    const type = typeOf(st)
    const e: Entry = {type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs: xattrs.get(abs) ?? {}}
    if (type === 'file') {
      const content = fs.readFileSync(abs)
      e.size = content.length
      e.digest = crypto.createHash('sha256').update(content).digest('hex')
    } else if (type === 'symlink') {
      e.target = fs.readlinkSync(abs)
    } else if (type === 'char' || type === 'block') {
      e.rdev = st.rdev
    }
    entries.set(rel, e)
    if (type !== 'dir') {
      const id = `${st.dev}:${st.ino}`
      inodes.set(id, [...(inodes.get(id) ?? []), rel])
    } else {
      for (const name of fs.readdirSync(abs).sort()) visit(rel === '.' ? name : path.join(rel, name))
    }
  }
  visit('.')
  const links = [...inodes.values()].filter(g => g.length > 1).map(g => g.sort())
  links.sort((a, b) => (a[0]! < b[0]! ? -1 : 1))
  return {entries, links}
}

const octal = (n: number): string => `0${n.toString(8)}`

function describeEntry(e: Entry): string {
  const parts = [e.type, `mode=${octal(e.mode)}`, `owner=${e.uid}:${e.gid}`]
  if (e.size !== undefined) parts.push(`size=${e.size}`, `sha256=${e.digest!.slice(0, 12)}`)
  if (e.target !== undefined) parts.push(`-> ${JSON.stringify(e.target)}`)
  if (e.rdev !== undefined) parts.push(`rdev=${e.rdev}`)
  const x = Object.entries(e.xattrs)
  if (x.length > 0) parts.push(`xattrs={${x.map(([k, v]) => `${k}=${v}`).join(',')}}`)
  return parts.join(' ')
}

export interface CompareOptions {
  /** Compare the root directory's own mode and owner too (continuity leaves it out). */
  includeRoot?: boolean
}

/**
 * The differences between two trees, one line each ('-' only in expected,
 * '+' only in actual, '~' differs); empty when they agree.
 */
export function diffTrees(expected: Tree, actual: Tree, opts: CompareOptions = {}): string[] {
  const out: string[] = []
  const skip = (p: string): boolean => p === '.' && !opts.includeRoot
  for (const [p, e] of expected.entries) {
    if (skip(p)) continue
    const a = actual.entries.get(p)
    if (!a) out.push(`- ${p}: ${describeEntry(e)}`)
    else if (describeEntry(a) !== describeEntry(e) || a.digest !== e.digest) out.push(`~ ${p}: ${describeEntry(e)} => ${describeEntry(a)}`)
  }
  for (const [p, a] of actual.entries) if (!skip(p) && !expected.entries.has(p)) out.push(`+ ${p}: ${describeEntry(a)}`)
  const groups = (t: Tree): string => JSON.stringify(t.links)
  if (groups(expected) !== groups(actual)) out.push(`~ hard links: ${groups(expected)} => ${groups(actual)}`)
  return out
}

/**
 * Throws, listing every difference, unless the tree under `actualDir` agrees
 * with `expected` (a directory, or a tree already read from one).
 */
export async function checkDirectoryEqual(expected: string | Tree, actualDir: string, opts: CompareOptions & ReadTreeOptions = {}): Promise<void> {
  const [e, a] = await Promise.all([typeof expected === 'string' ? readTree(expected, opts) : expected, readTree(actualDir, opts)])
  const diff = diffTrees(e, a, opts)
  if (diff.length > 0) throw new Error(`${actualDir} differs from ${typeof expected === 'string' ? expected : 'the expected tree'}:\n${diff.join('\n')}`)
}

/** Apply `applier` to a fresh directory under `scratch` and compare `dir` with it. */
export async function checkDirectoryEqualWithApplier(dir: string, applier: Applier, scratch: string, opts: CompareOptions & ReadTreeOptions = {}): Promise<void> {
  const expected = fs.mkdtempSync(path.join(scratch, 'applied-'))
  try {
    await applier(expected)
    await checkDirectoryEqual(expected, dir, opts)
  } finally {
    fs.rmSync(expected, {recursive: true, force: true})
  }
}
