import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {canMount, tempRoot, tempRootFor} from '../helpers/root.js'

const USAGE = exitCodeFor('usage')
/** As users run it: vitest's NODE_ENV=test makes oclif add a warning to usage errors (tested on its own below). */
const AS_USER = {NODE_ENV: ''}

describe('global behaviour: root, snapshotter, errors', () => {
  let tmp: ReturnType<typeof tempRoot>
  let root: string
  beforeEach(() => {
    tmp = tempRoot()
    root = path.join(tmp.dir, 'r')
  })
  afterEach(() => tmp.cleanup())

  it('the exit codes scripts rely on', () => {
    expect(['usage', 'not-found', 'already-exists', 'failed-precondition', 'invalid-argument'].map(k => exitCodeFor(k as never))).toEqual([2, 3, 4, 5, 6])
  })

  it('read commands on a missing root print empty output, a note on stderr, and create nothing', async () => {
    const note = `ctrsnap: note: root ${root} does not exist\n`
    for (const snapshotter of ['overlayfs', 'native']) {
      const o = {root, snapshotter}
      expect(await ctrsnap(['ls'], o)).toEqual({stdout: 'KEY PARENT KIND \n', stderr: note, exitCode: 0})
      expect(await ctrsnap(['tree'], o)).toEqual({stdout: '', stderr: note, exitCode: 0})
      expect(await ctrsnap(['usage'], o)).toEqual({stdout: 'KEY SIZE INODES \n', stderr: note, exitCode: 0})
      expect(await ctrsnap(['info', 'x'], o)).toEqual({stdout: '', stderr: `${note}ctrsnap: snapshot "x" does not exist (root ${root}, snapshotter ${snapshotter}, namespace default)\n`, exitCode: exitCodeFor('not-found')})
    }
    expect(fs.readdirSync(tmp.dir)).toEqual([])
  })

  it.skipIf(!canMount)('btrfs: every command on a root not on btrfs fails with one line and exit 10, creating nothing; a missing root on btrfs reads as on the others (needs root on Linux)', async () => {
    // ctr answers every command with "snapshotter not loaded" then: the plugin did not load.
    const refused = {stdout: '', stderr: `ctrsnap: ${root} is not on a btrfs file system\n`, exitCode: 10}
    for (const args of [['ls'], ['tree'], ['usage'], ['info', 'x'], ['prepare', 'a'], ['view', 'v'], ['cleanup'], ['namespaces', 'ls']]) {
      expect(await ctrsnap(args, {root, snapshotter: 'btrfs'}), args.join(' ')).toEqual(refused)
    }
    expect(fs.readdirSync(tmp.dir)).toEqual([])
    const onBtrfs = tempRootFor('btrfs')
    try {
      const missing = path.join(onBtrfs.dir, 'r')
      const note = `ctrsnap: note: root ${missing} does not exist\n`
      expect(await ctrsnap(['ls'], {root: missing, snapshotter: 'btrfs'})).toEqual({stdout: 'KEY PARENT KIND \n', stderr: note, exitCode: 0})
      expect(await ctrsnap(['info', 'x'], {root: missing, snapshotter: 'btrfs'})).toEqual({stdout: '', stderr: `${note}ctrsnap: snapshot "x" does not exist (root ${missing}, snapshotter btrfs, namespace default)\n`, exitCode: exitCodeFor('not-found')})
      expect(fs.readdirSync(onBtrfs.dir)).toEqual([])
      // The first write makes containerd's layout: the snapshotter dir 0700, a directory 0755 per kind.
      expect(await ctrsnap(['prepare', 'a'], {root: missing, snapshotter: 'btrfs'})).toEqual({stdout: '', stderr: '', exitCode: 0})
      const store = path.join(missing, 'btrfs')
      expect(fs.statSync(store).mode & 0o7777).toBe(0o700)
      expect(fs.readdirSync(store).sort()).toEqual(['active', 'metadata.db', 'snapshots', 'view'])
      for (const d of ['active', 'snapshots', 'view']) expect(fs.statSync(path.join(store, d)).mode & 0o7777, d).toBe(0o755)
    } finally {
      onBtrfs.cleanup()
    }
  })

  it('the first write creates the root and the snapshotter dir 0700', async () => {
    expect(await ctrsnap(['prepare', 'a'], {root})).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect(fs.statSync(root).mode & 0o7777).toBe(0o700)
    expect(fs.statSync(path.join(root, 'overlayfs')).mode & 0o7777).toBe(0o700)
  })

  it('--root and --snapshotter flags win over CTRSNAP_ROOT and CTRSNAP_SNAPSHOTTER; each snapshotter has its own store', async () => {
    const other = path.join(tmp.dir, 'other')
    const env = {CTRSNAP_ROOT: other, CTRSNAP_SNAPSHOTTER: 'overlayfs'}
    expect((await ctrsnap(['prepare', '--root', root, '--snapshotter', 'native', 'flagged'], {env})).exitCode).toBe(0)
    expect((await ctrsnap(['prepare', 'from-env'], {env})).exitCode).toBe(0)
    expect(fs.readdirSync(root)).toEqual(['native'])
    expect(fs.readdirSync(other)).toEqual(['overlayfs'])
    expect((await ctrsnap(['ls'], {root, snapshotter: 'native'})).stdout).toBe('KEY     PARENT KIND   \nflagged        Active \n')
    expect((await ctrsnap(['ls'], {root, snapshotter: 'overlayfs'})).stdout).toBe('KEY PARENT KIND \n')
    expect((await ctrsnap(['ls', '--root', other], {env: {CTRSNAP_ROOT: root}})).stdout).toBe('KEY      PARENT KIND   \nfrom-env        Active \n')
  })

  it('an unknown snapshotter is a usage error naming it', async () => {
    for (const r of [await ctrsnap(['ls', '--snapshotter', 'zfs'], {root, env: AS_USER}), await ctrsnap(['ls'], {root, snapshotter: 'zfs', env: AS_USER})]) {
      expect(r).toMatchObject({stdout: '', exitCode: USAGE})
      expect(r.stderr).toMatch(/^ctrsnap: [^\n]*zfs[^\n]*\nusage: ctrsnap ls[^\n]*\n$/)
    }
  })

  it('an unknown command exits 2 with one line naming it', async () => {
    const r = await ctrsnap(['frobnicate', 'x'], {root, env: AS_USER})
    expect(r).toMatchObject({stdout: '', exitCode: USAGE})
    expect(r.stderr).toMatch(/^ctrsnap: [^\n]*"frobnicate"[^\n]*\n$/)
  })

  it('unknown flags and extra arguments exit 2 with the message and the usage line', async () => {
    const cases: [string[], string][] = [
      [['ls', '--bogus'], '--bogus'], [['ls', 'extra'], 'extra'], [['tree', 'extra'], 'extra'], [['info', 'a', 'b'], 'b'],
      [['commit', 'x'], 'KEY'], [['rm'], 'KEY'], [['usage', '-x'], '-x'],
    ]
    for (const [args, names] of cases) {
      const r = await ctrsnap(args, {root, env: AS_USER})
      expect({args, stdout: r.stdout, exitCode: r.exitCode}).toEqual({args, stdout: '', exitCode: USAGE})
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^ctrsnap: [^\\n]*${names}[^\\n]*\\nusage: ctrsnap ${args[0]} [^\\n]*\\n$`))
    }
  })

  it('a usage error is still exactly those two lines when NODE_ENV=development (no oclif warning)', async () => {
    const r = await ctrsnap(['prepare'], {root, env: {NODE_ENV: 'development'}})
    expect(r).toMatchObject({stdout: '', exitCode: USAGE})
    expect(r.stderr).toMatch(/^ctrsnap: [^\n]+\nusage: ctrsnap prepare [^\n]+\n$/)
  })

  it('no stack trace unless DEBUG=1', async () => {
    const plain = await ctrsnap(['info', 'nope'], {root})
    expect(plain.stderr).toBe(`ctrsnap: note: root ${root} does not exist\nctrsnap: snapshot "nope" does not exist (root ${root}, snapshotter overlayfs, namespace default)\n`)
    const debug = await execa('node', [BIN, 'info', 'nope'], {env: {CTRSNAP_ROOT: root, DEBUG: '1'}, reject: false})
    expect(debug.exitCode).toBe(exitCodeFor('not-found'))
    expect(debug.stdout).toBe('')
    expect(debug.stderr).toMatch(/\n\s+at /)
    expect(debug.stderr).toMatch(/ctrsnap: snapshot "nope" does not exist \(root [^)]+\)$/)
  })

  it('--json keeps the exit code and prints the error as JSON on stdout, nothing on stderr', async () => {
    const r = await ctrsnap(['info', '--json', 'missing'], {root})
    expect(r.exitCode).toBe(exitCodeFor('not-found'))
    expect(r.stderr).toBe(`ctrsnap: note: root ${root} does not exist\n`)
    expect(JSON.parse(r.stdout)).toEqual({error: {kind: 'not-found', message: `snapshot "missing" does not exist (root ${root}, snapshotter overlayfs, namespace default)`, exitCode: exitCodeFor('not-found')}})
    const usage = await ctrsnap(['info', '--json'], {root, env: AS_USER})
    expect(usage.exitCode).toBe(USAGE)
    expect(JSON.parse(usage.stdout).error).toMatchObject({kind: 'usage', exitCode: USAGE})
  })

  it('takes --root and --snapshotter before the command too, as ctr users write them', async () => {
    const r = await ctrsnap(['--root', root, '--snapshotter=native', 'prepare', 'early'], {env: AS_USER})
    expect(r).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect((await ctrsnap(['--snapshotter', 'native', 'ls'], {root, env: AS_USER})).stdout).toBe('KEY   PARENT KIND   \nearly        Active \n')
    expect((await ctrsnap(['ls'], {root, env: AS_USER})).stdout).toBe('KEY PARENT KIND \n')
  })
})
