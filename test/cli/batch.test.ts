import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {shellWords} from '../../src/cli/batch/words.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../helpers/worker-signal.mjs')

let tmp: ReturnType<typeof tempRoot>
let o: {root: string}
beforeEach(() => {
  tmp = tempRoot('ctrsnap-batch-')
  o = {root: tmp.dir}
})
afterEach(() => tmp.cleanup())

const batch = (lines: string[], args: string[] = [], opts: {snapshotter?: string; env?: Record<string, string>} = {}) =>
  ctrsnap(['batch', ...args], {...o, ...opts, input: lines.join('\n') + '\n'})

/** Every file and directory of the root, the lock's excepted: what a rolled-back or killed batch must leave as it was. */
function tree(dir = tmp.dir, rel = ''): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, {withFileTypes: true}).filter(e => !e.name.endsWith('.lock')).flatMap(e => {
    const r = path.join(rel, e.name)
    return e.isDirectory() ? [`${r}/`, ...tree(path.join(dir, e.name), r)] : [`${r} ${fs.readFileSync(path.join(dir, e.name)).toString('base64').length}`]
  }).sort()
}

const where = (snapshotter = 'overlayfs') => `(root ${tmp.dir}, snapshotter ${snapshotter}, namespace default)`
const keys = async (snapshotter = 'overlayfs') => (await ctrsnap(['ls', '-q'], {...o, snapshotter})).stdout.split('\n').filter(Boolean)

describe('shell words', () => {
  it.each([
    ['prepare --label a=b work base', ['prepare', '--label', 'a=b', 'work', 'base']],
    ["label k 'a b=c d' 'x'", ['label', 'k', 'a b=c d', 'x']],
    [`label k "a \\"b\\" \\$x \\\\ \\n"`, ['label', 'k', 'a "b" $x \\ \\n']],
    ["label k 'it\\s' \"$HOME\" ~ *", ['label', 'k', 'it\\s', '$HOME', '~', '*']],
    ['a\\ b c\\#d \\#e f#g', ['a b', 'c#d', '#e', 'f#g']],
    ["x '' \"\" y ''z", ['x', '', '', 'y', 'z']],
    ['  ls   -q\t# a comment', ['ls', '-q']],
    ['# only a comment', []],
    ['', []],
    ["a'b'\"c\"d", ['abcd']],
  ])('%s', (line, words) => {
    expect(shellWords(line)).toEqual(words)
  })

  it.each([
    ["prepare 'a", 'unterminated single quote'],
    ['prepare "a', 'unterminated double quote'],
    ['prepare a\\', 'trailing backslash (a command cannot continue onto the next line)'],
  ])('%s is refused', (line, message) => {
    expect(() => shellWords(line)).toThrow(message)
  })
})

