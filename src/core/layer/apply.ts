import fs from 'node:fs'
import path from 'node:path'
import {ExternalCommandError, FailedPreconditionError, InvalidArgumentError, UnavailableError} from '../errors.js'
import {Readable} from 'node:stream'
import {run, streamInto} from '../exec.js'
import {EOA, entryHeader, TarRewriter, type TarEntry, type TarTime} from './tar.js'
import {cleanName, OPAQUE, OVERLAY_OPAQUE_XATTR, showName, whiteoutOf} from './whiteout.js'
import {xattrsOf} from './xattr.js'
import {removeTree} from '../fs/remove.js'
import {enc} from '../fs/bytes.js'
import {TEMP_PREFIX} from '../drivers/layout.js'
import type {LayerFormat} from '../snapshotter.js'

export interface ApplyOptions {
  /** whiteouts: `target` is an empty upper dir; deletions: a full copy of the parent. */
  format: LayerFormat
  target: string
  /** Lower layer dirs, nearest first (whiteouts) / the parent's dir (deletions). */
  parents: string[]
}

/**
 * Apply an uncompressed layer tar to a new snapshot's directory.
 *
 * Safety rests on three things. (1) Every header is parsed and checked here
 * before GNU tar receives the bytes that complete it (TarScanner): names are
 * relative without `..`, nothing is written through a symlink the layer
 * itself made, hard links stay inside, whiteout names are well formed, and
 * header layouts tar could read differently are refused. (2) GNU tar only ever
 * extracts into an empty directory (the overlay upper, or a staging dir for
 * native), so no symlink it did not create can be on any path it writes.
 * (3) Native staging content is moved into the parent's copy by our own merge,
 * which lstat()s every path and replaces a symlink or file in the way, never
 * following it. Whiteouts and directory metadata fix-ups are applied the same
 * way, by lstat-checked paths and a second GNU tar run over a tar we generate.
 */
export async function applyLayer(tar: NodeJS.ReadableStream, opts: ApplyOptions): Promise<void> {
  const target = path.resolve(opts.target)
  const st = fs.lstatSync(target)
  if (!st.isDirectory()) throw new InvalidArgumentError(`cannot apply a layer to ${target}: not a directory`)
  // whiteouts: extracted in place (the upper is empty); deletions never are: the target holds the parent's tree.
  const dir = opts.format === 'deletions' ? fs.mkdtempSync(path.join(path.dirname(target), `${TEMP_PREFIX}${process.pid}-`)) : target
  try {
    const staged = await stageLayer(tar, {format: opts.format, dir})
    await staged.finish(target, opts.parents)
  } finally {
    if (dir !== target) removeTree(dir)
  }
}

/** A layer extracted into its staging directory, waiting for its snapshot (see stageLayer). */
export interface StagedLayer {
  readonly dir: string
  /**
   * Put the layer into `target`, the new snapshot's own directory (an empty
   * overlay upper, or native's copy of the parent; `dir` itself for overlay
   * in place), and do what needs the lower layers: overlay copy-up and
   * whiteout devices, native deletions and merge.
   */
  finish(target: string, parents: string[]): Promise<void>
  /** Remove what is left of the staging directory (nothing once an overlay layer has moved). */
  discard(): void
}

export interface StageOptions {
  format: LayerFormat
  /** An empty directory on the snapshots' file system. */
  dir: string
}

/**
 * The first half of applyLayer: extract the layer into an empty directory,
 * checking every header before tar sees it. It reads no other layer, so
 * stages of one image's layers may run at once (unpack does), each finished
 * in order once its parent is committed.
 */
