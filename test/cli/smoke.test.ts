import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

describe('cli smoke', () => {
  let root: ReturnType<typeof tempRoot>
  beforeEach(() => { root = tempRoot() })
  afterEach(() => root.cleanup())

  it('prepare, commit and ls print ctr bytes', async () => {
    const o = {root: root.dir}
    expect(await ctrsnap(['prepare', 'a'], o)).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect((await ctrsnap(['commit', 'base', 'a'], o)).exitCode).toBe(0)
    expect((await ctrsnap(['ls'], o)).stdout).toBe('KEY  PARENT KIND      \nbase        Committed \n')
  })
})
