import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {mountLines} from '../../src/cli/format/mounts.js'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

const GO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/
const BIG = 1536 * 1024 // 1.5 MiB, block-aligned

/** Allocated bytes and inodes of a tree, as du counts them (st_blocks), for the expected `usage -b`. */
function du(dir: string): {size: number; inodes: number} {
  let size = fs.lstatSync(dir).blocks * 512
  let inodes = 1
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      const d = du(p)
      size += d.size
      inodes += d.inodes
    } else {
      size += fs.lstatSync(p).blocks * 512
      inodes++
    }
  }
  return {size, inodes}
}

describe('read commands: ls, tree, info, usage, mounts (overlayfs)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let o: {root: string}
  let baseDir: string
  beforeAll(async () => {
    tmp = tempRoot()
    o = {root: path.join(tmp.dir, 'r')}
    const run = async (args: string[]): Promise<string> => {
      const r = await ctrsnap(args, o)
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      return r.stdout
    }
    await run(['prepare', 'z-work'])
    await run(['commit', 'z-base', 'z-work'])
    await run(['prepare', 'b-child', 'z-base'])
    await run(['prepare', 'm-root'])
    await run(['prepare', 'Zed'])
    await run(['prepare', 'é'])
    const line = await run(['prepare', '-t', '/mnt/a', 'a'])
    baseDir = /^mount -t bind (\S+) /.exec(line)![1]!
    fs.writeFileSync(path.join(baseDir, 'big'), Buffer.alloc(BIG, 1))
    await run(['commit', 'base', 'a'])
    await run(['view', 'v', 'base'])
    await run(['prepare', 'c', 'base'])
  }, 300_000)
  afterAll(() => tmp.cleanup())

  it('ls and list: bytewise key order, every column padded to its widest cell + 1 (runes, not bytes), lines end in a space', async () => {
    const want =
      'KEY     PARENT KIND      \n' +
      'Zed            Active    \n' +
      'b-child z-base Active    \n' +
      'base           Committed \n' +
      'c       base   Active    \n' +
      'm-root         Active    \n' +
      'v       base   View      \n' +
      'z-base         Committed \n' +
      'é              Active    \n'
    expect(await ctrsnap(['ls'], o)).toEqual({stdout: want, stderr: '', exitCode: 0})
    expect((await ctrsnap(['list'], o)).stdout).toBe(want)
  })

  it('tree: ctr\'s glyphs and root order (a parent appears when its first child is walked: z-base before base)', async () => {
    expect(await ctrsnap(['tree'], o)).toEqual({
      stdout: ' Zed\n z-base\n  \\_ b-child\n base\n  \\_ c\n  \\_ v\n m-root\n é\n',
      stderr: '',
      exitCode: 0,
    })
  })

  it('info: Go\'s 4-space JSON, Parent and Labels omitted when empty, Created = Updated when fresh; label values HTML-escaped', async () => {
    const v = await ctrsnap(['info', 'v'], o)
    const m = /^\{\n {4}"Kind": "View",\n {4}"Name": "v",\n {4}"Parent": "base",\n {4}"Created": "([^"]+)",\n {4}"Updated": "([^"]+)"\n\}\n$/.exec(v.stdout)
    expect(m, v.stdout).not.toBeNull()
    expect(m![1]).toMatch(GO_TIME)
    expect(m![2]).toBe(m![1])
    expect((await ctrsnap(['info', 'm-root'], o)).stdout).toMatch(/^\{\n {4}"Kind": "Active",\n {4}"Name": "m-root",\n {4}"Created": "[^"]+",\n {4}"Updated": "[^"]+"\n\}\n$/)
    expect((await ctrsnap(['label', 'z-base', 'html=<b>&', 'a=1'], o)).exitCode).toBe(0)
    const z = (await ctrsnap(['info', 'z-base'], o)).stdout
    expect(z).toMatch(/^\{\n {4}"Kind": "Committed",\n {4}"Name": "z-base",\n {4}"Labels": \{\n {8}"a": "1",\n {8}"html": "\\u003cb\\u003e\\u0026"\n {4}\},\n {4}"Created": "[^"]+",\n {4}"Updated": "[^"]+"\n\}\n$/)
  })

  it('usage -b: allocated bytes and inodes of each own layer, key order; a view is 0 0; a child counts only its upper dir', async () => {
    const own = du(baseDir)
    expect(own.size).toBeGreaterThanOrEqual(BIG)
    const r = await ctrsnap(['usage', '-b'], o)
    const rows = Object.fromEntries(r.stdout.split('\n').slice(1, -1).map(l => [l.split(/ +/)[0], l]))
    expect(r.stdout.split('\n')[0]).toMatch(/^KEY +SIZE +INODES $/)
    expect(Object.keys(rows)).toEqual(['Zed', 'b-child', 'base', 'c', 'm-root', 'v', 'z-base', 'é'])
    expect(rows.base!.split(/ +/).slice(1, 3)).toEqual([String(own.size), String(own.inodes)])
    expect(rows.v!.split(/ +/).slice(1, 3)).toEqual(['0', '0'])
    expect(rows.c!.split(/ +/).slice(1, 3)).toEqual(['4096', '1'])
    expect(r.stdout.split('\n').slice(0, -1).every(l => l.endsWith(' '))).toBe(true)
  })

  it('usage (human): Go\'s %02.1f with 1024-based units, rows in argument order, columns padded', async () => {
    expect(await ctrsnap(['usage', 'v', 'base', 'c'], o)).toEqual({
      stdout: 'KEY  SIZE    INODES \nv    0.0 B   0      \nbase 1.5 MiB 2      \nc    4.0 KiB 1      \n',
      stderr: '',
      exitCode: 0,
    })
    expect(await ctrsnap(['usage', 'c', 'missing'], o)).toMatchObject({stdout: '', stderr: 'ctrsnap: snapshot "missing" does not exist\n', exitCode: exitCodeFor('not-found')})
  })

  it('mounts, m and mount print the same line; committed 5, missing 3, wrong argument count 2', async () => {
    const line = (await ctrsnap(['mounts', '/mnt/x', 'c'], o)).stdout
    expect(line).toMatch(new RegExp(`^mount -t overlay overlay /mnt/x -o index=off,workdir=(\\S+)/work,upperdir=\\1/fs,lowerdir=${baseDir}\\n$`))
    expect((await ctrsnap(['m', '/mnt/x', 'c'], o)).stdout).toBe(line)
    expect((await ctrsnap(['mount', '/mnt/x', 'c'], o)).stdout).toBe(line)
    expect((await ctrsnap(['mounts', '/mnt/v', 'v'], o)).stdout).toBe(`mount -t bind ${baseDir} /mnt/v -o ro,rbind\n`)
    const committed = await ctrsnap(['mounts', '/mnt/x', 'base'], o)
    expect(committed).toMatchObject({stdout: '', exitCode: exitCodeFor('failed-precondition')})
    expect(committed.stderr).toMatch(/^ctrsnap: [^\n]*"base"[^\n]*\n$/)
    expect(await ctrsnap(['mounts', '/mnt/x', 'nope'], o)).toMatchObject({stdout: '', stderr: 'ctrsnap: snapshot "nope" does not exist\n', exitCode: exitCodeFor('not-found')})
    const usage = await ctrsnap(['mounts', 'c'], {...o, env: {NODE_ENV: ''}}) // as users run it: see globals.test.ts on NODE_ENV
    expect(usage).toMatchObject({stdout: '', exitCode: exitCodeFor('usage')})
    expect(usage.stderr).toMatch(/^ctrsnap: [^\n]+\nusage: ctrsnap mounts [^\n]+\n$/)
  })

  it('mount lines leave out -o when a mount has no options', () => {
    expect(mountLines('/t', [{type: 'tmpfs', source: 'none', options: []}, {type: 'bind', source: '/s', options: ['ro', 'rbind']}])).toBe('mount -t tmpfs none /t\nmount -t bind /s /t -o ro,rbind\n')
  })
})
