import path from 'node:path'
import {BtrfsDriver} from './drivers/btrfs.js'
import type {Driver} from './drivers/driver.js'
import {NativeDriver} from './drivers/native.js'
import {OverlayDriver} from './drivers/overlay.js'
import {InvalidArgumentError} from './errors.js'
import {LocalSnapshotter} from './local.js'
import {DEFAULT_NAMESPACE, validateNamespace} from './namespaces.js'
import {SNAPSHOTTERS, type SnapshotterName} from './snapshotter.js'

export const DEFAULT_ROOT = '/var/lib/ctrsnap'

export interface OpenOptions {
  root: string
  snapshotter: string
  /** Default: `default`. */
  namespace?: string
}

/** The one table from snapshotter name to driver: `dir` is `<root>/<name>`, `root` the user's --root (for messages). */
const DRIVERS: Record<SnapshotterName, (dir: string, root: string) => Driver> = {
  overlayfs: dir => new OverlayDriver(dir),
  native: dir => new NativeDriver(dir),
  btrfs: (dir, root) => new BtrfsDriver(dir, root),
}

/** The snapshotter for `<root>/<snapshotter>/`, seeing the snapshots of one namespace. Creates nothing: the first write does. */
export function openSnapshotter(opts: OpenOptions): LocalSnapshotter {
  const name = opts.snapshotter as SnapshotterName
  if (!SNAPSHOTTERS.includes(name)) {
    throw new InvalidArgumentError(`unknown snapshotter "${opts.snapshotter}" (expected ${SNAPSHOTTERS.slice(0, -1).join(', ')} or ${SNAPSHOTTERS.at(-1)})`)
  }
  if (opts.root === '') throw new InvalidArgumentError('root must not be empty')
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE
  validateNamespace(namespace)
  const dir = path.join(path.resolve(opts.root), name)
  const driver = DRIVERS[name](dir, opts.root)
  // Before any command reads or writes, as containerd does not load a snapshotter whose root cannot hold it.
  driver.checkRoot()
  return new LocalSnapshotter(driver, dir, namespace)
}
