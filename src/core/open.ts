import path from 'node:path'
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

/** The snapshotter for `<root>/<snapshotter>/`, seeing the snapshots of one namespace. Creates nothing: the first write does. */
export function openSnapshotter(opts: OpenOptions): LocalSnapshotter {
  const name = opts.snapshotter as SnapshotterName
  if (!SNAPSHOTTERS.includes(name)) {
    throw new InvalidArgumentError(`unknown snapshotter "${opts.snapshotter}" (expected ${SNAPSHOTTERS.join(' or ')})`)
  }
  if (opts.root === '') throw new InvalidArgumentError('root must not be empty')
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE
  validateNamespace(namespace)
  const dir = path.join(path.resolve(opts.root), name)
  return new LocalSnapshotter(name === 'overlayfs' ? new OverlayDriver(dir) : new NativeDriver(dir), dir, namespace)
}
