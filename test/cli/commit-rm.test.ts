import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

const ok = {stdout: '', stderr: '', exitCode: 0}

describe('commit and rm', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string}
  beforeEach(async () => {
    tmp = tempRoot()
    o = {root: path.join(tmp.dir, 'r')}
    // base <- c (active), base <- v (view), a2 (active, no parent)
    for (const args of [['prepare', 'a'], ['commit', 'base', 'a'], ['prepare', 'c', 'base'], ['view', 'v', 'base'], ['prepare', 'a2']]) {
      expect(await ctrsnap(args, o), args.join(' ')).toEqual(ok)
    }
  })
  afterEach(() => tmp.cleanup())

  const ls = async (): Promise<string> => (await ctrsnap(['ls'], o)).stdout

  it('commit is silent, turns the key into the name and keeps the parent', async () => {
    expect(await ctrsnap(['commit', 'c-done', 'c'], o)).toEqual(ok)
    expect(await ls()).toBe('KEY    PARENT KIND      \na2            Active    \nbase          Committed \nc-done base   Committed \nv      base   View      \n')
  })

  it('commit errors: view 5, committed 5, missing 3, taken name 4 (also `commit X X`); one line naming the key', async () => {
    const cases: [string[], number, string][] = [
      [['commit', 'x', 'v'], exitCodeFor('failed-precondition'), '"v"'],
      [['commit', 'x', 'base'], exitCodeFor('failed-precondition'), '"base"'],
      [['commit', 'x', 'missing'], exitCodeFor('not-found'), '"missing"'],
      [['commit', 'base', 'c'], exitCodeFor('already-exists'), '"base"'],
      [['commit', 'c', 'c'], exitCodeFor('already-exists'), '"c"'],
    ]
    for (const [args, code, names] of cases) {
      const r = await ctrsnap(args, o)
      expect({args, stdout: r.stdout, exitCode: r.exitCode}).toEqual({args, stdout: '', exitCode: code})
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^ctrsnap: [^\\n]*${names}[^\\n]*\\n$`))
    }
  })

  it('rm, remove, delete and del are silent and remove', async () => {
    expect(await ctrsnap(['rm', 'v'], o)).toEqual(ok)
    expect(await ctrsnap(['remove', 'c'], o)).toEqual(ok)
    expect(await ctrsnap(['delete', 'a2'], o)).toEqual(ok)
    expect(await ctrsnap(['del', 'base'], o)).toEqual(ok)
    expect(await ls()).toBe('KEY PARENT KIND \n')
    expect(fs.readdirSync(path.join(o.root, 'overlayfs', 'snapshots'))).toEqual([])
  })

  it('rm of a parent exits 5 naming it; rm of a missing key exits 3', async () => {
    const parent = await ctrsnap(['rm', 'base'], o)
    expect(parent).toMatchObject({stdout: '', exitCode: exitCodeFor('failed-precondition')})
    expect(parent.stderr).toMatch(/^ctrsnap: [^\n]*"base"[^\n]*child[^\n]*\n$/)
    expect(await ctrsnap(['rm', 'nope'], o)).toEqual({stdout: '', stderr: 'ctrsnap: snapshot "nope" does not exist\n', exitCode: exitCodeFor('not-found')})
  })

  it('rm of several keys stops at the first error: earlier removals kept, later keys untouched', async () => {
    const r = await ctrsnap(['rm', 'v', 'missing', 'a2'], o)
    expect(r).toMatchObject({stdout: '', exitCode: exitCodeFor('not-found')})
    expect(r.stderr).toMatch(/^ctrsnap: [^\n]*"missing"[^\n]*\n$/)
    expect(await ls()).toBe('KEY  PARENT KIND      \na2          Active    \nbase        Committed \nc    base   Active    \n')
  })

  it('a failed command changes nothing: same ls, same metadata.db bytes, same snapshot dirs', async () => {
    const dir = path.join(o.root, 'overlayfs')
    const state = async (): Promise<{ls: string; db: string; dirs: string[]}> => ({
      db: fs.readFileSync(path.join(dir, 'metadata.db')).toString('base64'),
      dirs: fs.readdirSync(path.join(dir, 'snapshots')).sort(),
      ls: await ls(),
    })
    const before = await state()
    const failing: string[][] = [
      ['prepare', 'c'], ['prepare', 'x', 'c'], ['view', 'x', 'nope'], ['commit', 'x', 'v'], ['commit', 'base', 'c'],
      ['rm', 'base'], ['label', 'c', `k=${'x'.repeat(4096)}`], ['label', 'c', 'ok=1', '=v'], ['label', 'missing', 'k=v'],
      ['prepare', '--label', `big=${'x'.repeat(4096)}`, 'newkey'], ['mounts', '/mnt/x', 'base'], ['prepare', ''],
    ]
    for (const args of failing) {
      const r = await ctrsnap(args, o)
      expect(r.exitCode, args.join(' ').slice(0, 60)).toBeGreaterThan(1)
      expect(r.stdout).toBe('')
    }
    expect(await state()).toEqual(before)
  })
})
