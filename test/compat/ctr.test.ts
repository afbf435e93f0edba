import {execa} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ctrsnap, type CliResult} from '../helpers/cli.js'
import {sharedLoopBtrfs} from '../helpers/btrfs.js'
import {hasContainerd, startRefContainerd, type RefContainerd} from '../helpers/ref-ctr.js'
import {isLinux, isRoot, tempRoot} from '../helpers/root.js'

/*
 * One scripted session through the real `ctr snapshots` (a private containerd 1.6) and
 * through ctrsnap, stdout compared byte for byte after normalising only what legitimately
 * differs: snapshot directory paths (each tool's root and id scheme), timestamps, and the
 * containerd.io/gc.root label ctr adds (ctrsnap has no GC) together with ctr's random
 * label order.
 *
 * On btrfs both stores are on one loop btrfs (containerd's btrfs plugin loads only there),
 * so mount lines name the same device; subvolume ids, allocated by the one file system to
 * both tools as they go, are normalised like directories.
 *
 * ctr quirk 1: containerd garbage-collects every view shortly after any removal. So the
 * session removes nothing once views exist, except in its last step, and before the first
 * view it waits for a GC run that started after the last removal (`ctr leases delete
 * --sync` schedules one and waits for it), so no collection is pending when views appear.
 */

type Step =
  | {args: string[]; code?: number} // code: ctrsnap's exit code for a step that must fail (ctr exits 1)
  | {write: string} // put files in the active snapshot's writable dir (found from, or mounted by, each tool's mount line)
  | {gcBarrier: true}

const FILES: Record<string, string> = {'hello': 'world\n', 'empty': '', 'big': 'x'.repeat(5000), 'dir/sub/f': 'y'.repeat(10_000)}

const SESSION: Step[] = [
  {args: ['ls']},
  {args: ['tree']},
  {args: ['usage', '-b']},
  {args: ['prepare', 'a']},
  {write: 'a'},
  {args: ['usage', '-b', 'a']},
  {args: ['prepare', '-t', '/mnt/a2', 'a2']},
  {args: ['commit', 'base', 'a']},
  {args: ['prepare', '--target', '/mnt/c', 'c', 'base']},
  {write: 'c'},
  {args: ['prepare', '--mounts', 'c2', 'base']},
  {args: ['prepare', '-t', '/mnt/c3', '--mounts', 'c3', 'base']},
  {args: ['mounts', '/mnt/x', 'c']},
  {args: ['m', '/mnt/x', 'a2']},
  {args: ['mount', '/mnt/y', 'c2']},
  {args: ['label', 'base', 'html=<b>&', 'a=1', 'a.b=2', 'absent=']},
  {args: ['info', 'base']},
  {args: ['label', 'c', 'z=1', 'b=2', 'm=3']},
  {args: ['label', 'c', 'b=', 'm=', 'nope=']},
  {args: ['label', 'c', 'flag']},
  {args: ['label', 'c']},
  {args: ['info', 'c']},
  {args: ['info', 'a2']},
  {args: ['commit', 'c-done', 'c']},
  {args: ['info', 'c-done']},
  {args: ['prepare', 'z-work']},
  {args: ['commit', 'z-base', 'z-work']},
  {args: ['prepare', 'b-child', 'z-base']},
  {args: ['prepare', 'm-root']},
  {args: ['prepare', 'dir/sub', 'c-done']},
  {args: ['mounts', '/mnt/d', 'dir/sub']},
  {args: ['ls']},
  {args: ['list']},
  {args: ['tree']},
  {args: ['usage', '-b']},
  {args: ['usage']},
  {args: ['usage', '-b', 'c-done', 'base', 'a2']},
  // Errors: both fail with nothing on stdout.
  {args: ['prepare', 'a2'], code: 4},
  {args: ['prepare', 'base'], code: 4},
  {args: ['commit', 'c-done', 'a2'], code: 4},
  {args: ['commit', 'base', 'base'], code: 4},
  {args: ['prepare', 'p', 'nope'], code: 3},
  {args: ['prepare', 'x', 'c2'], code: 6},
  {args: ['info', 'missing'], code: 3},
  {args: ['label', 'missing', 'k=v'], code: 3},
  {args: ['usage', '-b', 'base', 'missing'], code: 3},
  {args: ['commit', 'c4', 'base'], code: 5},
  {args: ['mounts', '/mnt/x', 'base'], code: 5},
  {args: ['rm', 'base'], code: 5},
  {args: ['rm', 'missing'], code: 3},
  {args: ['ls']},
  // Removals, the last ones before views exist.
  {args: ['rm', 'c3']},
  {args: ['rm', 'c2', 'missing', 'a2'], code: 3},
  {args: ['ls']},
  {args: ['remove', 'a2']},
  {args: ['delete', 'm-root']},
  {args: ['del', 'b-child']},
  {args: ['prepare', '-t', '/mnt/n', 'new', 'base']},
  {args: ['tree']},
  {gcBarrier: true},
  {args: ['view', '-t', '/mnt/v', 'v', 'base']},
  {args: ['view', '--mounts', 'v2', 'c-done']},
  {args: ['view', '-t', '/mnt/v0', 'v0']},
  {args: ['label', 'v']},
  {args: ['info', 'v']},
  {args: ['label', 'v2', 'k=v']},
  {args: ['info', 'v2']},
  {args: ['ls']},
  {args: ['tree']},
  {args: ['usage', '-b']},
  {args: ['usage', 'v', 'base']},
  {args: ['mounts', '/mnt/v', 'v']},
  {args: ['mounts', '/mnt/v2', 'v2']},
  {args: ['m', '/mnt/v0', 'v0']},
  {args: ['view', 'v', 'base'], code: 4},
  {args: ['prepare', 'x', 'v'], code: 6},
  {args: ['view', 'x', 'v2'], code: 6},
  {args: ['commit', 'x', 'v0'], code: 5},
  {args: ['ls']},
  // The only removal while views exist, and the last compared step.
  {args: ['rm', 'v']},
]

