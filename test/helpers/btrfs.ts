// A loop-backed btrfs for tests that need a real one (the btrfs snapshotter's
// root must be on btrfs). Each lives under its own temp dir named
// `ctrsnap-btrfs-<pid>-XXXXXX`: the backing file `disk.img`, mounted at `mnt`.
// It is unmounted and its loop device detached by cleanup(), by the process's
// exit and signal handlers, and, when the process was SIGKILLed and could do
// neither, by sweepDeadLoops() at the next setup in any test process: the pid
// in the backing file's path says whose it was.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll} from 'vitest'
import {hasBinary} from './ref-ctr.js'

export const PREFIX = 'ctrsnap-btrfs-'

export interface LoopBtrfs {
  /** The mounted btrfs (the root a test puts its snapshotter under). */
  dir: string
  /** The loop device, e.g. /dev/loop3: the `source` of btrfs mount lines. */
  device: string
  /** The backing file. */
  image: string
  /** Unmount, detach, delete the temp dir. Idempotent. */
  cleanup(): void
}

const sh = (cmd: string, args: readonly string[]): string =>
  execFileSync(cmd, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, LC_ALL: 'C'}})
const tryRun = (cmd: string, args: readonly string[]): boolean => {
  try {
    sh(cmd, args)
    return true
  } catch {
    return false
  }
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** Mount points (deepest first) whose source is `device`, or that lie under `dir`. */
function mountsOf(device: string | null, dir: string): string[] {
  const out: string[] = []
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ')
    if (!post) continue
    const mp = unescape(pre!.split(' ')[4] ?? '')
    const source = unescape(post.split(' ')[1] ?? '')
    if ((device !== null && source === device) || mp === dir || mp.startsWith(dir + '/')) out.push(mp)
  }
  return out.sort((a, b) => b.length - a.length)
}

/** Loop devices and their backing files (`losetup -J -l`). */
export function loopDevices(): {name: string; backFile: string}[] {
  const text = sh('losetup', ['-J', '-l'])
  if (!text.trim()) return []
  const parsed = JSON.parse(text) as {loopdevices?: {name: string; 'back-file': string | null}[]}
  return (parsed.loopdevices ?? []).map(d => ({name: d.name, backFile: (d['back-file'] ?? '').replace(/ \(deleted\)$/, '')}))
}

/** Undo everything of the temp dir `tmp`: its mounts (lazily if busy), its loop devices, then the dir itself. */
function teardown(tmp: string): void {
  const devices = loopDevices().filter(d => d.backFile.startsWith(tmp + '/')).map(d => d.name)
  const points = new Set(mountsOf(null, tmp))
  for (const dev of devices) for (const mp of mountsOf(dev, tmp)) points.add(mp)
  for (const mp of [...points].sort((a, b) => b.length - a.length)) {
    if (!tryRun('umount', [mp])) tryRun('umount', ['-l', mp])
  }
  // `mount -o loop` sets autoclear, so the device usually went with the umount; detach what is left.
  for (const dev of devices) tryRun('losetup', ['-d', dev])
  fs.rmSync(tmp, {recursive: true, force: true})
}

const live = new Map<string, () => void>()

/** Tear down every loop btrfs this process still has: what the exit and signal handlers run. */
export function cleanupAll(): void {
  for (const fn of [...live.values()]) fn()
}

let handlersInstalled = false
function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupAll()
      // Die of the same signal, as if no handler had been there.
      process.off(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Tear down the loop btrfs of test processes that died without cleaning up
 * (SIGKILL): loop devices whose backing file is under a `ctrsnap-btrfs-<pid>-`
 * dir of a dead pid, and such dirs left in `tmpDir`. Returns the dirs torn down.
 */
export function sweepDeadLoops(tmpDir = os.tmpdir()): string[] {
  const dead = new Set<string>()
  const pattern = new RegExp(`^(${tmpDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${PREFIX}(\\d+)-[^/]+)/`)
  for (const d of loopDevices()) {
    const m = pattern.exec(d.backFile)
    if (m && !alive(Number(m[2]))) dead.add(m[1]!)
  }
  for (const name of fs.readdirSync(tmpDir)) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (m && !alive(Number(m[1]))) dead.add(path.join(tmpDir, name))
  }
  for (const tmp of dead) teardown(tmp)
  return [...dead]
}

/** A fresh btrfs of `sizeMiB` (btrfs wants at least ~110 MiB) on a loop file, mounted; see the file comment for its lifetime. */
export function makeLoopBtrfs(opts: {sizeMiB?: number} = {}): LoopBtrfs {
  if (!hasBinary('mkfs.btrfs') || !hasBinary('btrfs')) throw new Error('btrfs-progs is not installed: run scripts/install-deps.sh')
  sweepDeadLoops()
  installHandlers()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`))
  const image = path.join(tmp, 'disk.img')
  const dir = path.join(tmp, 'mnt')
  let done = false
  const cleanup = (): void => {
    if (done) return
    done = true
    live.delete(tmp)
    teardown(tmp)
  }
  live.set(tmp, cleanup)
  try {
    fs.mkdirSync(dir)
    fs.closeSync(fs.openSync(image, 'w'))
    fs.truncateSync(image, (opts.sizeMiB ?? 256) * 1024 * 1024)
    sh('mkfs.btrfs', ['-q', image])
    sh('mount', ['-o', 'loop', image, dir])
    const device = loopDevices().find(d => d.backFile === image)?.name
    if (!device) throw new Error(`no loop device backs ${image} after mounting it`)
    return {dir, device, image, cleanup}
  } catch (err) {
    cleanup()
    throw err
  }
}

let shared: LoopBtrfs | undefined
// One loop btrfs per test file (vitest runs each file in its own process): made on first use, torn down after the file's tests.
afterAll(() => {
  shared?.cleanup()
  shared = undefined
})

/** This test file's loop btrfs (1 GiB, sparse), made on first use. */
export function sharedLoopBtrfs(): LoopBtrfs {
  shared ??= makeLoopBtrfs({sizeMiB: 1024})
  return shared
}

/** Subvolumes at or below `dir`, deepest first (a subvolume's root directory is inode 256 on btrfs). */
function subvolumesUnder(dir: string): string[] {
  const found: string[] = []
  const walk = (d: string): void => {
    let st: fs.Stats
    try {
      st = fs.lstatSync(d)
    } catch {
      return
    }
    if (!st.isDirectory()) return
    if (st.ino === 256) found.push(d)
    for (const name of fs.readdirSync(d)) walk(path.join(d, name))
  }
  walk(dir)
  return found.reverse()
}

/** Delete `dir` on a btrfs: its subvolumes with `btrfs subvolume delete` (rm -rf cannot remove read-only ones), then the rest. */
export function removeBtrfsTree(dir: string): void {
  const subvolumes = subvolumesUnder(dir)
  if (subvolumes.length > 0) sh('btrfs', ['-q', 'subvolume', 'delete', ...subvolumes])
  fs.rmSync(dir, {recursive: true, force: true})
}