export async function stageLayer(tar: NodeJS.ReadableStream, opts: StageOptions): Promise<StagedLayer> {
  const dir = path.resolve(opts.dir)
  if (!fs.lstatSync(dir).isDirectory()) throw new InvalidArgumentError(`cannot apply a layer to ${dir}: not a directory`)
  // tar follows symlinks already in its target dir.
  assertEmpty(dir, opts.format === 'whiteouts' ? 'upper directory' : 'directory')
  const index = new LayerIndex(opts.format === 'deletions')
  const rootBefore = statMeta(enc(dir, ''))
  try {
    // overlay: the root's metadata as the driver made it (containerd ignores a layer's root entry), set by the layer's own tar run.
    await extract(tar, dir, index, opts.format === 'whiteouts' ? rootTail(rootBefore) : undefined)
    index.finishRedirects(dir)
  } catch (err) {
    throw translate(err, dir)
  }
  let moved = false
  return {
    dir,
    finish: async (to, parents) => {
      const target = path.resolve(to)
      try {
        if (opts.format === 'deletions') return await finishDeletions(index, dir, target)
        let root = rootBefore
        if (target !== dir) {
          // The upper the driver made gives the root its mode and owner; the staged tree takes its place.
          const t = statMeta(enc(target, ''))
          assertEmpty(target, 'upper directory')
          root = {...rootBefore, mode: t.mode, uid: t.uid, gid: t.gid}
          fs.lchownSync(dir, t.uid, t.gid)
          fs.chmodSync(dir, t.mode)
          fs.renameSync(dir, target)
          moved = true
        }
        await finishWhiteouts(index, target, parents.map(p => path.resolve(p)), root)
      } catch (err) {
        throw translate(err, target)
      }
    },
    discard: () => {
      if (!moved) removeTree(dir)
    },
  }
}

function assertEmpty(dir: string, what: string): void {
  if (fs.readdirSync(dir).length > 0) throw new FailedPreconditionError(`cannot apply a layer to ${dir}: the ${what} is not empty`)
}

// ------------------------------------------------------------------ index

interface Meta {
  mode: number
  uid: number
  gid: number
  mtime: TarTime
}

interface Whiteout {
  dir: string
  name: string
  marker: string
  uid: number
  gid: number
  mtime: TarTime
  seq: number
}

/**
 * What the layer contains, learnt header by header; refuses what is unsafe.
 *
 * A path may come more than once: as containerd does, the later entry wins,
 * replacing what is there unless both are directories. GNU tar does that by
 * itself but in two cases, where it fails: a non-directory over a directory
 * with content, and a directory over a symlink to a directory. Those entries
 * are redirected: tar extracts them at a temporary name (`.wh..wh.` names
 * cannot come from a layer), and finishRedirects() puts them in place once
 * tar is done. (--recursive-unlink is no answer: it also empties a directory
 * that a second directory entry names.) Everything learnt about a
 * directory's subtree (dirs, implied parents, whiteouts, opaque markers) is
 * dropped by settle() if a non-directory replaced the directory after it was
 * learnt; `seq` numbers the entries to tell.
 */
export class LayerIndex {
  readonly explicitDirs = new Map<string, Meta & {seq: number}>()
  /** Paths that are, or were at some point in this layer, symlinks: nothing may be written under them. */
  readonly symlinks = new Set<string>()
  /** Every proper ancestor of an entry (with the last entry that implied it): the directories tar makes if the layer does not list them. */
  readonly ancestors = new Map<string, number>()
  readonly whiteouts: Whiteout[] = []
  readonly opaques: {dir: string; marker: string; seq: number}[] = []
  /**
   * Non-directory entries, with the last one's number: those that replaced a
   * directory of the layer, and (native, `allNonDirs`) every one, since a
   * directory that comes after one at the same path must not merge with the
   * parent's directory there (containerd removed it for the non-directory).
   */
  readonly nonDirs = new Map<string, number>()
  /** Entries extracted at a temporary name, in order (see finishRedirects). */
  readonly redirects: {path: string; temp: string; seq: number}[] = []
  /** Where a redirected path is now, while tar runs. */
  private readonly moved = new Map<string, string>()
  readonly disturbed = new Set<string>()
  rootEntry = false
  private seq = 0

  constructor(private readonly allNonDirs = false) {}

