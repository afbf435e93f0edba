import {randomBytes} from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import {PassThrough, type Readable} from 'node:stream'
import {FailedPreconditionError, InterruptedError, InvalidArgumentError, isKind, SnapshotError} from '../errors.js'
import {interruptible} from '../interrupt.js'
import {makeTempDir} from '../drivers/layout.js'
import {removeTree} from '../fs/remove.js'
import {makeDirs} from '../dirs.js'
import type {LocalSnapshotter} from '../local.js'
import type {StagedLayer} from '../layer/apply.js'
import {acquireLock, type Lock} from '../store/lock.js'
import * as q from '../store/snapshots.js'
import {chainIds} from './chain-id.js'
import {digestHex, Hasher, type Digest} from './digest.js'
import {commitExtract} from './import.js'
import {extractKey, LABEL_EXTRACT_OWNER, selfOwner} from '../owner.js'
import {decompressor} from './pipe.js'
import {ChildGone, pauseUntilDrained} from '../exec.js'
import type {Image, ImageLayer} from './source.js'

/** The layer applier's first half (stageLayer in src/core/layer/apply.ts): an uncompressed tar into an empty staging dir, confined to it. */
export type StageLayer = (tar: NodeJS.ReadableStream, opts: {format: 'overlay' | 'native'; dir: string}) => Promise<StagedLayer>

/** Labels every unpacked layer carries. */
export const LABEL_UNCOMPRESSED = 'ctrsnap.io/uncompressed'
export const LABEL_DIGEST = 'ctrsnap.io/digest'

export type LayerStatus = 'extracted' | 'reused'

export interface LayerResult {
  index: number
  chainId: Digest
  diffId: Digest
  /** Digest and size of the blob as stored in the source. */
  digest: Digest
  size: number
  mediaType: string
  status: LayerStatus
}

/** What the progress display hears. Bytes are of the blob as stored (compressed). */
export interface UnpackEvents {
  start?(layer: ImageLayer, total: number): void
  bytes?(layer: ImageLayer, n: number): void
  done?(layer: ImageLayer, total: number, status: LayerStatus, ms: number): void
}

export interface UnpackOptions {
  stage: StageLayer
  /** Layers streamed at once (default: one per CPU, at most MAX_CONCURRENT). */
  concurrency?: number
  events?: UnpackEvents
  /** Stops the unpack (SIGINT): the layer in flight is abandoned and everything this call made is removed. */
  signal?: AbortSignal
}

const unique = (): string => `${Date.now()}-${randomBytes(6).toString('base64url')}`

/** More layers at once than this gains nothing: each already keeps a decompressor, Node and tar busy. */
export const MAX_CONCURRENT = 4

/**
 * containerd's applyLayers: each layer becomes the committed snapshot named
 * by its chainID, on the previous one. Layers already there are reused.
 * A layer is streamed through decompression, hashing and extraction at once
 * (one pipeline) into a staging directory, and verified; then, once its
 * parent is committed, it is prepared as `extract-<unique> <chainID>`
 * labelled with its owner (src/core/owner.ts), finished (what needs the
 * lower layers), and committed. Staging reads no
 * other layer, so several layers stream at once and commit in order.
 * Any failure removes every snapshot this call made, so the store is as before.
 */
export function unpackImage(sn: LocalSnapshotter, image: Image, opts: UnpackOptions): Promise<{chainId: Digest; layers: LayerResult[]}> {
  return interruptible(() => unpackLayers(sn, image, opts))
}

