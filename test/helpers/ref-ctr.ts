import {execa, type ResultPromise} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {CliResult} from './cli.js'

/**
 * A private containerd 1.6 (the reference `ctr snapshots` talks to), configured like
 * /work/shared/tools/ref-containerd: root, state and socket under one unique /tmp dir,
 * so it never touches a system containerd. Spawned here rather than through that script
 * because the repo's tests must run where only the Debian packages are installed (CI).
 * CRI is disabled (nothing here needs it, and it would open a streaming port), and the
 * `opt` plugin is pointed inside the dir instead of /opt/containerd.
 */
export interface RefContainerd {
  dir: string
  /** containerd's root: snapshots live in <root>/io.containerd.snapshotter.v1.<name>/snapshots/<n>. */
  root: string
  /** The btrfs snapshotter's root when one was given (its `root_path`): it loads only on btrfs. */
  btrfsRoot?: string
  socket: string
  /** `ctr -a SOCKET -n NAMESPACE snapshots --snapshotter SNAPSHOTTER ARGS...` with exact bytes. */
  snapshots(args: readonly string[], opts: {namespace: string; snapshotter: string}): Promise<CliResult>
  stop(): Promise<void>
}

export function hasBinary(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some(d => {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

export const hasContainerd = hasBinary('containerd') && hasBinary('ctr')

/**
 * `btrfsRoot`: where the btrfs snapshotter keeps its snapshots (the plugin's
 * `root_path`, read by snapshots/btrfs/plugin); it must be on btrfs, or the
 * plugin does not load. The rest of the daemon stays in its own temp dir.
 */
export async function startRefContainerd(opts: {btrfsRoot?: string} = {}): Promise<RefContainerd> {
  if (!hasContainerd) throw new Error('containerd and ctr are not installed: run scripts/install-deps.sh')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ref-ctrsnap-'))
  const root = path.join(dir, 'root')
  const socket = path.join(dir, 'containerd.sock')
  const config = path.join(dir, 'config.toml')
  fs.writeFileSync(config, [
    'version = 2',
    `root = "${root}"`,
    `state = "${path.join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${path.join(dir, 'opt')}"`,
    ...(opts.btrfsRoot ? ['[plugins."io.containerd.snapshotter.v1.btrfs"]', `  root_path = "${opts.btrfsRoot}"`] : []),
    '',
  ].join('\n'))
  const log = fs.openSync(path.join(dir, 'log'), 'w')
  const daemon: ResultPromise = execa('containerd', ['--config', config], {stdin: 'ignore', stdout: log, stderr: log, reject: false})
  let exited = false
  void daemon.then(() => { exited = true })

  const snapshots = async (args: readonly string[], opts: {namespace: string; snapshotter: string}): Promise<CliResult> => {
    const r = await execa('ctr', ['-a', socket, '-n', opts.namespace, 'snapshots', '--snapshotter', opts.snapshotter, ...args], {reject: false, stripFinalNewline: false, stdin: 'ignore'})
    return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1}
  }
  const stop = async (): Promise<void> => {
    if (!exited) {
      daemon.kill('SIGTERM')
      const killer = setTimeout(() => daemon.kill('SIGKILL'), 10_000)
      await daemon
      clearTimeout(killer)
    }
    fs.closeSync(log)
    fs.rmSync(dir, {recursive: true, force: true})
  }

  // Serving once `ctr version` gets an answer from the daemon, not merely once the socket exists.
  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited) {
      const text = fs.readFileSync(path.join(dir, 'log'), 'utf8')
      await stop()
      throw new Error(`containerd exited at startup:\n${text.slice(-2000)}`)
    }
    if (fs.existsSync(socket) && (await execa('ctr', ['-a', socket, 'version'], {reject: false, stdin: 'ignore'})).exitCode === 0) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`containerd did not start within 20s (socket ${socket})`)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  return {dir, root, btrfsRoot: opts.btrfsRoot, socket, snapshots, stop}
}