  /** Learn an entry; returns where tar must extract it and where its hard link points when that differs from the entry's own names (a redirect). */
  add(e: TarEntry): {name: string; linkname: string} | undefined {
    const seq = ++this.seq
    const p = cleanName(e.name)
    if (p === '') {
      if (e.type !== 'dir') throw new InvalidArgumentError(`invalid layer tar: ${e.type} entry ${showName(e.name)} names the root`)
      this.rootEntry = true
      return undefined
    }
    const dir = this.checkAncestors(p, e.name, seq)
    const implied = this.ancestors.get(p)
    const conflict = e.type === 'dir' ? this.symlinks.has(p) : implied !== undefined && implied > (this.nonDirs.get(p) ?? 0)
    this.learn(e, p, dir, seq)
    if (conflict) {
      const temp = `${OPAQUE}.${this.redirects.length}`
      for (const k of this.moved.keys()) if (k.startsWith(`${p}/`)) this.moved.delete(k)
      this.moved.set(p, temp)
      this.redirects.push({path: p, temp, seq})
    }
    if (this.moved.size === 0) return undefined
    const name = this.whereIs(p)
    const linkname = e.type === 'link' ? this.whereIs(cleanName(e.linkname)) : e.linkname
    return name === p && linkname === e.linkname ? undefined : {name, linkname}
  }

  /** Where tar has (or will have) the layer's path `p`, given the redirects so far. */
  private whereIs(p: string): string {
    for (let end = p.length; end > 0; end = p.lastIndexOf('/', end - 1)) {
      const temp = this.moved.get(p.slice(0, end))
      if (temp !== undefined) return temp + p.slice(end)
    }
    return p
  }

  private learn(e: TarEntry, p: string, dir: string, seq: number): void {
    if (e.type === 'link') {
      const link = cleanName(e.linkname, 'hard link target')
      if (link === '') throw new InvalidArgumentError(`invalid layer tar: hard link ${showName(e.name)} points at the root`)
      this.checkAncestors(link, e.linkname)
      if (whiteoutOf(link.slice(link.lastIndexOf('/') + 1), e.linkname).kind !== 'none') {
        throw new InvalidArgumentError(`invalid layer tar: hard link ${showName(e.name)} points at a whiteout`)
      }
      // A hard link to a symlink is a symlink on disk.
      if (this.symlinks.has(link)) this.symlinks.add(p)
    }
    const wo = whiteoutOf(p.slice(dir.length ? dir.length + 1 : 0), e.name)
    if (wo.kind !== 'none') {
      if (e.type === 'dir') throw new InvalidArgumentError(`invalid layer tar: invalid whiteout name ${showName(e.name)} (a whiteout cannot be a directory)`)
      if (wo.kind === 'opaque') this.opaques.push({dir, marker: p, seq})
      else this.whiteouts.push({dir, name: wo.target, marker: p, uid: e.uid, gid: e.gid, mtime: e.mtime, seq})
      return
    }
    if (e.type === 'symlink') this.symlinks.add(p)
    if (e.type === 'dir') {
      this.explicitDirs.set(p, {mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, seq})
      return
    }
    if (this.allNonDirs || this.explicitDirs.has(p) || this.ancestors.has(p)) this.nonDirs.set(p, seq)
    this.explicitDirs.delete(p)
  }

  /** Whether what was learnt at `p` from entry `seq` on is still there: no non-directory replaced p or a parent since. */
  private live(p: string, seq: number): boolean {
    for (let end = p.indexOf('/'); ; end = p.indexOf('/', end + 1)) {
      const replaced = this.nonDirs.get(end < 0 ? p : p.slice(0, end))
      if (replaced !== undefined && replaced > seq) return false
      if (end < 0) return true
    }
  }

  /** Drop what was learnt under directories that a later non-directory entry replaced (call once the layer is read). */
  settle(): void {
    if (this.nonDirs.size === 0) return
    for (const [p, seq] of this.ancestors) if (!this.live(p, seq)) this.ancestors.delete(p)
    for (const [p, m] of this.explicitDirs) if (!this.live(p, m.seq)) this.explicitDirs.delete(p)
    const keep = <T extends {marker: string; seq: number}>(list: T[]): T[] => list.splice(0).filter(m => this.live(m.marker, m.seq))
    this.whiteouts.push(...keep(this.whiteouts))
    this.opaques.push(...keep(this.opaques))
  }

