import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {openSnapshotter} from '../../src/core/open.js'
import {extractKey, LABEL_EXTRACT_OWNER} from '../../src/core/owner.js'
import {ctrsnap} from '../helpers/cli.js'
import {archive, buildImage, expectedChainIds, ociLayoutFiles} from '../helpers/image.js'
import {isMountPoint, unmountAll} from '../helpers/mount.js'
import {canMount, tempRoot} from '../helpers/root.js'

const NOT_FOUND = exitCodeFor('not-found')

// Each step is a Node start-up; on a shared 2-core machine a test of thirty steps needs more than the default minute.
describe('namespaces (-n/--namespace, CTRSNAP_NAMESPACE, namespaces ls)', {timeout: 180_000}, () => {
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
    // Reads in both namespaces at once (each is a Node start-up).
    const [lsA, lsB, lsDefault, treeB, treeA, infoA, infoB, infoBase] = await Promise.all([
      inNs('a', ['ls']), inNs('b', ['ls']), inNs(undefined, ['ls']), inNs('b', ['tree']), inNs('a', ['tree']),
      inNs('a', ['info', 'work']), inNs('b', ['info', 'work']), inNs('b', ['info', 'base']),
    ])
    expect(lsA.stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nlook base   View      \nwork base   Active    \n')
    expect(lsB.stdout).toBe('KEY  PARENT KIND   \nwork        Active \n')
    expect(lsDefault.stdout).toBe('KEY PARENT KIND \n')
    expect(treeB.stdout).toBe(' work\n')
    expect(treeA.stdout).toBe(' base\n  \\_ look\n  \\_ work\n')
    expect(JSON.parse(infoA.stdout)).toMatchObject({Parent: 'base', Labels: {who: 'a'}})
    expect(JSON.parse(infoB.stdout)).toMatchObject({Labels: {who: 'b'}})
    expect(infoBase.exitCode).toBe(NOT_FOUND)
    // label changes only its namespace's snapshot.
    expect((await inNs('b', ['label', 'work', 'who=', 'x=1'])).stdout).toBe('x=1\n')
    const upperOf = (r: {stdout: string}) => /upperdir=([^,\s]+)/.exec(r.stdout)?.[1]
    const [labelA, labelLook, usageB, usageBase, mountA, mountB, mountLook, diffB, diffA] = await Promise.all([
      inNs('a', ['label', 'work']), inNs('b', ['label', 'look', 'x=1']),
      // usage, mounts and diff find only their namespace's keys.
      inNs('b', ['usage', '-b']), inNs('b', ['usage', 'base']),
      inNs('a', ['mounts', '/mnt', 'work']), inNs('b', ['mounts', '/mnt', 'work']), inNs('b', ['mounts', '/mnt', 'look']),
      inNs('b', ['diff', '-o', path.join(tmp.dir, 'x.tar'), 'base']), inNs('a', ['diff', '-o', path.join(tmp.dir, 'y.tar'), 'base']),
    ])
    expect(labelA.stdout).toBe('who=a\n')
    expect(labelLook.exitCode).toBe(NOT_FOUND)
    expect(usageB.stdout).toMatch(/^KEY +SIZE +INODES \nwork +\d+ +\d+ +\n$/)
    expect(usageBase.exitCode).toBe(NOT_FOUND)
    expect(upperOf(mountA)).toBeDefined()
    expect(mountB.stdout).toMatch(/^mount -t bind /)
    expect(upperOf(mountA)).not.toBe(mountB.stdout.split(' ')[3])
    expect(mountLook.exitCode).toBe(NOT_FOUND)
    expect(diffB.exitCode).toBe(NOT_FOUND)
    expect(diffA.exitCode).toBe(0)
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

  it('a killed unpack\'s extract snapshot: cleanup finds it in any namespace (naming -n in its advice), an unpack reclaims only its own namespace\'s', async () => {
    const exited = execa('true')
    const gonePid = exited.pid!
    await exited
    const chainId = `sha256:${'a'.repeat(64)}`
    const dead = extractKey('1-dead', chainId)
    const unowned = extractKey('2-unowned', chainId)
    const open = (namespace: string) => openSnapshotter({root, snapshotter: 'overlayfs', namespace})
    await open('b').prepare(dead, '', {labels: {[LABEL_EXTRACT_OWNER]: `${gonePid}:1`}})
    await open('c').prepare(unowned, '')
    expect(await open('a').reclaimExtracts([chainId])).toEqual([])
    expect((await open('b').stat(dead)).name).toBe(dead)
    const plan = await open('a').cleanup()
    expect(plan.items.map(i => i.snapshot?.key)).toEqual([dead])
    expect(plan.skipped.map(i => i.reason)).toEqual([expect.stringMatching(new RegExp(`remove it with: ctrsnap -n c rm '${unowned}'$`))])
    await expect(open('b').stat(dead)).rejects.toThrow('does not exist')
    expect((await ctrsnap(['namespaces', 'ls', '-q'], {root})).stdout).toBe('c\n')
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
