import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

describe('label', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string}
  beforeAll(async () => {
    tmp = tempRoot()
    o = {root: path.join(tmp.dir, 'r')}
    expect((await ctrsnap(['prepare', 'a'], o)).exitCode).toBe(0)
  })
  afterAll(() => tmp.cleanup())

  const label = (...args: string[]) => ctrsnap(['label', ...args], o)
  const updated = async (key: string): Promise<string> => /"Updated": "([^"]+)"/.exec((await ctrsnap(['info', key], o)).stdout)![1]!

  it('an unlabelled snapshot prints an empty line', async () => {
    expect(await label('a')).toEqual({stdout: '\n', stderr: '', exitCode: 0})
  })

  it('k=v sets, sorted by key (not by the k=v string) on one line; values keep <>& and spaces as given', async () => {
    expect(await label('a', 'z=1', 'a.b=2', 'a=<b>&', 'm=x y')).toEqual({stdout: 'a=<b>&,a.b=2,m=x y,z=1\n', stderr: '', exitCode: 0})
  })

  it('k= removes (also a key that is absent); a bare k means k=true; later arguments win', async () => {
    expect((await label('a', 'z=', 'never-set=', 'flag')).stdout).toBe('a=<b>&,a.b=2,flag=true,m=x y\n')
    expect((await label('a', 'm=1', 'm=2', 'a.b=')).stdout).toBe('a=<b>&,flag=true,m=2\n')
  })

  it('with no pairs prints the labels and does not touch Updated; with pairs Updated moves', async () => {
    const before = await updated('a')
    expect((await label('a')).stdout).toBe('a=<b>&,flag=true,m=2\n')
    expect(await updated('a')).toBe(before)
    expect((await label('a', 'n=1')).exitCode).toBe(0)
    expect(await updated('a')).not.toBe(before)
  })

  it('invalid labels exit 6 naming the label, change nothing: empty key, key+value over 4096 bytes', async () => {
    const before = (await label('a')).stdout
    const empty = await label('a', 'ok=1', '=v')
    expect(empty).toMatchObject({stdout: '', exitCode: exitCodeFor('invalid-argument')})
    expect(empty.stderr).toMatch(/^ctrsnap: [^\n]*label[^\n]*empty[^\n]*\n$/)
    const big = await label('a', `big=${'x'.repeat(4094)}`) // 3 + 4094 = 4097 bytes
    expect(big).toMatchObject({stdout: '', exitCode: exitCodeFor('invalid-argument')})
    expect(big.stderr).toMatch(/^ctrsnap: [^\n]*"big"[^\n]*4096[^\n]*\n$/)
    expect((await label('a', `fits=${'x'.repeat(4092)}`)).exitCode).toBe(0) // 4 + 4092 = 4096: allowed
    expect((await label('a', 'fits=')).stdout).toBe(before)
  })

  it('a missing key exits 3 naming it; no key is a usage error (2)', async () => {
    expect(await label('nope', 'k=v')).toEqual({stdout: '', stderr: 'ctrsnap: snapshot "nope" does not exist\n', exitCode: exitCodeFor('not-found')})
    expect(await label('nope')).toEqual({stdout: '', stderr: 'ctrsnap: snapshot "nope" does not exist\n', exitCode: exitCodeFor('not-found')})
    const usage = await ctrsnap(['label'], {...o, env: {NODE_ENV: ''}}) // as users run it: see globals.test.ts on NODE_ENV
    expect(usage).toMatchObject({stdout: '', exitCode: exitCodeFor('usage')})
    expect(usage.stderr).toMatch(/^ctrsnap: [^\n]+\nusage: ctrsnap label [^\n]+\n$/)
  })
})