interface Tool {
  name: 'ctr' | 'ctrsnap'
  /** Prefix of snapshot directories: <n> follows it. */
  snapshotsDir: string
  run(args: string[]): Promise<CliResult>
  gcBarrier(): Promise<void>
}

function writeFiles(dir: string): void {
  for (const [name, text] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    fs.writeFileSync(path.join(dir, name), text)
  }
}

/**
 * Write FILES into an active snapshot, found from the tool's own mount line: the
 * upper or bound directory, or (btrfs, which names no directory) through a real
 * mount of the line in a temp dir.
 */
async function writeInto(tool: Tool, key: string): Promise<void> {
  const r = await tool.run(['mounts', '/mnt/w', key])
  expect(r.exitCode, `${tool.name} mounts ${key}: ${r.stderr}`).toBe(0)
  const upper = /upperdir=([^,\s]+)/.exec(r.stdout) ?? /^mount -t bind (\S+) /.exec(r.stdout)
  if (upper) return writeFiles(upper[1]!)
  const btrfs = /^mount -t btrfs (\S+) \/mnt\/w -o (\S+)\n$/.exec(r.stdout)
  if (!btrfs) throw new Error(`no writable dir in ${JSON.stringify(r.stdout)}`)
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-compat-w-'))
  await execa('mount', ['-t', 'btrfs', '-o', btrfs[2]!, btrfs[1]!, target])
  try {
    writeFiles(target)
  } finally {
    await execa('umount', [target])
    fs.rmdirSync(target)
  }
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const GC_ROOT = 'containerd.io/gc.root'

/** ctr's `label` line without gc.root, sorted by key (ctr's order is Go map order). */
function ctrLabelLine(line: string): string {
  if (line === '\n') return line
  const pairs = line.replace(/\n$/, '').split(',').filter(p => !p.startsWith(`${GC_ROOT}=`))
  const key = (p: string): string => p.slice(0, p.indexOf('=') < 0 ? p.length : p.indexOf('='))
  pairs.sort((x, y) => Buffer.compare(Buffer.from(key(x)), Buffer.from(key(y))))
  return pairs.join(',') + '\n'
}

/** ctr's `info` JSON without the gc.root label, as Go would print it had the label not been there. */
function ctrInfoWithoutGcRoot(json: string): string {
  const lines = json.split('\n')
  const i = lines.findIndex(l => l.startsWith(`        "${GC_ROOT}": `))
  if (i < 0) return json
  const wasLast = !lines[i]!.endsWith(',')
  lines.splice(i, 1)
  if (lines[i - 1] === '    "Labels": {' && lines[i] === '    },') lines.splice(i - 1, 2)
  else if (wasLast) lines[i - 1] = lines[i - 1]!.replace(/,$/, '')
  return lines.join('\n')
}

/**
 * Snapshot dirs become <snap:N>, N by first appearance (reset after removals, since a
 * removed id may be reused); Go RFC3339Nano times become <time:N> per output, which keeps
 * "Created equals Updated" visible. The time pattern is Go's exact shape (no trailing zeros).
 */
class Normaliser {
  ids = new Map<string, number>()
  /** btrfs subvolume ids: never reused, so never reset. */
  subvols = new Map<string, number>()
  constructor(readonly snapshotsDir: string) {}
  reset(): void {
    this.ids.clear()
  }
  apply(text: string): string {
    const times = new Map<string, number>()
    return text
      .replace(new RegExp(`${escape(this.snapshotsDir)}(\\d+)`, 'g'), (_, id: string) => {
        if (!this.ids.has(id)) this.ids.set(id, this.ids.size + 1)
        return `<snap:${this.ids.get(id)}>`
      })
      .replace(/subvolid=(\d+)/g, (_, id: string) => {
        if (!this.subvols.has(id)) this.subvols.set(id, this.subvols.size + 1)
        return `subvolid=<subvol:${this.subvols.get(id)}>`
      })
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d*[1-9])?Z/g, t => {
        if (!times.has(t)) times.set(t, times.size + 1)
        return `<time:${times.get(t)}>`
      })
  }
}

