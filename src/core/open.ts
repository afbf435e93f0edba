import path from 'node:path'
import {NativeDriver} from './drivers/native.js'
import {OverlayDriver} from './drivers/overlay.js'
import {InvalidArgumentError} from './errors.js'
import {LocalSnapshotter} from './local.js'
import {SNAPSHOTTERS, type SnapshotterName} from './snapshotter.js'

export const DEFAULT_ROOT = '/var/lib/ctrsnap'

export interface OpenOptions {
  root: string
  snapshotter: string
}

/** The snapshotter for `<root>/<snapshotter>/`. Creates nothing: the first write does. */
export function openSnapshotter(opts: OpenOptions): LocalSnapshotter {
  const name = opts.snapshotter as SnapshotterName
  if (!SNAPSHOTTERS.includes(name)) {
    throw new InvalidArgumentError(`unknown snapshotter "${opts.snapshotter}" (expected ${SNAPSHOTTERS.join(' or ')})`)
  }
  if (opts.root === '') throw new InvalidArgumentError('root must not be empty')
  const dir = path.join(path.resolve(opts.root), name)
  return new LocalSnapshotter(name === 'overlayfs' ? new OverlayDriver(dir) : new NativeDriver(dir), dir)
}
