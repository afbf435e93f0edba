import {execFileSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {applyLayer} from '../../src/core/layer/apply.js'
import {openSnapshotter} from '../../src/core/open.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {isLinux, isRoot, tempRoot} from '../helpers/root.js'
import {buildTar, dir, file, streamOf, whiteout} from '../helpers/tar.js'

// CLI tests run the built command (npm run build first).
const root = isRoot && isLinux
let tmp: {dir: string; cleanup: () => void}
const sha = (b: Buffer): string => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`

describe.skipIf(!root)('ctrsnap diff (needs root)', () => {
  beforeAll(async () => {
    tmp = tempRoot('ctrsnap-diffcli-')
    const snap = openSnapshotter({root: tmp.dir, snapshotter: 'overlayfs'})
    for (const [name, parent, tar] of [
      ['base', '', buildTar([dir('etc'), file('etc/a', 'a'), file('etc/b', 'b')])],
      ['key', 'base', buildTar([whiteout('etc', 'a'), file('etc/c', 'c', {mtime: 5})])],
    ] as const) {
      await snap.prepare(`x-${name}`, parent)
      const p = await snap.layerPaths(`x-${name}`)
      await applyLayer(streamOf(tar), {format: 'whiteouts', target: p.own!, parents: p.parents})
      await snap.commit(name, `x-${name}`)
    }
  })
  afterAll(() => tmp?.cleanup())
  const opts = () => ({root: tmp.dir, snapshotter: 'overlayfs'})

  it('-o FILE: the layer in the file, digest and diffID on stderr', async () => {
    const out = path.join(tmp.dir, 'layer.tar.gz')
    const r = await ctrsnap(['diff', '-o', out, 'key'], opts())
    expect(r).toMatchObject({exitCode: 0, stdout: ''})
    const blob = fs.readFileSync(out)
    const plain = execFileSync('gzip', ['-dc'], {input: blob})
    expect(r.stderr).toBe(`digest: ${sha(blob)}\ndiffID: ${sha(plain)}\n`)
    expect(execFileSync('tar', ['-tf', '-'], {input: plain, encoding: 'utf8'}).split('\n').filter(Boolean).sort()).toEqual(['etc/', 'etc/.wh.a', 'etc/c'])
    expect(fs.readdirSync(tmp.dir).filter(n => n.includes('.tmp-'))).toEqual([])
  })

  it('--json with -o: {digest, diffId, size, mediaType} on stdout', async () => {
    const out = path.join(tmp.dir, 'layer.tar.zst')
    const r = await ctrsnap(['diff', '--json', '--compression', 'zstd', '-o', out, 'key', 'base'], opts())
    expect(r.exitCode).toBe(0)
    const blob = fs.readFileSync(out)
    expect(JSON.parse(r.stdout)).toEqual({digest: sha(blob), diffId: sha(execFileSync('zstd', ['-dc'], {input: blob})), size: blob.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd'})
  })

  it('stdout carries the exact layer when it is not a terminal', async () => {
    const r = await execa('node', [BIN, 'diff', '--compression', 'none', 'key'], {env: {CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: 'overlayfs'}, encoding: 'buffer', reject: false})
    expect(r.exitCode).toBe(0)
    const stdout = Buffer.from(r.stdout as Uint8Array)
    expect(Buffer.from(r.stderr as Uint8Array).toString()).toContain(`diffID: ${sha(stdout)}`)
  })

  it('a reader that stops early: one line, exit 8, for every compression', async () => {
    const snap = openSnapshotter({root: tmp.dir, snapshotter: 'overlayfs'})
    await snap.prepare('x-big', 'key')
    const p = await snap.layerPaths('x-big')
    await applyLayer(streamOf(buildTar([file('big', crypto.randomBytes(20 << 20))])), {format: 'whiteouts', target: p.own!, parents: p.parents})
    await snap.commit('big', 'x-big')
    for (const c of ['gzip', 'zstd', 'none']) {
      const r = await execa('bash', ['-c', `node ${BIN} diff --compression ${c} big | head -c 10 > /dev/null; echo "\${PIPESTATUS[0]}" >&2`], {env: {CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: 'overlayfs', DEBUG: ''}, reject: false})
      expect(r.stderr).toBe('ctrsnap: stdout was closed before the whole layer was written\n8')
    }
  })

  it('refuses to write a layer to a terminal', () => {
    let status = 0
    let text = ''
    try {
      text = execFileSync('script', ['-qec', `node ${BIN} diff key`, '/dev/null'], {env: {...process.env, CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: 'overlayfs', DEBUG: ''}, encoding: 'utf8'})
    } catch (err) {
      const e = err as {status: number; stdout: string}
      status = e.status
      text = e.stdout
    }
    expect(status).toBe(5)
    expect(text).toContain('ctrsnap: refusing to write a layer tar to a terminal: use -o FILE or redirect stdout')
  })

  it('errors: unknown key (3), --json without -o (6), bad compression (2); no file is left behind', async () => {
    const out = path.join(tmp.dir, 'never.tar')
    const r = await ctrsnap(['diff', '-o', out, 'nope'], opts())
    expect(r).toMatchObject({exitCode: 3, stdout: '', stderr: 'ctrsnap: snapshot "nope" does not exist\n'})
    expect(fs.existsSync(out)).toBe(false)
    expect(fs.readdirSync(tmp.dir).filter(n => n.includes('never'))).toEqual([])
    const j = await ctrsnap(['diff', '--json', 'key'], opts())
    expect(j.exitCode).toBe(6)
    expect(j.stdout).toContain('use it with -o FILE')
    const c = await ctrsnap(['diff', '--compression', 'lz4', '-o', out, 'key'], opts())
    expect(c.exitCode).toBe(2)
    const p = await ctrsnap(['diff', '-o', out, 'key', 'missing-parent'], opts())
    expect(p).toMatchObject({exitCode: 3, stderr: 'ctrsnap: snapshot "missing-parent" does not exist\n'})
  })
})