describe('batch', () => {
  it('quoting reaches the command as the words: labels with spaces, quotes, backslashes, # and empty values', async () => {
    const r = await batch(['prepare a  # makes a', '', '# nothing', `label a 'x y=1 2' "q=\\"v\\"" b=\\#c 'd=a\\b'`, "prepare ''"])
    expect(r).toEqual({stdout: 'b=#c,d=a\\b,q="v",x y=1 2\n', stderr: 'ctrsnap: line 5: key must not be empty\n', exitCode: 6})
  })

  it('a batch of one line prints what the command prints, byte for byte (stdout, stderr, exit code)', async () => {
    await ctrsnap(['prepare', 'a'], o)
    await ctrsnap(['commit', 'base', 'a'], o)
    const lines = [
      ['prepare', '--target', '/mnt/x', '--label', 't=1', 'work', 'base'],
      ['label', 'work', 'k=v'],
      ['info', 'work'],
      ['info', '--json', 'work'],
      ['ls'],
      ['tree'],
      ['mounts', '/mnt/y', 'work'],
      ['rm', 'work'],
    ]
    for (const argv of lines) {
      // Run once by batch, then undone and run again by the CLI where it wrote.
      const viaBatch = await batch([argv.map(w => `'${w}'`).join(' ')])
      if (argv[0] === 'prepare') await ctrsnap(['rm', 'work'], o)
      if (argv[0] === 'rm') await ctrsnap(['prepare', 'work', 'base'], o)
      const viaCli = await ctrsnap(argv, o)
      // Ids are not reused: the CLI's `work` is a later snapshot directory.
      const ids = (r: typeof viaCli) => ({...r, stdout: r.stdout.replace(/snapshots\/\d+\//g, 'snapshots/N/')})
      expect(ids(viaBatch), argv.join(' ')).toEqual(ids(viaCli))
    }
    // And an error: the same message, with the line number.
    const cli = await ctrsnap(['info', 'nope'], o)
    expect(cli.stderr).toMatch(/^ctrsnap: snapshot "nope" does not exist/)
    expect(await batch(['info nope'])).toEqual({...cli, stderr: cli.stderr.replace('ctrsnap: ', 'ctrsnap: line 1: ')})
  })

  it('later lines see earlier writes; each write is persisted as it completes', async () => {
    const r = await batch(['prepare a', 'commit b a', 'prepare c b', 'label c k=v', 'ls', 'rm c', 'ls -q'])
    expect(r).toEqual({stdout: 'k=v\nKEY PARENT KIND      \nb          Committed \nc   b      Active    \nb\n', stderr: '', exitCode: 0})
    expect(await keys()).toEqual(['b'])
  })

  it('the first failing line stops the batch: `line N:` and its exit code; the lines before it stay done', async () => {
    const r = await batch(['prepare a', 'prepare a', 'prepare never'])
    expect(r).toEqual({stdout: '', stderr: 'ctrsnap: line 2: snapshot "a": already exists\n', exitCode: 4})
    expect(await keys()).toEqual(['a'])
    // Line numbers count every line, blank and comment lines too; a usage error adds the command's usage line.
    const u = await batch(['# c', '', 'ls', 'prepare'])
    expect(u).toEqual({stdout: 'KEY PARENT KIND   \na          Active \n', stderr: 'ctrsnap: line 4: missing argument KEY\nusage: ctrsnap prepare [-t DIR [--mount]] [--mounts] [--label K=V]... KEY [PARENT]\n', exitCode: 2})
  })

  it('--keep-going runs every line and exits with the first failure\'s code', async () => {
    const r = await batch(['commit x nope', 'prepare a', 'prepare a', 'prepare b', 'bogus'], ['--keep-going'])
    expect(r).toEqual({
      stdout: '',
      stderr: 'ctrsnap: line 1: snapshot "nope" does not exist\nctrsnap: line 3: snapshot "a": already exists\nctrsnap: line 5: unknown command "bogus"; see \'ctrsnap --help\'\n',
      exitCode: 3,
    })
    expect(await keys()).toEqual(['a', 'b'])
  })

  it('a malformed line is a usage error naming the line; the lines before it stay done, the rest do not run', async () => {
    const r = await batch(['prepare a', 'label a "k=v', 'prepare b'])
    expect(r).toEqual({stdout: '', stderr: 'ctrsnap: line 2: unterminated double quote\n', exitCode: 2})
    expect(await keys()).toEqual(['a'])
  })

  it('batch and completion cannot run in a batch; a line that is not UTF-8 is refused as on the command line', async () => {
    expect(await batch(['completion bash'])).toEqual({stdout: '', stderr: 'ctrsnap: line 1: completion cannot run in a batch\n', exitCode: 2})
    expect(await batch(['batch'])).toEqual({stdout: '', stderr: 'ctrsnap: line 1: batch cannot run in a batch\n', exitCode: 2})
    const file = path.join(tmp.dir, 'in')
    fs.writeFileSync(file, Buffer.concat([Buffer.from('ls -q\nprepare k'), Buffer.from([0xff]), Buffer.from('\n')]))
    const r = await ctrsnap(['batch', file], o)
    expect([r.exitCode, r.stderr]).toEqual([6, 'ctrsnap: line 2: the line is not valid UTF-8: ctrsnap takes keys, labels and paths as UTF-8 text\n'])
  })

  it('reads FILE, or stdin for -; a FILE it cannot read is one error line', async () => {
    const file = path.join(tmp.dir, 'cmds')
    fs.writeFileSync(file, 'prepare a\r\nls -q\r\n')
    expect(await ctrsnap(['batch', file], o)).toEqual({stdout: 'a\n', stderr: '', exitCode: 0})
    expect(await ctrsnap(['batch', '-'], {...o, input: 'ls -q\n'})).toEqual({stdout: 'a\n', stderr: '', exitCode: 0})
    expect(await ctrsnap(['batch', path.join(tmp.dir, 'none')], o)).toEqual({stdout: '', stderr: `ctrsnap: cannot read ${path.join(tmp.dir, 'none')}: no such file or directory (ENOENT)\n`, exitCode: 6})
  })

  it('global flags given to batch apply to every line; a line may give its own, before or after the command', async () => {
    const r = await batch(['prepare n', '--snapshotter overlayfs prepare o', 'prepare --snapshotter=overlayfs p', `--root '${tmp.dir}/other' prepare q`], ['--snapshotter', 'native'])
    expect(r).toEqual({stdout: '', stderr: '', exitCode: 0})
    expect(await keys('native')).toEqual(['n'])
    expect(await keys('overlayfs')).toEqual(['o', 'p'])
    expect((await ctrsnap(['ls', '-q'], {root: `${tmp.dir}/other`, snapshotter: 'native'})).stdout).toBe('q\n')
    // -n/--namespace too, given to batch or on a line.
    expect(await batch(['prepare x', '-n ns2 prepare y', 'ls -q -n ns2'], ['-n', 'ns1'])).toEqual({stdout: 'y\n', stderr: '', exitCode: 0})
    expect((await ctrsnap(['ls', '-q', '-n', 'ns1'], o)).stdout).toBe('x\n')
  })

  it('--json prints one JSON object per command line: result, output or error', async () => {
    const r = await batch(['prepare a', '# skipped', 'label a k=v', 'prepare -t /mnt/x b', 'info a', 'rm nope', 'ls -q'], ['--json', '--keep-going'])
    const lines = r.stdout.trimEnd().split('\n').map(l => JSON.parse(l))
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toBe('')
    expect(lines).toEqual([
      {line: 1, command: 'prepare a', exitCode: 0, result: null},
      {line: 3, command: 'label a k=v', exitCode: 0, result: {k: 'v'}},
      {line: 4, command: 'prepare -t /mnt/x b', exitCode: 0, result: null, output: expect.stringMatching(/^mount -t bind .* \/mnt\/x -o rw,rbind\n$/)},
      {line: 5, command: 'info a', exitCode: 0, result: {name: 'a', parent: null, kind: 'Active', labels: {k: 'v'}, created: expect.any(String), updated: expect.any(String)}},
      {line: 6, command: 'rm nope', exitCode: 3, error: {kind: 'not-found', message: 'snapshot "nope" does not exist', exitCode: 3}},
      // A command without --json (ls -q is exclusive with it) reports its own error, as it would.
      {line: 7, command: 'ls -q', exitCode: 2, error: {kind: 'usage', message: expect.stringContaining('json'), exitCode: 2}},
    ])
  })

  describe('--atomic', () => {
    it('a failing line rolls back every line: the store is unchanged, no directory is left, removed snapshots are back', async () => {
      await ctrsnap(['prepare', 'keep'], o)
      fs.writeFileSync(path.join((await ctrsnap(['mounts', '--json', '/x', 'keep'], o)).stdout.match(/"source": "([^"]+)"/)![1]!, 'f'), 'data')
      const before = tree()
      const r = await batch(['prepare a', 'commit b a', 'prepare c b', 'view v b', 'rm keep', 'label c k=v', 'ls -q', 'info nope'], ['--atomic'])
      expect(r).toEqual({stdout: 'k=v\nb\nc\nv\n', stderr: `ctrsnap: line 8: snapshot "nope" does not exist ${where()}\nctrsnap: --atomic: nothing was changed\n`, exitCode: 3})
      expect(tree()).toEqual(before)
      expect(await keys()).toEqual(['keep'])
    })

    it('all lines succeed: committed together, removed snapshots\' directories deleted after the commit', async () => {
      await ctrsnap(['prepare', 'gone'], o)
      const r = await batch(['prepare a', 'commit b a', 'prepare c b', 'rm gone'], ['--atomic'])
      expect(r).toEqual({stdout: '', stderr: '', exitCode: 0})
      expect(await keys()).toEqual(['b', 'c'])
      expect(await ctrsnap(['cleanup', '--dry-run'], o)).toEqual({stdout: 'would reclaim 0 items, 0.0 B\n', stderr: '', exitCode: 0})
      expect(tree().filter(f => f.startsWith('overlayfs/snapshots/') && f.split('/').length === 4)).toEqual(['overlayfs/snapshots/2/', 'overlayfs/snapshots/3/'])
    })

    it.skipIf(loopSkips('btrfs'))(`btrfs, where commit makes a new subvolume and deletes the active one: a rollback keeps the active one, a commit deletes it only once durable${loopNote('btrfs')}`, async () => {
      const store = tempRootFor('btrfs')
      try {
        const b = {root: store.dir, snapshotter: 'btrfs'}
        const dirs = (): string[] => ['active', 'snapshots', 'view'].flatMap(d => fs.readdirSync(path.join(store.dir, 'btrfs', d)).map(n => `${d}/${n}`)).sort()
        await ctrsnap(['prepare', 'keep'], b)
        fs.writeFileSync(path.join(store.dir, 'btrfs', 'active', '1', 'f'), 'data')
        const failed = await ctrsnap(['batch', '--atomic'], {...b, input: 'commit done keep\nprepare c done\ninfo nope\n'})
        expect([failed.exitCode, failed.stderr.split('\n')[1]]).toEqual([3, 'ctrsnap: --atomic: nothing was changed'])
        expect(dirs()).toEqual(['active/1'])
        expect(fs.readFileSync(path.join(store.dir, 'btrfs', 'active', '1', 'f'), 'utf8')).toBe('data')
        expect((await ctrsnap(['ls', '-q'], b)).stdout).toBe('keep\n')
        expect(await ctrsnap(['batch', '--atomic'], {...b, input: 'commit done keep\nprepare c done\n'})).toEqual({stdout: '', stderr: '', exitCode: 0})
        expect(dirs()).toEqual(['active/2', 'snapshots/1'])
        expect(fs.readFileSync(path.join(store.dir, 'btrfs', 'active', '2', 'f'), 'utf8')).toBe('data')
        expect((await ctrsnap(['cleanup', '--dry-run'], b)).stdout).toBe('would reclaim 0 items, 0.0 B\n')
      } finally {
        store.cleanup()
      }
    })

    it('refuses unmount and cleanup, whose disk work cannot be taken back, and is exclusive with --keep-going', async () => {
      expect(await batch(['prepare a', 'cleanup'], ['--atomic'])).toEqual({stdout: '', stderr: 'ctrsnap: line 2: cleanup cannot be undone, so it cannot run in an --atomic batch\nctrsnap: --atomic: nothing was changed\n', exitCode: 2})
      expect(await keys()).toEqual([])
      const r = await batch(['ls'], ['--atomic', '--keep-going'])
      expect([r.exitCode, r.stderr.split('\n')[0]]).toEqual([2, expect.stringMatching(/^ctrsnap: --atomic and --keep-going cannot be used together$/)])
    })
  })

  it('a locked store: the line waits, then fails as the command would (exit 8); the lines before it stay done', async () => {
    await ctrsnap(['prepare', 'a'], o)
    const lock = path.join(tmp.dir, 'overlayfs', 'metadata.db.lock')
    fs.mkdirSync(lock)
    const r = await batch(['ls -q', 'prepare b', 'prepare c'], [], {env: {CTRSNAP_LOCK_TIMEOUT_MS: '300'}})
    expect(r.exitCode).toBe(8)
    expect(r.stdout).toBe('a\n')
    expect(r.stderr).toMatch(/^ctrsnap: line 2: .*metadata\.db is locked by another ctrsnap process \(waited 0\.3s; .*\)\n$/)
    fs.rmdirSync(lock)
    expect(await keys()).toEqual(['a'])
  })

  describe('SIGKILL mid-batch', () => {
    const killedAtCp = (args: string[], file: string) =>
      execa('node', [WORKER, 'SIGKILL', 'spawn:cp', 'batch', ...args, file], {env: {CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: 'native', DEBUG: '', NODE_ENV: ''}, reject: false})

    it('killed in line 3\'s copy: lines 1-2 are durable, line 3 left nothing but a temp directory that cleanup removes', async () => {
      const file = path.join(tmp.dir, 'cmds')
      fs.writeFileSync(file, 'prepare a\ncommit b a\nprepare c b\nprepare d\n')
      const r = await killedAtCp([], file)
      expect(r.signal).toBe('SIGKILL')
      expect(await keys('native')).toEqual(['b'])
      const c = await ctrsnap(['cleanup'], {...o, snapshotter: 'native'})
      expect([c.exitCode, c.stdout]).toEqual([0, expect.stringMatching(/^removed .*\/native\/snapshots\/new-\d+-\w+ \(temp directory of an interrupted command.*\nreclaimed 1 item/)])
      expect(await ctrsnap(['cleanup', '--dry-run'], {...o, snapshotter: 'native'})).toEqual({stdout: 'would reclaim 0 items, 0.0 B\n', stderr: '', exitCode: 0})
    })

    it('--atomic, killed in its last line: no metadata changed; cleanup removes the directories of the lines before', async () => {
      await ctrsnap(['prepare', 'p'], {...o, snapshotter: 'native'})
      await ctrsnap(['commit', 'base', 'p'], {...o, snapshotter: 'native'})
      await ctrsnap(['prepare', 'other'], {...o, snapshotter: 'native'})
      const db = fs.readFileSync(path.join(tmp.dir, 'native', 'metadata.db'))
      const file = path.join(tmp.dir, 'cmds')
      fs.writeFileSync(file, 'prepare a\nlabel a k=v\nrm other\nprepare c base\n')
      // rm other must not have deleted other's directory: its removal waits for the commit.
      const before = tree(path.join(tmp.dir, 'native', 'snapshots'))
      const r = await killedAtCp(['--atomic'], file)
      expect(r.signal).toBe('SIGKILL')
      expect(fs.readFileSync(path.join(tmp.dir, 'native', 'metadata.db')).equals(db)).toBe(true)
      expect(await keys('native')).toEqual(['base', 'other'])
      const c = await ctrsnap(['cleanup'], {...o, snapshotter: 'native'})
      expect([c.exitCode, c.stdout]).toEqual([0, expect.stringMatching(/\nreclaimed 2 items/)])
      expect(tree(path.join(tmp.dir, 'native', 'snapshots'))).toEqual(before)
    })

    it('SIGINT in line 2 (non-atomic: lines before stay, the batch stops, exit 130; --atomic: nothing changed)', async () => {
      const o2 = {...o, snapshotter: 'native'}
      await ctrsnap(['prepare', 'p'], o2)
      await ctrsnap(['commit', 'base', 'p'], o2)
      const file = path.join(tmp.dir, 'cmds')
      fs.writeFileSync(file, 'prepare a\nprepare c base\nprepare d\n')
      const run = (args: string[]) => execa('node', [WORKER, 'SIGINT', 'spawn:cp', 'batch', ...args, file], {env: {CTRSNAP_ROOT: tmp.dir, CTRSNAP_SNAPSHOTTER: 'native', DEBUG: '', NODE_ENV: ''}, reject: false})
      const r = await run([])
      // The signal stops line 2 (rolled back), or, should cp be done first, the batch right after it: never line 3.
      const errs = r.stderr.split('\n').filter(l => !l.startsWith('[worker]'))
      const during = errs[0] === 'ctrsnap: line 2: interrupted by SIGINT'
      expect(errs, r.stderr).toEqual([during ? 'ctrsnap: line 2: interrupted by SIGINT' : 'ctrsnap: interrupted by SIGINT, after line 2 had completed'])
      expect([r.exitCode, await keys('native')]).toEqual([130, during ? ['a', 'base'] : ['a', 'base', 'c']])
      await ctrsnap(['rm', 'a', ...(during ? [] : ['c'])], o2)
      const before = tree()
      const a = await run(['--atomic'])
      expect([a.exitCode, a.stderr]).toEqual([130, expect.stringMatching(/interrupted by SIGINT.*\nctrsnap: --atomic: nothing was changed$/)])
      expect(tree()).toEqual(before)
    })

    it('killed while waiting for its next line on a pipe: every line whose output came is durable', async () => {
      const child = execa('node', [BIN, 'batch'], {env: {CTRSNAP_ROOT: tmp.dir, DEBUG: ''}, reject: false, stdin: 'pipe'})
      let out = ''
      const seen = new Promise<void>(resolve => child.stdout!.on('data', (d: Buffer) => {
        out += d
        if (out.includes('n=3')) resolve()
      }))
      child.stdin!.write('prepare a\nlabel a n=1\ncommit b a\nprepare c b\nlabel c n=3\n')
      await seen
      child.kill('SIGKILL')
      const r = await child
      expect([r.signal, out]).toEqual(['SIGKILL', 'n=1\nn=3\n'])
      expect(await keys()).toEqual(['b', 'c'])
      expect((await ctrsnap(['label', 'c'], o)).stdout).toBe('n=3\n')
      expect((await ctrsnap(['cleanup', '--dry-run'], o)).stdout).toBe('would reclaim 0 items, 0.0 B\n')
    })
  })
})
