import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

// The README's "Differences from ctr snapshots", each claim run against the CLI.
describe('README differences from ctr', () => {
  let tmp: ReturnType<typeof tempRoot>
  beforeEach(() => { tmp = tempRoot() })
  afterEach(() => tmp.cleanup())

  it('no gc.root label, labels sorted, --label on prepare, view and commit, views stay', async () => {
    const o = {root: tmp.dir}
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
    expect(await ctrsnap(['label', 'a'], o)).toEqual({stdout: '\n', stderr: '', exitCode: 0})
    expect((await ctrsnap(['label', 'a', 'z=1', 'b=2', 'm'], o)).stdout).toBe('b=2,m=true,z=1\n')
    expect((await ctrsnap(['commit', '--label', 'c=1', 'base', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['label', 'base'], o)).stdout).toBe('c=1\n')
    expect((await ctrsnap(['view', '--label', 'v=1', 'look', 'base'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', '--label', 'p=1', 'work', 'base'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['label', 'look'], o)).stdout).toBe('v=1\n')
    expect((await ctrsnap(['label', 'work'], o)).stdout).toBe('p=1\n')
    // ctr's GC would take the view at the next removal.
    expect((await ctrsnap(['rm', 'work'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nlook base   View      \n')
  })

  it('usage errors exit 2 with one line and the usage; other errors have their own codes', async () => {
    const o = {root: tmp.dir}
    const r = await ctrsnap(['prepare'], o)
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.split('\n')).toEqual(['ctrsnap: missing argument KEY', expect.stringMatching(/^usage: ctrsnap prepare /), ''])
    expect((await ctrsnap(['info', 'nope'], o)).exitCode).toBe(3)
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(4)
    expect((await ctrsnap(['commit', 'c', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', 'b', 'c'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['rm', 'c'], o)).exitCode).toBe(5)
    expect((await ctrsnap(['prepare', 'x', 'b'], o)).exitCode).toBe(6)
  })

  it('--json errors are {"error": {kind, message, exitCode}} on stdout', async () => {
    const r = await ctrsnap(['info', '--json', 'nope'], {root: tmp.dir})
    expect(r.exitCode).toBe(3)
    expect(JSON.parse(r.stdout)).toEqual({error: {kind: 'not-found', message: `snapshot "nope" does not exist (root ${tmp.dir}, snapshotter overlayfs, namespace default)`, exitCode: 3}})
  })
})
