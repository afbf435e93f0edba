import {describe, expect, it} from 'vitest'
import {TarRewriter, TarScanner, entryHeader, ustarHeader, type TarEntry} from '../../src/core/layer/tar.js'
import {buildTar, dir, file, gnuLong, hardlink, symlink} from '../helpers/tar.js'

// The scanner must read the same entries however the stream is cut.
const sample = () =>
  buildTar([
    dir('d', {mtime: {sec: 5, nsec: 7}}),
    file('d/' + 'n'.repeat(200), 'x'.repeat(1000), {uid: 3_000_000, xattrs: {'user.a': 'b'}}),
    gnuLong('L', 'g/' + 'l'.repeat(300)),
    file('ignored-short-name', 'y'.repeat(512)),
    symlink('s', 't'.repeat(150)),
    hardlink('h', 'd/' + 'n'.repeat(200)),
    file('empty'),
  ])

function scan(buf: Buffer, chunk: number): {entries: TarEntry[]; consumed: number} {
  const entries: TarEntry[] = []
  const s = new TarScanner(e => entries.push(e))
  let consumed = 0
  for (let i = 0; i < buf.length; i += chunk) consumed += s.push(buf.subarray(i, i + chunk))
  s.end()
  return {entries, consumed}
}

describe('TarScanner / TarRewriter', () => {
  it('accepts unsigned and signed checksums, refuses anything else', () => {
    const h = ustarHeader({name: 'caf\xe9', flag: '0'})
    const names = (b: Buffer) => scan(Buffer.concat([b, Buffer.alloc(1024)]), 512).entries.map(e => e.name)
    expect(names(h)).toEqual(['caf\xe9'])
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]! > 127 ? h[i]! - 256 : h[i]!
    const signed = Buffer.from(h)
    signed.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1')
    expect(names(signed)).toEqual(['caf\xe9'])
    const wrong = Buffer.from(h)
    wrong.write((sum + 1).toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1')
    expect(() => names(wrong)).toThrow(/bad header checksum/)
  })

  it('reads the same entries for every chunking, and stops at the first zero block', () => {
    const buf = sample()
    const want = scan(buf, buf.length)
    expect(want.entries.map(e => e.name)).toEqual(['d', 'd/' + 'n'.repeat(200), 'g/' + 'l'.repeat(300), 's', 'h', 'empty'])
    expect(want.entries[0]!.mtime).toEqual({sec: 5, nsec: 7})
    expect(want.entries[1]).toMatchObject({uid: 3_000_000, size: 1000})
    expect(want.entries[1]!.xattrs.get('user.a')!.toString()).toBe('b')
    expect(want.entries[3]!.linkname).toBe('t'.repeat(150))
    expect(want.consumed).toBe(buf.length - 512)
    for (const chunk of [1, 7, 100, 511, 512, 513, 4096]) {
      const got = scan(buf, chunk)
      expect(got.entries.map(({start, dataStart, ...e}) => ({...e, start, dataStart}))).toEqual(want.entries)
      expect(got.consumed).toBe(want.consumed)
    }
  })

  it('rewrites chosen headers and passes everything else byte for byte, whatever the chunking', () => {
    const buf = sample()
    const decide = (e: TarEntry) => (e.name === 's' ? entryHeader({name: 'renamed', type: 'symlink', linkname: 'x'}) : e.name === 'empty' ? Buffer.alloc(0) : undefined)
    const whole = new TarRewriter(decide)
    const expected = Buffer.concat([...whole.push(buf), ...whole.end()])
    const names = scan(expected, expected.length).entries.map(e => e.name)
    expect(names).toEqual(['d', 'd/' + 'n'.repeat(200), 'g/' + 'l'.repeat(300), 'renamed', 'h'])
    const same = new TarRewriter(() => undefined)
    expect(Buffer.concat([...same.push(buf), ...same.end()]).equals(buf)).toBe(true)
    for (const chunk of [1, 13, 512, 700]) {
      const rw = new TarRewriter(decide)
      const out: Buffer[] = []
      for (let i = 0; i < buf.length; i += chunk) out.push(...rw.push(buf.subarray(i, i + chunk)))
      out.push(...rw.end())
      expect(Buffer.concat(out).equals(expected)).toBe(true)
    }
  })
})