  /**
   * Once tar is done: each redirected entry still current replaces what is at
   * its path; the others go. The directories whose times this disturbs are
   * noted in `disturbed`, for the finish to set again.
   */
  finishRedirects(root: string): void {
    const disturbed = this.disturbed
    for (const r of this.redirects) {
      const temp = enc(root, r.temp)
      disturbed.add('')
      if (this.moved.get(r.path) !== r.temp || !this.live(r.path, r.seq)) {
        fs.rmSync(temp, {recursive: true, force: true})
        continue
      }
      const up = parentOf(r.path)
      assertDirChain(root, up, new Set())
      fs.rmSync(enc(root, r.path), {recursive: true, force: true})
      fs.renameSync(temp, enc(root, r.path))
      disturbed.add(up)
    }
  }

  /** Directories of the layer that replaced a non-directory of the layer: what the parent has there must go (native). */
  recreatedDirs(): string[] {
    return [...this.explicitDirs.keys()].filter(p => this.nonDirs.has(p))
  }

  /** Refuse a path under one of the layer's own symlinks; returns its parent. `seq`: record the ancestors as implied by that entry. */
  private checkAncestors(p: string, shown: string, seq?: number): string {
    let end = p.indexOf('/')
    while (end >= 0) {
      const q = p.slice(0, end)
      if (this.symlinks.has(q)) {
        throw new InvalidArgumentError(`invalid layer tar: ${showName(shown)} goes through the symlink ${showName(q)} made by the same layer`)
      }
      if (seq !== undefined) this.ancestors.set(q, seq)
      end = p.indexOf('/', end + 1)
    }
    const slash = p.lastIndexOf('/')
    return slash < 0 ? '' : p.slice(0, slash)
  }
}

// ------------------------------------------------------------------ tar runs

function tarArgs(dir: string, layer: boolean): string[] {
  return [
    '-x', '-f', '-', '-C', dir,
    '--numeric-owner', '--same-owner', '--preserve-permissions', '--delay-directory-restore',
    '--xattrs', '--xattrs-include=*',
    // overlayfs' private xattrs would let a layer redirect lookups or fake
    // whiteouts in the upper dir; only our own fix-up tar may set them.
    ...(layer ? ['--xattrs-exclude=trusted.overlay.*'] : []),
  ]
}

/**
 * Feed the layer to GNU tar as the scanner clears it. The end marker is held
 * back and replaced by `tail(index)` (entries we append, known once the layer
 * is scanned) and a full two-block end marker: whatever tar must do last can
 * ride on this run instead of a second one.
 */
async function extract(input: NodeJS.ReadableStream, dir: string, index: LayerIndex, tail: (index: LayerIndex) => Buffer[] = () => []): Promise<void> {
  // A redirected entry's headers are written anew with the names tar is to use.
  const rw = new TarRewriter(e => {
    const to = index.add(e)
    return to && entryHeader({...e, ...to, name: e.type === 'dir' ? `${to.name}/` : to.name})
  })
  const finish = (write: (b: Buffer) => void): void => {
    index.settle()
    for (const b of tail(index)) write(b)
    write(EOA)
  }
  await streamInto('tar', tarArgs(dir, true), input, {
    chunk(chunk, write) {
      for (const b of rw.push(chunk)) write(b)
      // Past the end marker tar reads nothing more; the caller (streamLayer) still hashes the rest.
      if (rw.done) finish(write)
      return rw.done
    },
    end(write) {
      // A layer without an end marker (tolerated, as Go and GNU tar do).
      for (const b of rw.end()) write(b)
      finish(write)
    },
  })
}

interface Fix {
  rel: string
  type: 'dir' | 'char'
  meta: Meta
  xattrs?: Map<string, Buffer>
}

/** Set directory metadata and make whiteout devices with a generated tar (exact ns times, xattrs, owners). */
async function applyFixes(root: string, fixes: Map<string, Fix>): Promise<void> {
  if (fixes.size === 0) return
  // Parents before children and each subtree contiguous, so tar's delayed
  // directory times are set after everything inside them is made.
  const list = [...fixes.values()].sort((a, b) => cmpPath(a.rel, b.rel))
  const checked = new Set<string>()
  const blocks: Buffer[] = []
  for (const f of list) {
    assertDirChain(root, f.type === 'dir' ? f.rel : parentOf(f.rel), checked)
    blocks.push(entryHeader({
      name: f.rel === '' ? './' : f.type === 'dir' ? `${f.rel}/` : f.rel,
      type: f.type,
      mode: f.meta.mode,
      uid: f.meta.uid,
      gid: f.meta.gid,
      mtime: f.meta.mtime,
      xattrs: f.xattrs,
    }))
  }
  blocks.push(EOA)
  await streamInto('tar', tarArgs(root, false), Readable.from([Buffer.concat(blocks)]))
}