async function unpackLayers(sn: LocalSnapshotter, image: Image, opts: UnpackOptions): Promise<{chainId: Digest; layers: LayerResult[]}> {
  const {layers} = image
  if (layers.length === 0) throw new InvalidArgumentError(`${image.source}: the image has no layers`)
  const chain = chainIds(layers.map(l => l.diffId))
  // A killed unpack's half-made layers of this image: take them over (they are extracted again below).
  await sn.reclaimExtracts(chain)
  const reusedTop = await topExisting(sn, chain)
  const results: LayerResult[] = layers.map((l, i) => ({
    index: i,
    chainId: chain[i]!,
    diffId: l.diffId,
    digest: l.digest ?? l.diffId,
    size: l.size ?? l.blobSize,
    mediaType: l.mediaType,
    status: i <= reusedTop ? 'reused' : 'extracted',
  }))
  for (let i = 0; i <= reusedTop; i++) {
    opts.events?.start?.(layers[i]!, layers.length)
    opts.events?.done?.(layers[i]!, layers.length, 'reused', 0)
  }
  const todo = layers.slice(reusedTop + 1)
  const parentOf = (i: number): string => (i === 0 ? '' : chain[i - 1]!)
  const labelsOf = (r: LayerResult): Record<string, string> => ({[LABEL_UNCOMPRESSED]: r.diffId, [LABEL_DIGEST]: r.digest})
  const format = sn.driver.name === 'overlayfs' ? 'overlay' : 'native'

  // The first failure stops the layers still streaming; the user's interrupt does too.
  const stop = new AbortController()
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal
  const slots = new Slots(Math.max(1, Math.min(opts.concurrency ?? os.availableParallelism(), MAX_CONCURRENT)))
  const failures: {index: number; err: unknown}[] = []
  const keys = new Map<number, string>()
  const committed: Digest[] = []

  const one = async (layer: ImageLayer, locked: Promise<Lock | null>, parentDone: Promise<void>): Promise<void> => {
    const r = results[layer.index]!
    const lock = await locked
    let staged: StagedLayer | undefined
    try {
      if (signal.aborted) throw interrupted(layer, signal)
      // Another unpack may have committed this layer since we looked (under its lock, which we now hold): use it.
      if (await committedOn(sn, r.chainId, parentOf(layer.index))) {
        await parentDone
        r.status = 'reused'
        opts.events?.start?.(layer, layers.length)
        opts.events?.done?.(layer, layers.length, 'reused', 0)
        return
      }
      const t0 = performance.now()
      staged = await slots.run(async () => {
        if (signal.aborted) throw interrupted(layer, signal)
        opts.events?.start?.(layer, layers.length)
        const dir = makeTempDir(sn.root)
        let done: StagedLayer | undefined
        try {
          const {digest} = await streamLayer(layer, async tar => void (done = await opts.stage(tar, {format, dir})), {
            onBytes: n => opts.events?.bytes?.(layer, n),
            signal,
          })
          r.digest = digest
          return done!
        } catch (err) {
          removeTree(dir)
          throw err
        }
      })
      // The parent must be committed before this layer can be prepared on it.
      await parentDone
      if (signal.aborted) throw interrupted(layer, signal)
      const key = extractKey(unique(), r.chainId)
      // Its owner recorded, so that if this process is killed, cleanup or the next unpack of the layer removes it.
      await sn.prepare(key, parentOf(layer.index), {labels: {[LABEL_EXTRACT_OWNER]: selfOwner()}})
      keys.set(layer.index, key)
      const paths = await sn.layerPaths(key)
      await staged.finish(paths.own!, paths.parents)
      if (await commitOrYield(sn, key, paths.own!, r.chainId, parentOf(layer.index), labelsOf(r))) {
        committed.push(r.chainId)
      } else {
        r.status = 'reused'
      }
      keys.delete(layer.index)
      opts.events?.done?.(layer, layers.length, r.status, performance.now() - t0)
    } catch (err) {
      failures.push({index: layer.index, err})
      stop.abort()
      throw err
    } finally {
      staged?.discard()
      await lock?.release()
    }
  }

  // One extraction per layer across processes: an unpack of the same layer
  // waits for the one under way, then reuses it. Locks are taken in layer
  // order (so two unpacks cannot deadlock) and held until the layer is in.
  const tasks: Promise<void>[] = []
  let locked: Promise<Lock | null> = Promise.resolve(null)
  let parentDone: Promise<void> = Promise.resolve()
  for (const layer of todo) {
    locked = locked.then(() => (signal.aborted ? null : layerLock(sn, results[layer.index]!.chainId)))
    const task = one(layer, locked, parentDone)
    task.catch(() => {})
    tasks.push(task)
    parentDone = task
  }
  await Promise.allSettled(tasks)
  if (failures.length > 0) {
    for (const key of keys.values()) await sn.remove(key).catch(() => {})
    // Take back the layers this call committed, top first; one another unpack already built on stays, with its base.
    for (const name of committed.reverse()) {
      try {
        await sn.remove(name)
      } catch {
        break
      }
    }
    // What went wrong first, not what stopping the others made of them; on the user's interrupt, the lowest layer's.
    const byLayer = [...failures].sort((a, b) => a.index - b.index)
    throw (opts.signal?.aborted ? byLayer[0]! : failures[0]!).err
  }
  return {chainId: chain[chain.length - 1]!, layers: results}
}

