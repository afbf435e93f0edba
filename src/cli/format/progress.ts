import type {ImageLayer} from '../../core/image/source.js'
import type {LayerResult, LayerStatus, UnpackEvents} from '../../core/image/unpack.js'
import {humanSize} from './table.js'

/** stderr progress for unpack: bars on a terminal, one plain line per layer otherwise, nothing when quiet. */
export interface Progress extends UnpackEvents {
  finish(): void
}

export interface ProgressOptions {
  quiet?: boolean
  json?: boolean
  stream?: NodeJS.WriteStream
  env?: NodeJS.ProcessEnv
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr
  const env = opts.env ?? process.env
  if (opts.quiet || opts.json) return {finish() {}}
  if (stream.isTTY && !env.CI && env.TERM !== 'dumb') return new Bars(stream)
  return plain(stream)
}

const shown = (l: ImageLayer): string => l.digest ?? l.diffId
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`
const sizeOf = (l: ImageLayer): number => l.size ?? l.blobSize

/** ctr-style: `unpacking sha256:... (2/7) 31.4 MiB ... done 0.8s`, written when the layer is done. */
export function plainLine(l: ImageLayer, total: number, status: LayerStatus, ms: number): string {
  return `unpacking ${shown(l)} (${l.index + 1}/${total}) ${humanSize(sizeOf(l))} ... ${status === 'reused' ? 'already unpacked' : `done ${seconds(ms)}`}\n`
}

function plain(stream: NodeJS.WritableStream): Progress {
  return {
    done: (l, total, status, ms) => void stream.write(plainLine(l, total, status, ms)),
    finish() {},
  }
}

const BAR = 30

/** One line per layer, redrawn in place (at most ten times a second). */
class Bars implements Progress {
  #rows = new Map<number, {layer: ImageLayer; total: number; read: number; state: string}>()
  #drawn = 0
  #timer: NodeJS.Timeout | undefined
  #finished = false

  constructor(readonly stream: NodeJS.WriteStream) {}

  start(layer: ImageLayer, total: number): void {
    this.#rows.set(layer.index, {layer, total, read: 0, state: ''})
    this.#schedule()
  }

  bytes(layer: ImageLayer, n: number): void {
    const r = this.#rows.get(layer.index)
    if (r) r.read += n
    this.#schedule()
  }

  done(layer: ImageLayer, total: number, status: LayerStatus, ms: number): void {
    const r = this.#rows.get(layer.index) ?? {layer, total, read: 0, state: ''}
    r.read = sizeOf(layer)
    r.state = status === 'reused' ? 'already unpacked' : `done ${seconds(ms)}`
    this.#rows.set(layer.index, r)
    this.#schedule()
  }

  /** The final frame; after it nothing is redrawn (the cursor must not climb over what follows on the terminal). */
  finish(): void {
    if (this.#finished) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#draw()
    this.#finished = true
  }

  #schedule(): void {
    if (this.#finished) return
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      this.#draw()
    }, 100)
  }

  #draw(): void {
    const width = this.stream.columns || 100
    const lines = [...this.#rows.values()].sort((a, b) => a.layer.index - b.layer.index).map(r => {
      const size = sizeOf(r.layer)
      const frac = size > 0 ? Math.min(1, r.read / size) : 1
      const fill = Math.round(frac * BAR)
      const digest = shown(r.layer).slice(0, 19)
      const line = `${digest} (${r.layer.index + 1}/${r.total}) |${'+'.repeat(fill)}${' '.repeat(BAR - fill)}| ${humanSize(r.read)}/${humanSize(size)} ${r.state}`
      return line.length > width - 1 ? line.slice(0, width - 1) : line
    })
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : ''
    for (const l of lines) out += `\r\x1b[2K${l}\n`
    this.#drawn = lines.length
    this.stream.write(out)
  }
}

/** The documented `unpack --json` shape: one object per layer, bottom first. */
export interface UnpackLayerJson {
  chainId: string
  diffId: string
  digest: string
  size: number
  mediaType: string
  status: LayerStatus
}

export function unpackJson(layers: readonly LayerResult[]): UnpackLayerJson[] {
  return layers.map(l => ({chainId: l.chainId, diffId: l.diffId, digest: l.digest, size: l.size, mediaType: l.mediaType, status: l.status}))
}