function cmpPath(a: string, b: string): number {
  const x = a === '' ? [] : a.split('/')
  const y = b === '' ? [] : b.split('/')
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1
  }
  return x.length - y.length
}

// ------------------------------------------------------------------ whiteouts (overlayfs)

async function finishWhiteouts(index: LayerIndex, upper: string, lowers: string[], rootBefore: Meta): Promise<void> {
  const fixes = new Map<string, Fix>()
  const before = new Map<string, Meta>()
  const opaque = new Set<string>()
  const touched = new Set<string>()
  const checked = new Set<string>()
  // Metadata a directory must end with: the layer's own, else copied up from
  // the lower layers as containerd does, else what tar gave it (recorded
  // before the markers went, or, for a directory a whiteout made opaque, as it is).
  const metaOf = (rel: string): Meta => (rel === '' ? rootBefore : index.explicitDirs.get(rel) ?? lowerDir(lowers, rel)?.meta ?? before.get(rel) ?? statMeta(enc(upper, rel)))

  for (const rel of index.disturbed) {
    before.set(rel, statMeta(enc(upper, rel)))
    touched.add(rel)
  }
  for (const m of [...index.whiteouts, ...index.opaques]) {
    assertDirChain(upper, m.dir, checked)
    if (!before.has(m.dir)) before.set(m.dir, statMeta(enc(upper, m.dir)))
    touched.add(m.dir)
    unlinkIfThere(enc(upper, m.marker))
  }
  for (const o of index.opaques) opaque.add(o.dir)
  for (const w of index.whiteouts) {
    const rel = w.dir ? `${w.dir}/${w.name}` : w.name
    const there = lstatOrNull(enc(upper, rel))
    // The layer also has NAME: a directory of its own must hide the lower one's content; anything else hides it already.
    if (there?.isDirectory()) opaque.add(rel)
    else if (!there) fixes.set(rel, {rel, type: 'char', meta: {mode: 0, uid: w.uid, gid: w.gid, mtime: w.mtime}})
  }
  // Copy-up, as containerd's mkparent: owner, mode, times and (but trusted.*) xattrs of the lower dir.
  const copyUp = new Map<string, string[]>()
  for (const rel of index.ancestors.keys()) {
    if (index.explicitDirs.has(rel)) continue
    const found = lowerDir(lowers, rel)
    if (!found) continue
    fixes.set(rel, {rel, type: 'dir', meta: found.meta})
    copyUp.set(found.lower, [...(copyUp.get(found.lower) ?? []), rel])
  }
  for (const [lower, rels] of copyUp) {
    for (const [rel, xattrs] of (await xattrsOf(lower, rels)) ?? []) {
      const fix = fixes.get(rel)
      if (fix) fix.xattrs = new Map([...xattrs].filter(([k]) => !k.startsWith('trusted.')))
    }
  }
  for (const rel of touched) fixes.set(rel, {...fixes.get(rel), rel, type: 'dir', meta: metaOf(rel)})
  for (const rel of opaque) {
    const copied = fixes.get(rel)?.xattrs ?? new Map<string, Buffer>()
    fixes.set(rel, {rel, type: 'dir', meta: metaOf(rel), xattrs: new Map([...copied, [OVERLAY_OPAQUE_XATTR, Buffer.from('y')]])})
  }
  // containerd ignores a layer's root entry: the upper's root keeps what the driver gave it. The
  // extraction run has restored it already (rootTail); only a fix-up run that writes into the root may change it again.
  if (index.rootEntry && fixes.size > 0) fixes.set('', {rel: '', type: 'dir', meta: rootBefore})
  await applyFixes(upper, fixes)
}

/** For a layer with a root entry: a last root entry putting back the metadata it had before (tar keeps a directory's last entry). */
function rootTail(rootBefore: Meta): (index: LayerIndex) => Buffer[] {
  return index => (index.rootEntry ? [entryHeader({name: './', type: 'dir', mode: rootBefore.mode, uid: rootBefore.uid, gid: rootBefore.gid, mtime: rootBefore.mtime})] : [])
}