interface Transcript {
  text: string
  results: {args: string[]; result: CliResult}[]
}

async function runSession(tool: Tool): Promise<Transcript> {
  const norm = new Normaliser(tool.snapshotsDir)
  let text = ''
  const results: Transcript['results'] = []
  for (const step of SESSION) {
    if ('write' in step) {
      await writeInto(tool, step.write)
      text += `$ (write files into ${step.write})\n`
      continue
    }
    if ('gcBarrier' in step) {
      await tool.gcBarrier()
      continue
    }
    const r = await tool.run(step.args)
    results.push({args: step.args, result: r})
    let out = r.stdout
    if (tool.name === 'ctr' && r.exitCode === 0) {
      if (step.args[0] === 'label') out = ctrLabelLine(out)
      if (step.args[0] === 'info') out = ctrInfoWithoutGcRoot(out)
    }
    text += `$ ${step.args.join(' ')}\n${norm.apply(out)}[${r.exitCode === 0 ? 'ok' : 'failed'}]\n`
    if (['rm', 'remove', 'delete', 'del'].includes(step.args[0]!)) norm.reset()
  }
  return {text, results}
}

const canRun = isRoot && isLinux
/**
 * Both tools run the session in this namespace (ctrsnap with `-n NS` before the command, as
 * ctr users write it), one for both snapshotters as containerd allows, while the default
 * namespace holds snapshots with the session's own keys: it must neither see nor touch them.
 */
const ns = `ctrsnap-compat-${process.pid}-${Date.now()}`
// No view: containerd would garbage-collect it after the session's removals (quirk 1).
const IN_DEFAULT: string[][] = [['prepare', 'a'], ['commit', 'base', 'a'], ['prepare', 'c', 'base']]

