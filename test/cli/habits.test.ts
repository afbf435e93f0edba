import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

const USAGE = exitCodeFor('usage')
const isRoot = process.getuid?.() === 0
const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {version: string}

// What ctr and nerdctl users type, accepted (issue 11, part 2).
describe('ctr users\' habits', () => {
  let tmp: ReturnType<typeof tempRoot>
  let root: string
  beforeEach(() => {
    tmp = tempRoot()
    root = tmp.dir
  })
  afterEach(() => tmp.cleanup())

  it('-h is help, before or after the command', async () => {
    const top = await ctrsnap(['-h'])
    expect(top).toMatchObject({stderr: '', exitCode: 0})
    expect(top.stdout).toMatch(/^COMMANDS$/m)
    const ls = await ctrsnap(['ls', '-h'])
    expect(ls).toMatchObject({stderr: '', exitCode: 0})
    expect(ls.stdout).toContain('$ ctrsnap ls [--filter EXPR]...')
  })

  it('version prints ctr\'s Client block; -v and --version one line', async () => {
    expect(await ctrsnap(['version'])).toEqual({stdout: `Client:\n  Version:  ${pkg.version}\n  Node version: ${process.version}\n`, stderr: '', exitCode: 0})
    for (const flag of ['-v', '--version']) expect(await ctrsnap([flag])).toEqual({stdout: `ctrsnap ${pkg.version}\n`, stderr: '', exitCode: 0})
  })

  it('a mistyped command or flag gets a suggestion, still a usage error', async () => {
    expect(await ctrsnap(['prepar', 'x'], {root})).toEqual({stdout: '', stderr: 'ctrsnap: unknown command "prepar"; did you mean prepare?\n', exitCode: USAGE})
    const r = await ctrsnap(['ls', '--fliter', 'kind==active'], {root})
    expect(r).toEqual({stdout: '', stderr: 'ctrsnap: unknown flag: --fliter; did you mean --filter?\nusage: ctrsnap ls [--filter EXPR]... [-q | --json]\n', exitCode: USAGE})
  })

  it('runs a pasted ctr command: the snapshots/snapshot prefix and its flags before the command', async () => {
    expect((await ctrsnap(['snapshots', '--snapshotter', 'native', 'prepare', 'a'], {root})).exitCode).toBe(0)
    const want = 'KEY PARENT KIND   \na          Active \n'
    expect(await ctrsnap(['snapshots', '--snapshotter', 'native', 'ls'], {root})).toEqual({stdout: want, stderr: '', exitCode: 0})
    expect(await ctrsnap(['snapshot', 'ls'], {root, snapshotter: 'native'})).toEqual({stdout: want, stderr: '', exitCode: 0})
    expect(await ctrsnap(['--root', root, 'snapshots', 'ls'], {snapshotter: 'native'})).toEqual({stdout: want, stderr: '', exitCode: 0})
    // ctr's usage -b, also spelt --b by its flag library.
    expect((await ctrsnap(['snapshots', '--snapshotter', 'native', 'usage', '--b'], {root})).stdout).toMatch(/^a +\d+ +\d+ +$/m)
  })

  it('help lists each command once, with its aliases on its row, and usage -b is --bytes', async () => {
    const help = (await ctrsnap(['--help'])).stdout
    expect(help).toMatch(/^ {2}ls, list +List snapshots\.$/m)
    expect(help).toMatch(/^ {2}rm, remove, delete, del +Remove snapshots\.$/m)
    expect(help).not.toMatch(/^ {2}(list|remove|umount) /m)
    expect((await ctrsnap(['usage', '--help'])).stdout).toMatch(/^ {2}-b, --bytes +Show sizes in bytes\.$/m)
  })

  it('a read command on a root that does not exist keeps ctr\'s output and says so on stderr', async () => {
    const missing = path.join(root, 'typo')
    expect(await ctrsnap(['ls', '--root', missing])).toEqual({stdout: 'KEY PARENT KIND \n', stderr: `ctrsnap: note: root ${missing} does not exist\n`, exitCode: 0})
    expect(await ctrsnap(['prepare', 'a', '--root', missing])).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect((await ctrsnap(['ls', '--root', missing])).stderr).toBe('')
  })

  it('info KEY on a missing key names the root, snapshotter and namespace it looked in', async () => {
    expect(await ctrsnap(['info', 'nope'], {root})).toEqual({stdout: '', stderr: `ctrsnap: snapshot "nope" does not exist (root ${root}, snapshotter overlayfs, namespace default)\n`, exitCode: exitCodeFor('not-found')})
  })

  it.skipIf(!isRoot)('unpack as a user other than root says up front that it needs root (needs root to switch to uid 65534)', async () => {
    fs.chmodSync(root, 0o777)
    fs.writeFileSync(path.join(root, 'image.tar'), '')
    const r = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'node', BIN, 'unpack', path.join(root, 'image.tar'), '--root', path.join(root, 'store')], {env: {HOME: root, NODE_ENV: ''}, reject: false})
    expect({stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode}).toEqual({stdout: '', stderr: 'ctrsnap: unpack needs root: image layers set file owners and device nodes; run it as root', exitCode: exitCodeFor('failed-precondition')})
  })

  it('mounts is listed with ctr\'s aliases m and mount, and says that only --mount mounts', async () => {
    expect((await ctrsnap(['--help'])).stdout).toMatch(/^ {2}mounts, m, mount +Print the mount commands of an active snapshot or a\s+view \(--mount also mounts it\)\.$/m)
  })

})