/** A counting semaphore: at most `n` of run()'s functions at once, the rest in call order. */
class Slots {
  #free: number
  #waiting: (() => void)[] = []
  constructor(n: number) {
    this.#free = n
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--
    else await new Promise<void>(resolve => this.#waiting.push(resolve))
    try {
      return await fn()
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#free++
    }
  }
}

/**
 * The lock `<root>/<snapshotter>/locks/<chainID hex>` (proper-lockfile, as the
 * metastore's: a killed holder's lock goes stale and is taken over). Null when
 * it cannot be had (waited too long, unwritable): the unpack then goes on
 * unlocked, and a race is still settled at commit (commitOrYield).
 */
async function layerLock(sn: LocalSnapshotter, chainId: Digest): Promise<Lock | null> {
  const dir = path.join(sn.root, 'locks')
  try {
    makeDirs(dir)
    return await acquireLock(path.join(dir, digestHex(chainId)))
  } catch {
    return null
  }
}

/** Index of the highest layer whose chainID is already committed with the right parent; -1 if none. */
async function topExisting(sn: LocalSnapshotter, chain: Digest[]): Promise<number> {
  const db = await sn.store.read()
  for (let i = chain.length - 1; i >= 0; i--) {
    const rec = q.getRecord(db, sn.namespace, chain[i]!)
    if (!rec) continue
    const parent = i === 0 ? '' : chain[i - 1]!
    if (rec.kind !== 'Committed' || rec.parent !== parent) {
      throw new FailedPreconditionError(`snapshot "${chain[i]}" exists but is not layer ${i + 1} of this image (it is ${rec.kind === 'Committed' ? `committed on parent "${rec.parent}"` : `${rec.kind.toLowerCase()}`}, expected committed on "${parent}")`)
    }
    return i
  }
  return -1
}

async function committedOn(sn: LocalSnapshotter, name: string, parent: string): Promise<boolean> {
  const rec = q.getRecord(await sn.store.read(), sn.namespace, name)
  return rec !== undefined && rec.kind === 'Committed' && rec.parent === parent
}

/** Commit; if another unpack committed the same chainID first, drop ours and use theirs. Returns whether ours was kept. */
async function commitOrYield(sn: LocalSnapshotter, key: string, dir: string, name: Digest, parent: string, labels: Record<string, string>): Promise<boolean> {
  try {
    await commitExtract(sn, key, dir, name, parent, labels)
    return true
  } catch (err) {
    if (!isKind(err, 'already-exists')) throw err
    const other = await sn.stat(name)
    if (other.kind !== 'Committed' || other.parent !== parent) throw err
    await sn.remove(key)
    return false
  }
}

const layerName = (l: ImageLayer): string => `layer ${l.index + 1} (${l.digest ?? l.diffId})`
/** The signal's own InterruptedError names which (SIGINT, SIGTERM); any other abort counts as SIGINT. */
function interrupted(l: ImageLayer, signal: AbortSignal | undefined): InterruptedError {
  const by = (signal?.reason instanceof InterruptedError ? signal.reason.signal : undefined) ?? 'SIGINT'
  return new InterruptedError(by, `${layerName(l)}: unpack interrupted by ${by}`)
}

/**
 * One pass over a layer blob: read -> hash (blob digest, size) -> decompress
 * -> hash (diffID) -> `consume` (tar extraction), all streaming. Whatever
 * `consume` leaves unread (tar stops at its end marker) is still hashed. The
 * result is verified against the manifest and the config; a mismatch or a
 * corrupt stream rejects, with both digests in the message.
 */
export async function streamLayer(
  layer: ImageLayer,
  consume: (tar: Readable) => Promise<void>,
  opts: {onBytes?: (n: number) => void; signal?: AbortSignal} = {},
): Promise<{digest: Digest; size: number; diffId: Digest}> {
  const what = layerName(layer)
  if (opts.signal?.aborted) throw interrupted(layer, opts.signal)
  const blob = new Hasher()
  const dec = decompressor(layer.compression)
  const diff = dec ? new Hasher() : blob
  const src = layer.open()
  let readAll = false
  let aborted = false
  const abort = (): void => {
    if (aborted) return
    aborted = true
    dec?.kill()
    src.destroy()
  }
  const onAbort = (): void => abort()
  opts.signal?.addEventListener('abort', onAbort)

  // Both sides are driven by stream events with pause/resume, not by async
  // iteration: a promise per chunk on each side cost more than the hashing.
  // Compressed side: blob -> hash -> the decompressor's stdin.
  const upstream = dec
    ? new Promise<void>((resolve, reject) => {
        const stdin = dec.stdin!
        src.on('data', (chunk: Buffer) => {
          blob.update(chunk)
          opts.onBytes?.(chunk.length)
          if (!stdin.write(chunk)) pauseUntilDrained(src, stdin)
        })
        src.once('end', () => {
          readAll = true
          dec.end()
          resolve()
        })
        src.once('error', reject)
        // The decompressor gone before it had everything (corrupt data, killed): its own error says why.
        dec.done.finally(() => {
          if (readAll) return
          src.destroy()
          reject(new ChildGone())
        }).catch(() => {})
      })
    : Promise.resolve()
  // Uncompressed side: hashed here, then handed on through `out`. Whatever the
  // consumer leaves unread (tar stops at its end marker) still counts for the
  // diffID, so once it has settled the rest is read and hashed regardless, even
  // when extraction failed: a corrupt blob or stream (digest, decompressor)
  // explains a failed extraction, not the reverse.
  const raw = (dec ? dec.stdout! : src) as Readable
  const out = new PassThrough({highWaterMark: 1 << 20})
  let consumed = false
  // start()'s placeholder 'readable' listener would keep the stream from flowing.
  raw.removeAllListeners('readable')
  const pumped = new Promise<void>((resolve, reject) => {
    raw.on('data', (chunk: Buffer) => {
      diff.update(chunk)
      if (!dec) opts.onBytes?.(chunk.length)
      if (consumed || out.destroyed) return
      if (!out.write(chunk)) pauseUntilDrained(raw, out)
    })
    raw.once('end', () => {
      if (!dec) readAll = true
      out.end()
      resolve()
    })
    raw.once('error', err => {
      out.destroy(err)
      reject(err)
    })
    // Destroyed without an end (an abort): the consumer must not wait for more.
    raw.once('close', () => {
      if (!raw.readableEnded) out.destroy(interrupted(layer, opts.signal))
      resolve()
    })
  })
  const applied = Promise.resolve().then(() => consume(out))
  applied.catch(() => {}).finally(() => {
    consumed = true
    if (!out.destroyed) out.destroy()
    raw.resume()
  })
  const decDone = dec ? dec.done.catch(err => {
    if (!aborted) throw err
  }) : Promise.resolve()

  const [up, decEnd, pump, app] = await Promise.allSettled([upstream, decDone, pumped, applied])
  opts.signal?.removeEventListener('abort', onAbort)
  if (opts.signal?.aborted) throw interrupted(layer, opts.signal)
  const digest = blob.digest()
  // The most telling failure first: a blob that is not what the manifest says explains all the others.
  if (readAll && layer.size !== undefined && blob.size !== layer.size) {
    throw new InvalidArgumentError(`${what}: size mismatch: the manifest says ${layer.size} bytes, the blob has ${blob.size} (digest ${digest})`)
  }
  if (readAll && layer.digest !== undefined && digest !== layer.digest) {
    throw new InvalidArgumentError(`${what}: digest mismatch: the manifest says ${layer.digest}, the blob is ${digest}`)
  }
  if (decEnd.status === 'rejected') {
    const e = decEnd.reason as Error
    throw new InvalidArgumentError(`${what}: corrupt or truncated ${layer.compression} data (${e.message})`)
  }
  if (app.status === 'rejected') {
    const e = app.reason
    if (e instanceof SnapshotError) e.message = `${what}: ${e.message}`
    throw e
  }
  for (const r of [up, pump]) if (r.status === 'rejected') throw r.reason
  const diffId = dec ? diff.digest() : digest
  if (diffId !== layer.diffId) {
    throw new InvalidArgumentError(`${what}: uncompressed digest mismatch: the config's diff_id is ${layer.diffId}, the content is ${diffId}`)
  }
  return {digest, size: blob.size, diffId}
}