/**
 * The directory at `rel` as the lower layers show it (nearest first), for
 * copy-up of directories a layer creates without listing them: undefined if
 * no lower has it or it is replaced there by a non-directory or a whiteout.
 */
function lowerDir(lowers: string[], rel: string): {meta: Meta; lower: string} | undefined {
  // As containerd's mkparent: the first lower that has the path decides; opaque
  // markers further up are not consulted, as containerd does not either.
  const parts = rel.split('/')
  for (const lower of lowers) {
    let cur = ''
    for (let i = 0; i < parts.length; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i]!
      const st = lstatOrNull(enc(lower, cur))
      if (!st) break
      if (!st.isDirectory()) return undefined
      if (i === parts.length - 1) return {meta: statMeta(enc(lower, cur)), lower}
    }
  }
  return undefined
}

// ------------------------------------------------------------------ deletions (native, btrfs)

async function finishDeletions(index: LayerIndex, staging: string, target: string): Promise<void> {
  const beforeTarget = new Map<string, Meta>()
  const beforeStaging = new Map<string, Meta>()
  const touched = new Set<string>()
  const checked = new Set<string>()
  let from = staging
  const S = (rel: string): Buffer => enc(from, rel)
  const T = (rel: string): Buffer => enc(target, rel)
  const touchTarget = (rel: string): void => {
    if (!beforeTarget.has(rel)) beforeTarget.set(rel, statMeta(T(rel)))
    touched.add(rel)
  }

  // 1. The markers leave the staging tree; what put redirected entries in place is set right with them.
  for (const rel of index.disturbed) {
    beforeStaging.set(rel, statMeta(S(rel)))
    touched.add(rel)
  }
  for (const m of [...index.whiteouts, ...index.opaques]) {
    if (!beforeStaging.has(m.dir)) beforeStaging.set(m.dir, statMeta(S(m.dir)))
    touched.add(m.dir)
    unlinkIfThere(S(m.marker))
  }
  // 2. Whiteouts delete from the parent's copy before the layer's own entries land.
  for (const w of index.whiteouts) {
    if (!isDirChain(target, w.dir)) continue
    const rel = w.dir ? `${w.dir}/${w.name}` : w.name
    if (!lstatOrNull(T(rel))) continue
    touchTarget(w.dir)
    fs.rmSync(T(rel), {recursive: true, force: true})
  }
  for (const o of index.opaques) {
    if (!isDirChain(target, o.dir)) continue
    touchTarget(o.dir)
    for (const name of readdir(T(o.dir))) fs.rmSync(T(join(o.dir, name)), {recursive: true, force: true})
  }
  // A directory that replaced a non-directory of the layer starts empty: containerd removed the parent's path for the non-directory.
  for (const rel of index.recreatedDirs()) {
    const up = parentOf(rel)
    if (!isDirChain(target, up) || !lstatOrNull(T(rel))) continue
    touchTarget(up)
    fs.rmSync(T(rel), {recursive: true, force: true})
  }

  // Staging on another file system than the target (each btrfs subvolume is
  // one): the merge's renames would fail with EXDEV. The staged tree is first
  // copied, in one cp (hard links kept; reflinks where the file system has
  // them, so on btrfs no data is copied), into a temp dir inside the target,
  // and merged from there; the target root's metadata is restored with the rest.
  const relocated = fs.statSync(staging).dev !== fs.statSync(target).dev
  if (relocated) {
    touchTarget('')
    from = fs.mkdtempSync(path.join(target, `${TEMP_PREFIX}${process.pid}-`))
    // A layer entry of that very name would be merged onto itself: pick another.
    while (lstatOrNull(enc(staging, path.basename(from)))) {
      fs.rmdirSync(from)
      from = fs.mkdtempSync(path.join(target, `${TEMP_PREFIX}${process.pid}-`))
    }
    await run('cp', ['-a', '--reflink=auto', '--', `${staging}/.`, `${from}/`])
    removeTree(staging)
  }

  // 3. Merge. A directory the layer lists replaces the target's (its
  // metadata and xattrs win, as an overlay upper dir's do) but keeps the
  // target's children it does not replace; a directory it only implies keeps
  // the target's. Results end at T(rel); S(rel) is gone afterwards.
  const mergeDir = (rel: string): void => {
    if (rel !== '' && index.explicitDirs.has(rel)) return adoptLayerDir(rel)
    touchTarget(rel)
    for (const name of readdir(S(rel))) place(join(rel, name))
    if (rel !== '') fs.rmdirSync(S(rel))
  }
  const place = (rel: string): void => {
    const s = fs.lstatSync(S(rel))
    const t = lstatOrNull(T(rel))
    if (s.isDirectory() && t?.isDirectory()) return mergeDir(rel)
    if (t?.isDirectory()) fs.rmSync(T(rel), {recursive: true, force: true})
    else if (t && s.isDirectory()) fs.unlinkSync(T(rel))
    fs.renameSync(S(rel), T(rel))
  }
  const adoptLayerDir = (rel: string): void => {
    for (const name of readdir(T(rel))) {
      const c = join(rel, name)
      const s = lstatOrNull(S(c))
      if (!s) {
        fs.renameSync(T(c), S(c))
        continue
      }
      if (s.isDirectory() && fs.lstatSync(T(c)).isDirectory()) {
        mergeDir(c)
        fs.renameSync(T(c), S(c))
        continue
      }
      fs.rmSync(T(c), {recursive: true, force: true})
    }
    touched.add(rel)
    fs.renameSync(S(rel), T(rel))
  }
  mergeDir('')
  if (relocated) fs.rmdirSync(from)

  // 4. Directory times (and modes/owners) that the moves disturbed.
  const fixes = new Map<string, Fix>()
  for (const rel of touched) {
    const meta = rel === '' ? beforeTarget.get('') : index.explicitDirs.get(rel) ?? beforeTarget.get(rel) ?? beforeStaging.get(rel)
    if (meta && isDirChain(target, rel, checked)) fixes.set(rel, {rel, type: 'dir', meta})
  }
  await applyFixes(target, fixes)
}

