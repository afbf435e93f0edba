import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {buildImage, ociLayoutFiles, writeFiles} from '../helpers/image.js'
import {canMount, tempRoot} from '../helpers/root.js'
import {openSnapshotter} from '../../src/core/open.js'

// SIGINT and SIGTERM, sent for real at a known point of a command (the
// worker runs the built CLI and signals itself there): what the command had
// not persisted is rolled back, and it exits 130 or 143, as a shell expects.

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../helpers/worker-signal.mjs')

let tmp: ReturnType<typeof tempRoot>
beforeEach(() => {
  tmp = tempRoot('ctrsnap-interrupt-')
})
afterEach(() => tmp.cleanup())

async function signalled(signal: string, point: string, args: string[], snapshotter: string) {
  const r = await execa('node', [WORKER, signal, point, ...args], {env: {CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: snapshotter, DEBUG: ''}, reject: false, stripFinalNewline: false, cwd: tmp.dir})
  return {exitCode: r.exitCode, stdout: r.stdout as string, stderr: r.stderr as string}
}

/** Records and the snapshotter's directory, which an interrupted command must leave as they were. */
async function state(snapshotter: string) {
  const sn = openSnapshotter({root: tmp.dir, snapshotter})
  const ls = (await sn.walk()).map(i => [i.name, i.kind, i.parent, i.labels])
  const snaps = path.join(sn.root, 'snapshots')
  const lockDir = path.join(sn.root, 'locks')
  return {
    ls,
    // An unpack makes locks/ (empty once it is done): its content is compared below.
    root: fs.readdirSync(sn.root).filter(f => f !== 'locks').sort(),
    snapshots: fs.readdirSync(snaps).sort(),
    locks: fs.existsSync(lockDir) ? fs.readdirSync(lockDir) : [],
  }
}

const CODE = {SIGINT: 130, SIGTERM: 143} as const

describe.each(['SIGINT', 'SIGTERM'] as const)('%s', signal => {
  it.skipIf(!canMount)(`prepare on native, during the copy of a big parent: cp is killed, nothing is left, exit ${CODE[signal]} (needs root)`, async () => {
    const sn = openSnapshotter({root: tmp.dir, snapshotter: 'native'})
    await sn.prepare('big-a', '')
    const own = (await sn.layerPaths('big-a')).own!
    const chunk = Buffer.alloc(64 * 1024, 7)
    for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(own, `f${i}`), chunk) // 25 MiB
    await sn.commit('big', 'big-a')
    const before = await state('native')
    const r = await signalled(signal, 'spawn:cp', ['prepare', 'copy', 'big'], 'native')
    expect(r.stderr).toContain('[worker] cp ended by SIGKILL')
    expect([r.exitCode, r.stdout, r.stderr.split('\n').filter(l => !l.startsWith('[worker]'))]).toEqual([CODE[signal], '', [`ctrsnap: interrupted by ${signal}`, '']])
    expect(await state('native')).toEqual(before)
  })

  it.skipIf(!canMount)(`diff -o FILE, while tar writes the layer: no FILE and no temp file are left, exit ${CODE[signal]} (needs root)`, async () => {
    const sn = openSnapshotter({root: tmp.dir, snapshotter: 'overlayfs'})
    await sn.prepare('a', '')
    const own = (await sn.layerPaths('a')).own!
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(own, `f${i}`), `file ${i}\n`.repeat(1000))
    const before = await state('overlayfs')
    const r = await signalled(signal, 'spawn:tar', ['diff', '-o', 'layer.tar.gz', 'a'], 'overlayfs')
    expect(r.stderr).toContain('[worker] tar ended by SIGKILL')
    expect([r.exitCode, r.stdout, r.stderr.split('\n').filter(l => !l.startsWith('[worker]'))]).toEqual([CODE[signal], '', [`ctrsnap: interrupted by ${signal}`, '']])
    expect(fs.readdirSync(tmp.dir).filter(f => f.includes('layer'))).toEqual([])
    expect(await state('overlayfs')).toEqual(before)
  })

  it.skipIf(!canMount)(`unpack, while the first layer extracts: every layer it made is taken back, exit ${CODE[signal]} (needs root)`, async () => {
    const sn = openSnapshotter({root: tmp.dir, snapshotter: 'overlayfs'})
    await sn.prepare('keep', '')
    const img = buildImage([0, 1, 2].map(i => ({entries: [{name: `f${i}`, content: `layer ${i}\n`.repeat(5000)}]})))
    const dir = writeFiles(path.join(tmp.dir, 'img'), ociLayoutFiles([{image: img}]))
    const before = await state('overlayfs')
    const r = await signalled(signal, 'spawn:tar', ['unpack', '-q', '--jobs', '1', dir], 'overlayfs')
    expect(r.exitCode).toBe(CODE[signal])
    expect(r.stderr.split('\n').filter(l => !l.startsWith('[worker]'))).toEqual([expect.stringMatching(new RegExp(`^ctrsnap: layer 1 \\(sha256:[a-f0-9]{64}\\): unpack interrupted by ${signal}$`)), ''])
    expect(await state('overlayfs')).toEqual(before)
  })

  it(`cleanup, between two removals: it stops, the store stays consistent, and the next cleanup finishes, exit ${CODE[signal]}`, async () => {
    const sn = openSnapshotter({root: tmp.dir, snapshotter: 'overlayfs'})
    await sn.prepare('keep', '')
    const snaps = path.join(sn.root, 'snapshots')
    for (let i = 0; i < 5; i++) fs.mkdirSync(path.join(snaps, `${900 + i}`, 'fs'), {recursive: true})
    const r = await signalled(signal, 'rm:1', ['cleanup'], 'overlayfs')
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([CODE[signal], '', `ctrsnap: interrupted by ${signal}\n`])
    // One removed before the signal was seen; the rest left for the next run.
    const left = fs.readdirSync(snaps).filter(d => Number(d) >= 900)
    expect(left).toHaveLength(4)
    expect((await sn.walk()).map(i => i.name)).toEqual(['keep'])
    expect((await sn.cleanup()).items.map(i => path.basename(i.path)).sort()).toEqual(left.sort())
  })
})
