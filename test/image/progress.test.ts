import {Writable} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {createProgress, plainLine} from '../../src/cli/format/progress.js'
import type {ImageLayer} from '../../src/core/image/source.js'

const layer = (index: number, size: number): ImageLayer => ({
  index,
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  compression: 'gzip',
  digest: `sha256:${String(index).repeat(64)}`,
  size,
  blobSize: size,
  diffId: `sha256:${'f'.repeat(64)}`,
  open: () => {
    throw new Error('not read')
  },
})

function sink(isTTY: boolean): {stream: NodeJS.WriteStream; text: () => string} {
  let out = ''
  const w = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk)
      cb()
    },
  }) as unknown as NodeJS.WriteStream
  Object.assign(w, {isTTY, columns: 200})
  return {stream: w, text: () => out}
}

describe('unpack progress', () => {
  it('plain lines are ctr-style, with size and time', () => {
    expect(plainLine(layer(1, 32_925_286), 7, 'extracted', 812)).toBe(`unpacking sha256:${'1'.repeat(64)} (2/7) 31.4 MiB ... done 0.8s\n`)
    expect(plainLine(layer(0, 1000), 7, 'reused', 0)).toBe(`unpacking sha256:${'0'.repeat(64)} (1/7) 1000.0 B ... already unpacked\n`)
  })

  it('writes one line per finished layer when stderr is not a terminal', () => {
    const s = sink(false)
    const p = createProgress({stream: s.stream, env: {}})
    p.start?.(layer(0, 10), 2)
    p.bytes?.(layer(0, 10), 10)
    p.done?.(layer(0, 10), 2, 'extracted', 100)
    p.finish()
    expect(s.text()).toBe(plainLine(layer(0, 10), 2, 'extracted', 100))
  })

  it('draws bars on a terminal, but plain lines under CI or TERM=dumb, and nothing with --quiet or --json', () => {
    const tty = sink(true)
    const p = createProgress({stream: tty.stream, env: {TERM: 'xterm'}})
    p.start?.(layer(0, 100), 1)
    p.bytes?.(layer(0, 100), 50)
    p.done?.(layer(0, 100), 1, 'extracted', 1500)
    p.finish()
    expect(tty.text()).toMatch(/\r\x1b\[2Ksha256:0{12}\S* \(1\/1\) \|\++\| 100\.0 B\/100\.0 B done 1\.5s\n$/)
    // After the final frame nothing redraws: the cursor would climb over the chainID printed below it.
    const final = tty.text()
    p.done?.(layer(0, 100), 1, 'extracted', 1500)
    p.finish()
    expect(tty.text()).toBe(final)
    for (const env of [{CI: 'true'}, {TERM: 'dumb'}]) {
      const s = sink(true)
      const q = createProgress({stream: s.stream, env})
      q.done?.(layer(0, 100), 1, 'extracted', 1500)
      expect(s.text()).toBe(plainLine(layer(0, 100), 1, 'extracted', 1500))
    }
    for (const opts of [{quiet: true}, {json: true}]) {
      const s = sink(true)
      const q = createProgress({...opts, stream: s.stream, env: {}})
      q.start?.(layer(0, 100), 1)
      q.done?.(layer(0, 100), 1, 'extracted', 1)
      q.finish()
      expect(s.text()).toBe('')
    }
  })
})