// ------------------------------------------------------------------ fs helpers (latin1 relative paths)


const join = (rel: string, name: string): string => (rel ? `${rel}/${name}` : name)
const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '')

function readdir(dir: Buffer): string[] {
  return fs.readdirSync(dir, {encoding: 'buffer'}).map(b => b.toString('latin1'))
}

function lstatOrNull(p: Buffer): fs.Stats | null {
  try {
    return fs.lstatSync(p)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null
    throw err
  }
}

function unlinkIfThere(p: Buffer): void {
  try {
    fs.unlinkSync(p)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

function statMeta(p: Buffer): Meta {
  const st = fs.lstatSync(p, {bigint: true})
  return {mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: {sec: Number(st.mtimeNs / 1000000000n), nsec: Number(st.mtimeNs % 1000000000n)}}
}

/** Whether every component of rel under root is a real directory (no symlink, no file). */
function isDirChain(root: string, rel: string, cache?: Set<string>): boolean {
  if (rel === '' || cache?.has(rel)) return true
  const parts = rel.split('/')
  let cur = ''
  for (const part of parts) {
    cur = cur ? `${cur}/${part}` : part
    if (cache?.has(cur)) continue
    const st = lstatOrNull(enc(root, cur))
    if (!st?.isDirectory()) return false
    cache?.add(cur)
  }
  return true
}

function assertDirChain(root: string, rel: string, cache: Set<string>): void {
  if (!isDirChain(root, rel, cache)) throw new InvalidArgumentError(`invalid layer tar: ${showName(rel)} is not a directory after extraction`)
}

function translate(err: unknown, target: string): unknown {
  const full = (msg: string): UnavailableError => new UnavailableError(`no space left on device while applying a layer to ${target}${msg ? `: ${msg}` : ''}`, {cause: err})
  // A short write is how GNU tar reports a full disk while writing file data.
  if (err instanceof ExternalCommandError && /No space left on device|Disk quota exceeded|Wrote only \d+ of \d+ bytes/.test(err.stderr)) return full(err.message)
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return full('')
  if (code === 'EPIPE') return new UnavailableError(`layer extraction into ${target} was cut short (${(err as Error).message})`, {cause: err})
  return err
}