describe.skipIf(!canRun)('same session through ctr 1.6 and ctrsnap (needs root on Linux)', () => {
  let ref: RefContainerd
  let dir: ReturnType<typeof tempRoot>
  /** ctrsnap's root for a snapshotter: btrfs's on the loop btrfs that holds containerd's btrfs root too. */
  const rootOf = (snapshotter: string): string => (snapshotter === 'btrfs' ? path.join(sharedLoopBtrfs().dir, 'ctrsnap') : path.join(dir.dir, snapshotter))
  beforeAll(async () => {
    // We are root: a missing containerd is a broken setup (scripts/install-deps.sh), not a reason to skip.
    expect(hasContainerd, 'containerd and ctr must be installed (scripts/install-deps.sh)').toBe(true)
    ref = await startRefContainerd({btrfsRoot: path.join(sharedLoopBtrfs().dir, 'containerd')})
    dir = tempRoot('ctrsnap-compat-')
  }, 60_000)
  afterAll(async () => {
    await ref?.stop()
    dir?.cleanup()
  })

  for (const snapshotter of ['overlayfs', 'native', 'btrfs'] as const) {
    describe(snapshotter, () => {
      let ctr: Transcript
      let ours: Transcript
      let ctrTool: Tool
      let ourTool: Tool
      let defaultLs: string

      beforeAll(async () => {
        const root = rootOf(snapshotter)
        const namespace = ns
        ctrTool = {
          name: 'ctr',
          snapshotsDir: `${snapshotter === 'btrfs' ? ref.btrfsRoot : `${ref.root}/io.containerd.snapshotter.v1.${snapshotter}`}/snapshots/`,
          run: args => ref.snapshots(args, {namespace, snapshotter}),
          // A GC run that starts after every removal so far, so none is pending when views appear.
          gcBarrier: async () => {
            const lease = await execa('ctr', ['-a', ref.socket, '-n', namespace, 'leases', 'create'], {reject: false})
            expect(lease.exitCode, lease.stderr).toBe(0)
            const id = /\S+/.exec(lease.stdout)![0]
            const del = await execa('ctr', ['-a', ref.socket, '-n', namespace, 'leases', 'delete', '--sync', id], {reject: false})
            expect(del.exitCode, del.stderr).toBe(0)
          },
        }
        ourTool = {
          name: 'ctrsnap',
          snapshotsDir: `${root}/${snapshotter}/snapshots/`,
          run: args => ctrsnap(['-n', namespace, ...args], {root, snapshotter}),
          gcBarrier: async () => {},
        }
        for (const args of IN_DEFAULT) {
          for (const r of await Promise.all([ref.snapshots(args, {namespace: 'default', snapshotter}), ctrsnap(args, {root, snapshotter})])) expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0)
        }
        defaultLs = (await ctrsnap(['ls'], {root, snapshotter})).stdout
        // Independent stores: run both sessions at once (each ctrsnap command costs a Node start-up).
        ;[ctr, ours] = await Promise.all([runSession(ctrTool), runSession(ourTool)])
        // CTRSNAP_COMPAT_DUMP=/tmp/x keeps both normalised transcripts (x.<snapshotter>.ctr / .ctrsnap) for diff(1).
        if (process.env.CTRSNAP_COMPAT_DUMP) {
          fs.writeFileSync(`${process.env.CTRSNAP_COMPAT_DUMP}.${snapshotter}.ctr`, ctr.text)
          fs.writeFileSync(`${process.env.CTRSNAP_COMPAT_DUMP}.${snapshotter}.ctrsnap`, ours.text)
        }
      }, 900_000)

      it('stdout is byte-identical after normalising paths, times and gc.root', () => {
        expect(ours.text).toBe(ctr.text)
      })

      it('errors: ctr exits 1, ctrsnap the specific code with one `ctrsnap:` line, neither prints on stdout', () => {
        const steps = SESSION.filter((s): s is {args: string[]; code?: number} => 'args' in s)
        steps.forEach((step, i) => {
          const c = ctr.results[i]!
          const o = ours.results[i]!
          const what = step.args.join(' ')
          if (step.code === undefined) {
            expect({what, ctr: c.result.exitCode, ctrStderr: c.result.stderr}).toEqual({what, ctr: 0, ctrStderr: ''})
            expect({what, code: o.result.exitCode, stderr: o.result.stderr}).toEqual({what, code: 0, stderr: ''})
          } else {
            expect({what, ctr: c.result.exitCode, ctrStdout: c.result.stdout}).toEqual({what, ctr: 1, ctrStdout: ''})
            expect({what, code: o.result.exitCode, stdout: o.result.stdout, stderr: o.result.stderr}).toEqual({what, code: step.code, stdout: '', stderr: expect.stringMatching(/^ctrsnap: [^\n]+\n$/)})
          }
        })
      })

      it('namespaces ls is ctr\'s, byte for byte; the default namespace is as the session found it', async () => {
        const [theirs, mine] = await Promise.all([
          execa('ctr', ['-a', ref.socket, 'namespaces', 'ls'], {reject: false, stripFinalNewline: false}),
          ctrsnap(['namespaces', 'ls'], {root: rootOf(snapshotter), snapshotter}),
        ])
        expect(mine).toEqual({stdout: theirs.stdout, stderr: '', exitCode: 0})
        expect(mine.stdout).toBe(`NAME${' '.repeat(ns.length - 3)}LABELS \n${ns}        \ndefault${' '.repeat(ns.length - 6)}       \n`)
        const [theirLs, myLs] = await Promise.all([ref.snapshots(['ls'], {namespace: 'default', snapshotter}), ctrsnap(['ls'], {root: rootOf(snapshotter), snapshotter})])
        expect(myLs.stdout).toBe(defaultLs)
        expect(myLs.stdout).toBe(theirLs.stdout)
        expect(myLs.stdout).toBe('KEY  PARENT KIND      \nbase        Committed \nc    base   Active    \n')
      })

      it('views: ctr garbage-collects them after a removal (quirk 1); ctrsnap keeps them until removed', async () => {
        await ctrTool.gcBarrier() // the collection the last `rm v` triggered, deterministically
        const theirs = (await ctrTool.run(['ls'])).stdout
        const mine = (await ourTool.run(['ls'])).stdout
        expect(theirs).not.toMatch(/^v0 /m)
        expect(theirs).not.toMatch(/^v2 /m)
        expect(mine).toMatch(/^v0 +View +$/m)
        expect(mine).toMatch(/^v2 +c-done +View +$/m)
      })
    })
  }
})
