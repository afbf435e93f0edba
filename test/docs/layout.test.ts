import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

// The README's "On-disk layout" and the FILES section of ctrsnap(1), checked against the CLI.
describe('on-disk layout as documented', () => {
  let tmp: ReturnType<typeof tempRoot>
  beforeEach(() => { tmp = tempRoot() })
  afterEach(() => tmp.cleanup())

  it('commands that only read create nothing on a missing root', async () => {
    const root = path.join(tmp.dir, 'a/b')
    const reads = [['ls'], ['tree'], ['usage'], ['info', 'x'], ['label', 'x'], ['mounts', '/mnt/x', 'x'], ['cleanup', '--dry-run']]
    for (const args of reads) {
      const r = await ctrsnap(args, {root})
      expect([0, 3], `${args.join(' ')}: ${r.stderr}`).toContain(r.exitCode)
    }
    expect(fs.existsSync(path.join(tmp.dir, 'a'))).toBe(false)
  })

  it.each([
    ['overlayfs', ['fs', 'work']],
    ['native', []],
  ] as const)('%s: the first write creates <root>/<snapshotter> 0700 with metadata.db and snapshots/<id>', async (snapshotter, inside) => {
    const root = path.join(tmp.dir, 'a/b')
    expect((await ctrsnap(['prepare', 'k'], {root, snapshotter})).exitCode).toBe(0)
    for (const d of [path.join(tmp.dir, 'a'), root, path.join(root, snapshotter)]) expect((fs.statSync(d).mode & 0o777).toString(8), d).toBe('700')
    const dir = path.join(root, snapshotter)
    expect(fs.readdirSync(dir).sort()).toEqual(['metadata.db', 'snapshots'])
    const ids = fs.readdirSync(path.join(dir, 'snapshots'))
    expect(ids).toHaveLength(1)
    expect(ids[0]).toMatch(/^\d+$/)
    expect(fs.readdirSync(path.join(dir, 'snapshots', ids[0]!)).sort()).toEqual([...inside])
  })
})
