import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {applyLayer, stageLayer} from '../../src/core/layer/apply.js'
import {InvalidArgumentError, UnavailableError} from '../../src/core/errors.js'
import {isLinux, isRoot, tempRoot, tempRootFor} from '../helpers/root.js'
import {blockdev, buildTar, canary, chardev, dir, fifo, file, gnuLong, hardlink, opaque, raw, streamOf, symlink, treeOf, whiteout} from '../helpers/tar.js'
import {entryHeader, ustarHeader} from '../../src/core/layer/tar.js'
import type {LayerFormat} from '../../src/core/snapshotter.js'

const root = isRoot && isLinux
let tmp: {dir: string; cleanup: () => void}
beforeEach(() => {
  tmp = tempRoot('ctrsnap-layer-')
})
afterEach(() => tmp.cleanup())

const mk = (...p: string[]): string => {
  const d = path.join(tmp.dir, ...p)
  fs.mkdirSync(d, {recursive: true})
  return d
}
const hex = (s: string): string => '0x' + Buffer.from(s).toString('hex')

const everything = () => [
  dir('etc', {mode: 0o755, uid: 0, gid: 0, mtime: 1000}),
  file('etc/passwd', 'root:x:0:0\n', {mode: 0o644, mtime: {sec: 1600000000, nsec: 123456789}}),
  file('etc/shadow', 'secret', {mode: 0o640, uid: 0, gid: 42}),
  file('usr/bin/su', 'ELF', {mode: 0o4755, uid: 0, gid: 0, mtime: 2000}),
  file('usr/bin/ping', 'ELF2', {mode: 0o755, xattrs: {'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex')}}),
  dir('tmp', {mode: 0o1777, mtime: 3000}),
  file('home/u/f', 'data', {uid: 1000, gid: 1000, xattrs: {'user.note': 'hello', 'trusted.t': 'v'}}),
  hardlink('home/u/g', 'home/u/f'),
  symlink('home/u/abs', '/etc/passwd'),
  symlink('home/u/rel', '../../etc'),
  chardev('dev/null', 1, 3, {mode: 0o666}),
  blockdev('dev/sda', 8, 0, {mode: 0o660, gid: 6}),
  fifo('run/fifo', {mode: 0o600}),
  file('a/' + 'x'.repeat(150) + '/' + 'long-name-'.repeat(12), 'long', {mode: 0o600}),
  file('caf\u00e9', 'utf8 name'),
]

