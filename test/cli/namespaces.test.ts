import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {archive, buildImage, expectedChainIds, ociLayoutFiles} from '../helpers/image.js'
import {isMountPoint, unmountAll} from '../helpers/mount.js'
import {canMount, tempRoot} from '../helpers/root.js'

const NOT_FOUND = exitCodeFor('not-found')

describe('namespaces (-n/--namespace, CTRSNAP_NAMESPACE, namespaces ls)', () => {
  let tmp: ReturnType<typeof tempRoot>
  let root: string
  beforeEach(() => {
    tmp = tempRoot('ctrsnap-ns-')
    root = path.join(tmp.dir, 'root')
  })
  afterEach(() => tmp.cleanup())

  /** ctrsnap in namespace `ns` (undefined: none given), on the overlayfs store unless told. */
  const inNs = (ns: string | undefined, args: string[], snapshotter = 'overlayfs') => ctrsnap(ns === undefined ? args : ['-n', ns, ...args], {root, snapshotter})
  const snapshotDirs = (snapshotter = 'overlayfs') => fs.readdirSync(path.join(root, snapshotter, 'snapshots')).sort()

  it('selects the namespace by -n or --namespace before or after the command, or CTRSNAP_NAMESPACE (the flag wins); default is "default"', async () => {
    const ok = {stdout: '', stderr: '', exitCode: 0}
    expect(await ctrsnap(['-n', 'a', 'prepare', 'k1'], {root})).toEqual(ok)
    expect(await ctrsnap(['-n=b', 'prepare', 'k2'], {root})).toEqual(ok)
    expect(await ctrsnap(['--namespace', 'c', '--root', root, 'prepare', 'k3'])).toEqual(ok)
    expect(await ctrsnap(['prepare', '--namespace=d', 'k4'], {root})).toEqual(ok)
    expect(await ctrsnap(['prepare', '-n', 'e', 'k5'], {root})).toEqual(ok)
    expect(await ctrsnap(['prepare', 'k6'], {root, env: {CTRSNAP_NAMESPACE: 'k8s.io'}})).toEqual(ok)
    expect(await ctrsnap(['prepare', '-n', 'f', 'k7'], {root, env: {CTRSNAP_NAMESPACE: 'k8s.io'}})).toEqual(ok)
    expect(await ctrsnap(['prepare', 'k8'], {root})).toEqual(ok)
    expect(await ctrsnap(['namespaces', 'ls'], {root})).toEqual({stdout: 'NAME    LABELS \na              \nb              \nc              \nd              \ndefault        \ne              \nf              \nk8s.io         \n', stderr: '', exitCode: 0})
    const keysIn = async (ns: string) => (await inNs(ns, ['ls', '-q'])).stdout
    expect(await keysIn('a')).toBe('k1\n')
    expect(await keysIn('f')).toBe('k7\n')
    expect(await keysIn('k8s.io')).toBe('k6\n')
    expect(await keysIn('default')).toBe('k8\n')
    // The aliases and -q, as ctr's.
    for (const args of [['namespace', 'ls', '-q'], ['ns', 'list', '-q']]) expect((await ctrsnap(args, {root})).stdout).toBe('a\nb\nc\nd\ndefault\ne\nf\nk8s.io\n')
  })

  it('a name containerd would refuse is a one-line usage error (exit 2), from the flag or the environment, and creates nothing', async () => {
    const bad = ['bad/x', 'a..b', '-a', 'a-', '_a', 'a b', 'é', 'x'.repeat(77)]
    for (const name of bad) {
      const r = await ctrsnap(['prepare', `--namespace=${name}`, 'k'], {root})
      expect(r.exitCode, name).toBe(exitCodeFor('usage'))
      expect(r.stdout).toBe('')
      expect(r.stderr, name).toMatch(/^ctrsnap: --namespace: [^\n]*namespace[^\n]*\nusage: ctrsnap prepare [^\n]*\n$/)
    }
    const env = await ctrsnap(['ls'], {root, env: {CTRSNAP_NAMESPACE: 'bad/x'}})
    expect(env.exitCode).toBe(exitCodeFor('usage'))
    expect(env.stderr.split('\n')[0]).toBe('ctrsnap: --namespace: "bad/x" is not a valid namespace: use letters and digits, joined by single \'.\', \'_\' or \'-\'')
    expect((await ctrsnap(['-n', '', 'ls'], {root})).stderr.split('\n')[0]).toBe('ctrsnap: --namespace: the namespace must not be empty')
    expect(fs.existsSync(root)).toBe(false)
    // The longest and the most mixed names containerd takes.
    for (const name of ['x'.repeat(76), 'K8s.io_a-1.2']) expect((await inNs(name, ['prepare', 'k'])).exitCode, name).toBe(0)
  })

  it('the same key in two namespaces is two snapshots; every command sees only its own namespace', async () => {
    // a: base <- work (labelled), view look; b: its own "work", no base.
    expect((await inNs('a', ['prepare', 'w0'])).exitCode).toBe(0)
    expect((await inNs('a', ['commit', 'base', 'w0'])).exitCode).toBe(0)
    expect((await inNs('a', ['prepare', '--label', 'who=a', 'work', 'base'])).exitCode).toBe(0)
    expect((await inNs('a', ['view', 'look', 'base'])).exitCode).toBe(0)
    expect((await inNs('b', ['prepare', '--label', 'who=b', 'work'])).exitCode).toBe(0)
    // A parent must be in the same namespace.
    for (const cmd of ['prepare', 'view']) {
      expect(await inNs('b', [cmd, 'child', 'base'])).toEqual({stdout: '', stderr: 'ctrsnap: parent snapshot "base" does not exist\n', exitCode: NOT_FOUND})
    }
    expect((await inNs('a', ['ls'])).stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nlook base   View      \nwork base   Active    \n')
    expect((await inNs('b', ['ls'])).stdout).toBe('KEY  PARENT KIND   \nwork        Active \n')
    expect((await inNs(undefined, ['ls'])).stdout).toBe('KEY PARENT KIND \n')
    expect((await inNs('b', ['tree'])).stdout).toBe(' work\n')
    expect((await inNs('a', ['tree'])).stdout).toBe(' base\n  \\_ look\n  \\_ work\n')
    expect(JSON.parse((await inNs('a', ['info', 'work'])).stdout)).toMatchObject({Parent: 'base', Labels: {who: 'a'}})
    expect(JSON.parse((await inNs('b', ['info', 'work'])).stdout)).toMatchObject({Labels: {who: 'b'}})
    expect((await inNs('b', ['info', 'base'])).exitCode).toBe(NOT_FOUND)
    // label changes only its namespace's snapshot.
    expect((await inNs('b', ['label', 'work', 'who=', 'x=1'])).stdout).toBe('x=1\n')
    expect((await inNs('a', ['label', 'work'])).stdout).toBe('who=a\n')
    expect((await inNs('b', ['label', 'look', 'x=1'])).exitCode).toBe(NOT_FOUND)
    // usage, mounts and diff find only their namespace's keys.
    expect((await inNs('b', ['usage', '-b'])).stdout).toMatch(/^KEY +SIZE +INODES \nwork +\d+ +\d+ +\n$/)
    expect((await inNs('b', ['usage', 'base'])).exitCode).toBe(NOT_FOUND)
    const upperOf = (r: {stdout: string}) => /upperdir=([^,\s]+)/.exec(r.stdout)?.[1]
    const mountA = await inNs('a', ['mounts', '/mnt', 'work'])
    const mountB = await inNs('b', ['mounts', '/mnt', 'work'])
    expect(upperOf(mountA)).toBeDefined()
    expect(mountB.stdout).toMatch(/^mount -t bind /)
    expect(upperOf(mountA)).not.toBe(mountB.stdout.split(' ')[3])
    expect((await inNs('b', ['mounts', '/mnt', 'look'])).exitCode).toBe(NOT_FOUND)
    expect((await inNs('b', ['diff', '-o', path.join(tmp.dir, 'x.tar'), 'base'])).exitCode).toBe(NOT_FOUND)
    expect((await inNs('a', ['diff', '-o', path.join(tmp.dir, 'x.tar'), 'base'])).exitCode).toBe(0)
    // commit: a name taken in a is free in b; the new name is b's only.
    expect((await inNs('b', ['commit', 'base', 'work'])).exitCode).toBe(0)
    expect((await inNs('b', ['ls', '-q'])).stdout).toBe('base\n')
    expect((await inNs('a', ['ls', '-q'])).stdout).toBe('base\nlook\nwork\n')
    // rm (and rm -r) removes the namespace's own, leaving the other's namesake.
    expect((await inNs('b', ['rm', 'look'])).exitCode).toBe(NOT_FOUND)
    expect((await inNs('b', ['rm', '-r', 'base'])).exitCode).toBe(0)
    expect((await inNs('a', ['ls', '-q'])).stdout).toBe('base\nlook\nwork\n')
    expect((await inNs('b', ['ls', '-q'])).stdout).toBe('')
    // Ids are the store's: each snapshot has its own directory, and b's is gone with it.
    expect(snapshotDirs()).toEqual(['1', '2', '3'])
    expect((await ctrsnap(['namespaces', 'ls', '-q'], {root})).stdout).toBe('a\n')
  })

  it.skipIf(!canMount)('mounts --mount and unmount: a namespace undoes only its own mounts (needs root)', async () => {
    const target = path.join(tmp.dir, 'mnt')
    try {
      expect((await inNs('a', ['prepare', 'k'])).exitCode).toBe(0)
      expect((await inNs('b', ['prepare', 'k'])).exitCode).toBe(0)
      expect((await inNs('a', ['mounts', '--mount', target, 'k'])).exitCode).toBe(0)
      fs.writeFileSync(path.join(target, 'f'), 'a')
      // b's "k" is another snapshot: not mounted, so removable; a's is refused.
      expect(await inNs('b', ['unmount', target])).toEqual({stdout: '', stderr: `ctrsnap: no snapshot mounted by ctrsnap at ${target}\n`, exitCode: NOT_FOUND})
      expect((await inNs('a', ['rm', 'k'])).exitCode).toBe(exitCodeFor('failed-precondition'))
      expect((await inNs('b', ['rm', 'k'])).exitCode).toBe(0)
      expect(isMountPoint(target)).toBe(true)
      expect(await inNs('a', ['unmount', '--rm', target])).toEqual({stdout: '', stderr: '', exitCode: 0})
      expect(isMountPoint(target)).toBe(false)
      expect(snapshotDirs()).toEqual([])
    } finally {
      if (isMountPoint(target)) await unmountAll(target)
    }
  })

  it.skipIf(!canMount)('cleanup works across every namespace: an orphan goes, every namespace\'s directories and stale mount records are judged (needs root)', async () => {
    for (const snapshotter of ['overlayfs', 'native']) {
      const target = path.join(tmp.dir, `mnt-${snapshotter}`)
      expect((await inNs('a', ['prepare', 'k'], snapshotter)).exitCode).toBe(0)
      expect((await inNs('b', ['prepare', 'k'], snapshotter)).exitCode).toBe(0)
      expect((await inNs('b', ['mounts', '--mount', target, 'k'], snapshotter)).exitCode).toBe(0)
      await unmountAll(target) // by hand: b's mount record is now stale
      const orphan = path.join(root, snapshotter, 'snapshots', '99')
      fs.mkdirSync(orphan)
      // From a namespace with no snapshots at all, and from a: the same plan, the whole store's.
      const dry = await inNs('c', ['cleanup', '--dry-run', '--json'], snapshotter)
      const items = (JSON.parse(dry.stdout) as {kind: string; path: string}[]).map(i => [i.kind, i.path])
      expect(items).toEqual([['orphan', orphan], ['stale-mount', target]])
      expect((await inNs('a', ['cleanup'], snapshotter)).stdout).toMatch(/\nreclaimed 2 items, /)
      expect(snapshotDirs(snapshotter)).toEqual(['1', '2'])
      for (const ns of ['a', 'b']) expect((await inNs(ns, ['ls', '-q'], snapshotter)).stdout).toBe('k\n')
      expect((await inNs('c', ['cleanup', '--dry-run'], snapshotter)).stdout).toBe('would reclaim 0 items, 0.0 B\n')
    }
  })

  it.skipIf(!canMount)('unpack reuses the layers committed in its namespace, and unpacks its own copy in another (as containerd 1.6\'s overlayfs does) (needs root)', async () => {
    const img = buildImage([{entries: [{name: 'a', content: 'one'}], compression: 'gzip'}, {entries: [{name: 'b', content: 'two'}], compression: 'gzip'}])
    const file = path.join(tmp.dir, 'img.tar')
    fs.writeFileSync(file, archive(ociLayoutFiles([{image: img, tag: 'v1'}])))
    const chain = expectedChainIds(img.layers.map(l => l.diffId))
    const unpack = async (ns: string) => {
      const r = await inNs(ns, ['unpack', '--json', `${file}:v1`])
      expect(r.exitCode, r.stderr).toBe(0)
      return r
    }
    await unpack('a')
    expect(snapshotDirs()).toEqual(['1', '2'])
    await unpack('b')
    expect(snapshotDirs()).toEqual(['1', '2', '3', '4'])
    // Again in a: nothing new on disk, every layer reused.
    expect((await unpack('a')).stdout).not.toBe('')
    expect(snapshotDirs()).toEqual(['1', '2', '3', '4'])
    for (const ns of ['a', 'b']) expect((await inNs(ns, ['ls', '-q'])).stdout).toBe(`${[...chain].sort().join('\n')}\n`)
    // Removing b's copy leaves a's whole.
    expect((await inNs('b', ['rm', '-r', chain[0]!])).exitCode).toBe(0)
    expect(snapshotDirs()).toEqual(['1', '2'])
    expect((await inNs('a', ['tree'])).stdout).toBe(` ${chain[0]}\n  \\_ ${chain[1]}\n`)
  })
})
