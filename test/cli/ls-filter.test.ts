import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {loopNote, loopSkips, tempRoot, tempRootFor} from '../helpers/root.js'

// ls --filter and -q through the CLI, on every snapshotter. The grammar
// itself is tabled in test/core/filters.test.ts.
for (const snapshotter of ['overlayfs', 'native', 'btrfs']) describe.skipIf(loopSkips(snapshotter))(`ls --filter, -q (${snapshotter})${loopNote(snapshotter)}`, () => {
  let root: ReturnType<typeof tempRoot>
  const o = (): {root: string; snapshotter: string} => ({root: root.dir, snapshotter})
  beforeAll(async () => {
    root = tempRootFor(snapshotter)
    const steps = [
      ['prepare', 'a'],
      ['commit', 'base', 'a'],
      ['prepare', 'b', 'base'],
      ['commit', 'app', 'b'],
      ['prepare', 'work', 'app'],
      ['prepare', 'tmp-1', 'base'],
      ['view', 'look', 'app'],
      ['label', 'work', 'team=web', 'containerd.io/gc.root=2026'],
      ['label', 'base', 'team=infra'],
    ]
    for (const args of steps) expect((await ctrsnap(args, o())).exitCode, args.join(' ')).toBe(0)
  })
  afterAll(() => root.cleanup())

  const ls = async (...args: string[]): Promise<string> => {
    const r = await ctrsnap(['ls', ...args], o())
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    return r.stdout
  }

  it('keeps ctr\'s table for the matching rows', async () => {
    expect(await ls('--filter', 'kind==active')).toBe('KEY   PARENT KIND   \ntmp-1 base   Active \nwork  app    Active \n')
    expect(await ls('--filter', 'name==nothing')).toBe('KEY PARENT KIND \n')
    // The kind as the table prints it: any case matches.
    expect(await ls('--filter', 'kind==Active')).toBe(await ls('--filter', 'kind==active'))
  })

  it('ANDs selectors within a filter and ORs repeated filters', async () => {
    expect(await ls('-q', '--filter', 'parent==app,kind==view')).toBe('look\n')
    expect(await ls('-q', '--filter', 'kind==view', '--filter', 'name~=^tmp-')).toBe('look\ntmp-1\n')
    expect(await ls('-q', '--filter', 'parent==app', '--filter', 'parent==app')).toBe('look\nwork\n')
  })

  it('matches labels: presence, quoted keys, values, !=', async () => {
    expect(await ls('-q', '--filter', 'labels.team')).toBe('base\nwork\n')
    expect(await ls('-q', '--filter', 'labels."containerd.io/gc.root"')).toBe('work\n')
    expect(await ls('-q', '--filter', 'labels.team=="web"')).toBe('work\n')
    expect(await ls('-q', '--filter', 'labels.team!=web,kind==committed')).toBe('app\nbase\n')
  })

  it('-q prints every key in key order, one per line', async () => {
    expect(await ls('-q')).toBe('app\nbase\nlook\ntmp-1\nwork\n')
    expect(await ls('--quiet', '--filter', 'kind==committed')).toBe('app\nbase\n')
  })

  it.each([
    ['kind=active', 'invalid filter "kind=active": expected an operator (==, != or ~=), found "=" at position 5'],
    ['parent==base,', 'invalid filter "parent==base,": expected a field (name, parent, kind or labels.KEY), found end of filter at position 14'],
    ['kind==Running', 'invalid filter "kind==Running": unknown kind "Running" (kinds are active, view, committed) at position 7'],
    ['labels.a/b', 'invalid filter "labels.a/b": expected an operator (==, != or ~=), found "/" at position 9'],
  ])('refuses %j: one line, exit 6, nothing on stdout', async (expr, message) => {
    const r = await ctrsnap(['ls', '--filter', 'kind==view', '--filter', expr], o())
    expect(r).toEqual({stdout: '', stderr: `ctrsnap: ${message}\n`, exitCode: 6})
  })

  it('-q and --json together are a usage error', async () => {
    const r = await ctrsnap(['ls', '-q', '--json'], o())
    expect(r.exitCode).toBe(2)
  })
})