describe.skipIf(!root)('applyLayer (needs root)', () => {
  for (const format of ['whiteouts', 'deletions'] as const) {
    it(`${format}: every entry type with owners, modes, mtimes, xattrs, links`, async () => {
      const target = mk('snap', 'fs')
      await applyLayer(streamOf(buildTar(everything()), 1000), {format, target, parents: []})
      const t = treeOf(target)
      expect(t['etc']).toMatchObject({type: 'dir', mode: 0o755, mtimeNs: '1000000000000'})
      expect(t['etc/passwd']).toMatchObject({type: 'file', mode: 0o644, mtimeNs: '1600000000123456789', size: 11})
      expect(t['etc/shadow']).toMatchObject({mode: 0o640, gid: 42})
      expect(t['usr/bin/su']).toMatchObject({mode: 0o4755, mtimeNs: '2000000000000'})
      expect(t['usr/bin/ping']!.xattrs).toContain('security.capability=0x0100000200200000')
      expect(t['tmp']).toMatchObject({mode: 0o1777, mtimeNs: '3000000000000'})
      expect(t['home/u/f']).toMatchObject({uid: 1000, gid: 1000, xattrs: `trusted.t=${hex('v')},user.note=${hex('hello')}`})
      expect(t['home/u/g']!.linkGroup).toBe('home/u/f')
      expect(t['home/u/f']!.linkGroup).toBe('home/u/f')
      expect(t['home/u/abs']).toMatchObject({type: 'symlink', link: '/etc/passwd'})
      expect(t['home/u/rel']).toMatchObject({type: 'symlink', link: '../../etc'})
      expect(t['dev/null']).toMatchObject({type: 'char', rdev: (1 << 8) | 3, mode: 0o666})
      expect(t['dev/sda']).toMatchObject({type: 'block', rdev: 8 << 8, gid: 6})
      expect(t['run/fifo']).toMatchObject({type: 'fifo', mode: 0o600})
      expect(t['a/' + 'x'.repeat(150) + '/' + 'long-name-'.repeat(12)]).toMatchObject({size: 4})
      expect(t['caf\u00e9']).toMatchObject({size: 9})
      // Nothing else: no staging dirs left next to the target, no markers.
      expect(fs.readdirSync(path.dirname(target))).toEqual(['fs'])
    })
  }

  // The end marker is held back and replaced (overlay: by a root entry restoring the root) whatever the chunking.
  for (const chunk of [1, 100, 511, 512, 513, 1536, 1 << 16]) {
    for (const end of [true, false]) {
      it(`overlay: a root entry in ${chunk}-byte chunks, ${end ? 'with' : 'without'} an end marker: the root keeps its ns metadata, the content lands`, async () => {
        const target = mk('snap', 'fs')
        fs.chmodSync(target, 0o711)
        execFileSync('touch', ['-d', '2001-02-03 04:05:06.123456789', target])
        const tar = buildTar([dir('.', {mode: 0o700, uid: 9, mtime: 1}), file('a/f', 'abc'), dir('d', {mtime: 30}), file('d/g', 'x'.repeat(700))], {end})
        await applyLayer(streamOf(tar, chunk), {format: 'whiteouts', target, parents: []})
        const t = treeOf(target)
        expect(t['.']).toMatchObject({mode: 0o711, uid: 0, mtimeNs: '981173106123456789'})
        expect(t['a/f']).toMatchObject({size: 3})
        expect(t['d']).toMatchObject({mtimeNs: '30000000000'})
        expect(t['d/g']).toMatchObject({size: 700})
      })
    }
  }

  for (const format of ['whiteouts', 'deletions'] as const) {
    it(`${format}: names in any bytes and lengths, a root entry, dirs listed after their content, file caps on a non-root file`, async () => {
      const target = mk('snap', 'fs')
      fs.chmodSync(target, 0o755)
      fs.utimesSync(target, 1234, 1234)
      const longUtf8 = 'déjà-vu/'.repeat(12) + '日本語'.repeat(20)
      const tar = buildTar([
        dir('.', {mode: 0o700, uid: 9, mtime: 1}),
        file('a/b/c', 'abc', {mtime: 10}),
        dir('z', {mtime: 30}),
        dir('a/b', {mode: 0o750, mtime: 20}),
        file('z/after', 'x'),
        file(longUtf8, 'long utf8'),
        file('bin/capped', 'x', {uid: 1000, gid: 1000, mode: 0o750, xattrs: {'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex')}}),
      ])
      // one name that is not UTF-8 at all, written as raw bytes
      const rawName = entryHeader({name: 'raw-\xff\xfe', type: 'file'})
      const full = Buffer.concat([rawName, tar])
      await applyLayer(streamOf(full, 333), {format, target, parents: []})
      const t = treeOf(target)
      // The root keeps what it had: containerd ignores a layer's root entry.
      expect(t['.']).toMatchObject({mode: 0o755, uid: 0, mtimeNs: '1234000000000'})
      expect(t['a/b']).toMatchObject({mode: 0o750, mtimeNs: '20000000000'})
      expect(t['z']).toMatchObject({mtimeNs: '30000000000'})
      expect(t[longUtf8]).toMatchObject({size: 9})
      expect(t['bin/capped']).toMatchObject({uid: 1000, mode: 0o750})
      expect(t['bin/capped']!.xattrs).toContain('security.capability=0x0100000200200000')
      expect(t[`hex:${Buffer.from('raw-\xff\xfe', 'latin1').toString('hex')}`]).toMatchObject({type: 'file', size: 0})
    })
  }

  it('overlay: whiteouts become 0:0 char devices, opaque markers the trusted.overlay.opaque xattr', async () => {
    const lower = mk('1', 'fs')
    fs.mkdirSync(path.join(lower, 'd/keep'), {recursive: true})
    fs.writeFileSync(path.join(lower, 'gone'), 'x')
    const upper = mk('2', 'fs')
    const tar = buildTar([
      dir('d', {mode: 0o750, mtime: 5000}),
      whiteout('d', 'keep', {uid: 7, gid: 8}),
      whiteout('', 'gone'),
      dir('o', {mtime: 6000}),
      opaque('o'),
      file('o/new', 'n'),
      whiteout('', 'both'),
      dir('both', {mtime: 7000}),
      whiteout('', 'replaced'),
      file('replaced', 'r'),
    ])
    await applyLayer(streamOf(tar), {format: 'whiteouts', target: upper, parents: [lower]})
    const t = treeOf(upper)
    expect(t['d/keep']).toMatchObject({type: 'char', rdev: 0, uid: 7, gid: 8})
    expect(t['gone']).toMatchObject({type: 'char', rdev: 0})
    expect(t['d']).toMatchObject({mode: 0o750, mtimeNs: '5000000000000'})
    expect(t['o']).toMatchObject({mtimeNs: '6000000000000', xattrs: `trusted.overlay.opaque=${hex('y')}`})
    expect(t['both']).toMatchObject({type: 'dir', mtimeNs: '7000000000000', xattrs: `trusted.overlay.opaque=${hex('y')}`})
    expect(t['replaced']).toMatchObject({type: 'file', size: 1})
    expect(Object.keys(t).filter(k => k.includes('.wh.'))).toEqual([])
  })

  it('overlay: a directory the layer only implies is copied up from the nearest lower (owner, mode, times, xattrs but trusted.*)', async () => {
    const l2 = mk('1', 'fs')
    const l1 = mk('2', 'fs')
    fs.mkdirSync(path.join(l2, 'opt/app'), {recursive: true})
    fs.chmodSync(path.join(l2, 'opt/app'), 0o711)
    fs.chownSync(path.join(l2, 'opt/app'), 5, 6)
    execFileSync('setfattr', ['-n', 'user.copied', '-v', 'yes', path.join(l2, 'opt/app')])
    execFileSync('setfattr', ['-n', 'trusted.not', '-v', 'no', path.join(l2, 'opt/app')])
    fs.utimesSync(path.join(l2, 'opt/app'), 12345, 12345)
    fs.mkdirSync(path.join(l1, 'opt'))
    fs.chmodSync(path.join(l1, 'opt'), 0o700)
    fs.utimesSync(path.join(l1, 'opt'), 777, 777)
    const upper = mk('3', 'fs')
    await applyLayer(streamOf(buildTar([file('opt/app/bin', 'b'), whiteout('opt/app', 'old')])), {format: 'whiteouts', target: upper, parents: [l1, l2]})
    const t = treeOf(upper)
    expect(t['opt']).toMatchObject({mode: 0o700, mtimeNs: '777000000000'})
    expect(t['opt/app']).toMatchObject({mode: 0o711, uid: 5, gid: 6, mtimeNs: '12345000000000', xattrs: `user.copied=${hex('yes')}`})
  })

  it('deletions: staging on another file system than the target (btrfs subvolumes are) merges as on one: hard links kept, deletions applied, root metadata kept, nothing left behind', async () => {
    const parentTree = (t: string): void => {
      fs.mkdirSync(path.join(t, 'gone/deep'), {recursive: true})
      fs.writeFileSync(path.join(t, 'gone/deep/f'), 'x')
      fs.mkdirSync(path.join(t, 'keep'))
      fs.writeFileSync(path.join(t, 'keep/old'), 'o')
      fs.utimesSync(path.join(t, 'keep/old'), 4444, 4444)
      fs.chmodSync(t, 0o751)
      fs.utimesSync(t, 5555, 5555)
    }
    const layer = () => buildTar([whiteout('', 'gone'), dir('keep', {mtime: 6000}), file('keep/new', 'n', {mtime: 7000}), file('a/f', 'data'), hardlink('b/g', 'a/f'), symlink('keep/s', '../a/f')])
    const same = mk('same')
    parentTree(same)
    await applyLayer(streamOf(layer()), {format: 'deletions', target: same, parents: []})
    // The staging dir on a tmpfs of its own: another st_dev, so rename(2) gives EXDEV.
    const tmpfs = mk('tmpfs')
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', tmpfs])
    try {
      const staging = fs.mkdtempSync(path.join(tmpfs, 'new-'))
      const target = mk('cross')
      parentTree(target)
      const staged = await stageLayer(streamOf(layer()), {format: 'deletions', dir: staging})
      await staged.finish(target, [])
      staged.discard()
      expect(fs.statSync(staging, {throwIfNoEntry: false})).toBeUndefined()
      // Directories the layer only implies (a, b) get the time of their extraction, which differs between the two runs.
      const cross = treeOf(target, {dirMtimes: false})
      expect(cross).toEqual(treeOf(same, {dirMtimes: false}))
      expect(treeOf(target)['keep']!.mtimeNs).toBe('6000000000000')
      expect(cross['b/g']!.linkGroup).toBe('a/f')
      expect(cross['gone']).toBeUndefined()
      expect(Object.keys(cross).filter(k => k.startsWith('new-'))).toEqual([])
      expect(fs.statSync(target).mtimeMs).toBe(5555000)
    } finally {
      execFileSync('umount', [tmpfs])
    }
  })

  it('native: whiteouts and opaque dirs delete from the parent copy before the layer lands; dir metadata as overlay shows it', async () => {
    const target = mk('snap')
    fs.mkdirSync(path.join(target, 'd/sub'), {recursive: true})
    fs.writeFileSync(path.join(target, 'd/sub/f'), 'x')
    fs.writeFileSync(path.join(target, 'd/keep'), 'k')
    fs.mkdirSync(path.join(target, 'o'))
    fs.writeFileSync(path.join(target, 'o/old'), 'old')
    fs.mkdirSync(path.join(target, 'imp'))
    fs.chmodSync(path.join(target, 'imp'), 0o701)
    fs.utimesSync(path.join(target, 'imp'), 4444, 4444)
    fs.writeFileSync(path.join(target, 'both'), 'file in parent')
    fs.mkdirSync(path.join(target, 'x'))
    fs.writeFileSync(path.join(target, 'x/lower'), 'l')
    execFileSync('setfattr', ['-n', 'user.old', '-v', '1', path.join(target, 'x')])
    const tar = buildTar([
      whiteout('d', 'sub'),
      opaque('o'),
      file('o/new', 'n'),
      whiteout('', 'both'),
      dir('both', {mtime: 7000}),
      file('both/in', 'i'),
      file('imp/added', 'a'),
      whiteout('imp', 'nothing-there'),
      dir('x', {mode: 0o711, uid: 3, gid: 4, mtime: 9000, xattrs: {'user.new': '2'}}),
      file('x/upper', 'u'),
    ])
    await applyLayer(streamOf(tar, 700), {format: 'deletions', target, parents: []})
    const t = treeOf(target)
    expect(t['d/sub']).toBeUndefined()
    expect(t['d/keep']).toMatchObject({size: 1})
    expect(Object.keys(t).filter(k => k.startsWith('o/'))).toEqual(['o/new'])
    expect(t['both']).toMatchObject({type: 'dir', mtimeNs: '7000000000000'})
    expect(t['both/in']).toBeDefined()
    expect(t['imp']).toMatchObject({mode: 0o701, mtimeNs: '4444000000000'})
    expect(t['imp/added']).toBeDefined()
    expect(t['x']).toMatchObject({mode: 0o711, uid: 3, gid: 4, mtimeNs: '9000000000000', xattrs: `user.new=${hex('2')}`})
    expect(t['x/lower']).toBeDefined()
    expect(t['x/upper']).toBeDefined()
    expect(Object.keys(t).filter(k => k.includes('.wh.'))).toEqual([])
    expect(fs.readdirSync(tmp.dir)).toEqual(['snap'])
  })

  describe('hostile layers are refused or confined', () => {
    // Each case: the outside dir holds a canary that must not change, and nothing may appear next to it.
    type Case = {name: string; specs: (out: string) => Buffer; refused: boolean; setup?: (target: string, lower: string, outside: string) => void; formats?: LayerFormat[]}
    const cases: Case[] = [
      {name: '../ escape', specs: out => buildTar([file('../../../outside/canary', 'pwned')]), refused: true},
      {name: 'absolute name', specs: out => buildTar([file('/tmp/x', 'pwned')]), refused: true},
      {name: 'PAX path with ..', specs: out => buildTar([file('ok', 'pwned', {pax: {path: 'a/../../outside/canary'}})]), refused: true},
      {name: 'GNU long name with ..', specs: out => buildTar([gnuLong('L', '../'.repeat(40) + 'outside/canary'), file('short', 'pwned')]), refused: true},
      {name: 'symlink to outside, then a file through it', specs: out => buildTar([symlink('evil', out), file('evil/canary', 'pwned')]), refused: true},
      {name: 'relative symlink climbing, then a file through it', specs: out => buildTar([dir('a'), symlink('a/up', '../../../../../../..'), file('a/up/tmp/x', 'pwned')]), refused: true},
      {name: 'symlink chain, then a dir entry and file through it', specs: out => buildTar([symlink('s1', out), symlink('s2', 's1'), dir('s2/sub'), file('s2/sub/f', 'pwned')]), refused: true},
      {name: 'symlink replaced by a dir, then a file', specs: out => buildTar([symlink('s', out), dir('s'), file('s/canary', 'pwned')]), refused: true},
      {name: 'hard link to ../', specs: out => buildTar([hardlink('l', '../../outside/canary')]), refused: true},
      {name: 'hard link to an absolute path', specs: out => buildTar([hardlink('l', out + '/canary')]), refused: true},
      {name: 'hard link through a symlink', specs: out => buildTar([symlink('s', out), hardlink('l', 's/canary')]), refused: true},
      {name: 'hard link to a symlink, then a file through the link', specs: out => buildTar([symlink('s', out), hardlink('l', 's'), file('l/canary', 'pwned')]), refused: true},
      {name: 'whiteout ".wh." alone', specs: out => buildTar([file('.wh.')]), refused: true},
      {name: 'whiteout ".wh.." (parent)', specs: out => buildTar([file('d/.wh..')]), refused: true},
      {name: 'whiteout ".wh..." climbing as a dir', specs: out => buildTar([file('.wh.../x')]), refused: true},
      {name: 'whiteout directory', specs: out => buildTar([dir('.wh.x')]), refused: true},
      {name: 'hard link to a whiteout', specs: out => buildTar([whiteout('', 'x'), hardlink('l', '.wh.x')]), refused: true},
      {name: 'bad header checksum', specs: out => { const b = buildTar([file('a', 'x')]); b[0] = 0x62; return b }, refused: true},
      {name: 'data claimed by a symlink header', specs: out => buildTar([raw(ustarHeader({name: 'l', flag: '2', linkname: 'x', size: 512}), Buffer.alloc(512)), file('b')]), refused: true},
      {name: 'sparse entry', specs: out => buildTar([raw(ustarHeader({name: 's', flag: 'S', size: 0}))]), refused: true},
      {name: 'unknown entry type', specs: out => buildTar([raw(ustarHeader({name: 'u', flag: 'Z', size: 0}))]), refused: true},
      {name: 'global PAX header with a path', specs: out => { const rec = Buffer.from('30 path=../../outside/canary\n'); return buildTar([raw(ustarHeader({name: 'g', flag: 'g', size: rec.length}), rec), file('a', 'pwned')]) }, refused: true},
      {name: 'ustar prefix field climbing', specs: () => { const h = ustarHeader({name: 'canary', flag: '0', size: 5}); h.write('../../outside', 345, 'latin1'); return buildTar([raw(h, Buffer.from('pwned'))]) }, refused: true},
      {name: 'oversized PAX header (memory bomb)', specs: () => buildTar([raw(ustarHeader({name: 'p', flag: 'x', size: 64 << 20}))], {end: false}), refused: true},
      {name: 'oversized GNU long name', specs: () => buildTar([raw(ustarHeader({name: 'l', flag: 'L', size: 8 << 20}))], {end: false}), refused: true},
      {name: 'non-octal size', specs: out => { const h = ustarHeader({name: 'a', flag: '0', size: 0}); h.write('12z4\0', 124, 'latin1'); return buildTar([raw(h)]) }, refused: true},
      {name: 'trusted.overlay xattr smuggled in (dropped)', specs: out => buildTar([dir('d', {xattrs: {'trusted.overlay.redirect': '/x', 'user.ok': '1'}})]), refused: false},
      {
        name: 'symlink already in the parent copy on the path of an entry (replaced, not followed)',
        specs: out => buildTar([file('etc/canary', 'pwned'), whiteout('etc', 'canary')]),
        setup: (target, _lower, outside) => fs.symlinkSync(outside, path.join(target, 'etc')),
        refused: false,
        formats: ['deletions'],
      },
      {
        name: 'opaque marker under a symlink already in the parent copy',
        specs: out => buildTar([opaque('etc')]),
        setup: (target, _lower, outside) => fs.symlinkSync(outside, path.join(target, 'etc')),
        refused: false,
        formats: ['deletions'],
      },
      {
        name: 'symlink in a lower layer on the path of an entry',
        specs: out => buildTar([file('etc/canary', 'pwned'), whiteout('etc', 'canary'), opaque('etc')]),
        setup: (_t, lower, outside) => fs.symlinkSync(outside, path.join(lower, 'etc')),
        refused: false,
        formats: ['whiteouts'],
      },
    ]
    // overlayfs' format, native's, and native's into a btrfs subvolume (as the btrfs snapshotter applies a layer:
    // staged outside the snapshot's subvolume, so the merge crosses file systems).
    const variants = [
      {format: 'whiteouts', on: ''},
      {format: 'deletions', on: ''},
      {format: 'deletions', on: ' into a btrfs subvolume'},
    ] as const
    for (const {format, on} of variants) {
      for (const c of cases) {
        if (c.formats && !c.formats.includes(format)) continue
        it(`${format}${on}: ${c.name}`, async () => {
          const outside = path.join(tmp.dir, 'outside')
          const can = canary(outside)
          const store = on ? tempRootFor('btrfs', 'ctrsnap-layer-') : undefined
          try {
            const snaps = path.join(store?.dir ?? tmp.dir, 'root', 'snapshots')
            const lower = path.join(snaps, '1', 'fs')
            fs.mkdirSync(lower, {recursive: true})
            const target = path.join(snaps, '2', ...(format === 'whiteouts' ? ['fs'] : []))
            if (store) {
              execFileSync('btrfs', ['-q', 'subvolume', 'create', target])
              // applyLayer stages next to the target: outside the subvolume, another st_dev.
              expect(fs.statSync(snaps).dev).not.toBe(fs.statSync(target).dev)
            } else {
              fs.mkdirSync(target, {recursive: true})
            }
            c.setup?.(target, lower, outside)
            const p = applyLayer(streamOf(c.specs(outside), 512), {format, target, parents: format === 'whiteouts' ? [lower] : []})
            if (c.refused) await expect(p).rejects.toBeInstanceOf(InvalidArgumentError)
            else await p
            can.assertUntouched()
            expect(fs.readFileSync(can.path, 'utf8')).toBe('canary\n')
            if (!c.refused) {
              const t = treeOf(target)
              for (const [k, v] of Object.entries(t)) expect(v.xattrs, k).not.toContain('trusted.overlay.redirect')
              if (c.name.startsWith('symlink already')) expect(t['etc']).toMatchObject({type: 'dir'})
              expect(Object.keys(t).filter(k => k.startsWith('new-'))).toEqual([])
            }
            // no staging dir left behind
            expect(fs.readdirSync(snaps).sort()).toEqual(['1', '2'])
          } finally {
            store?.cleanup()
          }
        })
      }
    }
  })

  it('a POSIX ustar prefix field is part of the name, for the checks and for tar alike', async () => {
    const target = mk('t')
    const h = ustarHeader({name: 'file', flag: '0', size: 2})
    h.write('a/b', 345, 'latin1')
    await applyLayer(streamOf(buildTar([raw(h, Buffer.from('hi')), symlink('s', '/'), ])), {format: 'whiteouts', target, parents: []})
    expect(fs.readFileSync(path.join(target, 'a/b/file'), 'utf8')).toBe('hi')
    const bad = ustarHeader({name: 'x', flag: '0', size: 0})
    bad.write('s', 345, 'latin1')
    const t2 = mk('t2')
    await expect(applyLayer(streamOf(buildTar([symlink('s', '/tmp'), raw(bad)])), {format: 'whiteouts', target: t2, parents: []})).rejects.toThrow(/goes through the symlink/)
  })

  it('overlay refuses an upper dir that is not empty (tar would follow a symlink in it)', async () => {
    const outside = path.join(tmp.dir, 'outside')
    const can = canary(outside)
    const upper = mk('up')
    fs.symlinkSync(outside, path.join(upper, 'etc'))
    await expect(applyLayer(streamOf(buildTar([file('etc/canary', 'pwned')])), {format: 'whiteouts', target: upper, parents: []})).rejects.toThrow(/not empty/)
    can.assertUntouched()
  })

  it('a truncated layer is an InvalidArgumentError naming the problem', async () => {
    const full = buildTar([file('a', 'x'.repeat(5000)), file('b', 'y')])
    const target = mk('t')
    const err = await applyLayer(streamOf(full.subarray(0, 2000)), {format: 'whiteouts', target, parents: []}).catch(e => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(String(err.message)).toMatch(/truncated/)
  })

  it('an error from the input stream propagates and tar is stopped', async () => {
    const target = mk('t')
    const {Readable} = await import('node:stream')
    const s = new Readable({read() {}})
    s.push(buildTar([file('a', 'x')], {end: false}))
    setTimeout(() => s.destroy(new Error('gzip: unexpected end of file')), 20)
    await expect(applyLayer(s, {format: 'deletions', target, parents: []})).rejects.toThrow(/unexpected end of file/)
    expect(fs.readdirSync(tmp.dir)).toEqual(['t'])
  })

  it('a full disk is an UnavailableError', async () => {
    const mnt = mk('small')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt])
    try {
      const target = path.join(mnt, 'fs')
      fs.mkdirSync(target)
      const err = await applyLayer(streamOf(buildTar([file('big', Buffer.alloc(1 << 20, 1))])), {format: 'deletions', target, parents: []}).catch(e => e)
      expect(err).toBeInstanceOf(UnavailableError)
      expect(err.message).toMatch(/no space left/)
      expect(fs.readdirSync(mnt)).toEqual(['fs'])
    } finally {
      execFileSync('umount', [mnt])
    }
  })

  it('stops at the end marker: what follows is neither extracted nor read (streamLayer hashes it)', async () => {
    const target = mk('t')
    const first = buildTar([file('a', 'x')])
    const tar = Buffer.concat([first, buildTar([file('b', 'y')])])
    let read = 0
    const s = streamOf(tar, 100)
    s.on('data', (c: Buffer) => (read += c.length))
    await applyLayer(s, {format: 'whiteouts', target, parents: []})
    expect(fs.readdirSync(target)).toEqual(['a'])
    expect(read).toBeLessThan(first.length)
    expect(s.readableEnded).toBe(false)
  })
})
