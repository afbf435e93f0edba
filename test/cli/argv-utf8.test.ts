import {execa} from 'execa'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {BIN, ctrsnap, type CliResult} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

/** Run ctrsnap with arguments given as bash $'...' words, so the bytes reach argv exactly (Node's spawn would encode strings as UTF-8). */
async function withBytes(root: string, words: string): Promise<CliResult> {
  const r = await execa('bash', ['-c', `exec node "$0" ${words}`, BIN], {env: {CTRSNAP_ROOT: root, NODE_ENV: '', DEBUG: ''}, reject: false, stripFinalNewline: false, stdin: 'ignore'})
  return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1}
}

const refused = (arg: string) => ({stdout: '', stderr: `ctrsnap: argument "${arg}" is not valid UTF-8: ctrsnap takes keys, labels and paths as UTF-8 text (other bytes could not be told apart)\n`, exitCode: 6})

describe('arguments that are not UTF-8 (Node would decode every such byte to U+FFFD)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let root: string
  beforeAll(() => {
    tmp = tempRoot()
    root = path.join(tmp.dir, 'r')
  })
  afterAll(() => tmp.cleanup())

  it('two different non-UTF-8 keys never become one snapshot: each is refused, and nothing is created', async () => {
    expect(await withBytes(root, `prepare $'caf\\xe9'`)).toEqual(refused('caf\\xe9'))
    expect(await withBytes(root, `prepare $'caf\\xff'`)).toEqual(refused('caf\\xff'))
    expect((await ctrsnap(['ls', '-q'], {root})).stdout).toBe('')
  })

  it('a key that really holds U+FFFD is fine, and a non-UTF-8 lookup does not find it', async () => {
    expect((await withBytes(root, `prepare $'k\\xef\\xbf\\xbd'`)).exitCode).toBe(0)
    expect((await ctrsnap(['ls', '-q'], {root})).stdout).toBe('k\ufffd\n')
    expect(await withBytes(root, `info $'k\\xff'`)).toEqual(refused('k\\xff'))
    expect(await withBytes(root, `rm $'k\\xfe'`)).toEqual(refused('k\\xfe'))
    expect((await ctrsnap(['ls', '-q'], {root})).stdout).toBe('k\ufffd\n')
  })

  it('labels, flags and their values too, with --json as well; the snapshot is left as it was', async () => {
    expect(await withBytes(root, `label k$'\\xef\\xbf\\xbd' $'v=\\xff'`)).toEqual(refused('v=\\xff'))
    expect(await withBytes(root, `prepare --label $'\\x80=1' other`)).toEqual(refused('\\x80=1'))
    const json = await withBytes(root, `label --json k$'\\xef\\xbf\\xbd' $'\\xc3=1'`)
    expect(json.exitCode).toBe(6)
    expect(JSON.parse(json.stdout)).toEqual({error: {kind: 'invalid-argument', exitCode: 6, message: expect.stringMatching(/^argument "\\xc3=1" is not valid UTF-8/)}})
    expect((await ctrsnap(['label', 'k\ufffd'], {root})).stdout).toBe('\n')
    expect((await ctrsnap(['ls', '-q'], {root})).stdout).toBe('k\ufffd\n')
  })
})
