import fs from 'node:fs'
import {AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError} from '../errors.js'
import type {LocalSnapshotter} from '../local.js'
import type {Labels} from '../snapshotter.js'
import * as q from '../store/snapshots.js'
import {rfc3339Nano} from '../time.js'
import {diskUsage} from '../usage.js'
import {validateLabels} from '../labels.js'

/**
 * Commit an extract snapshot to `name` on `parent`, in one write transaction.
 *
 * An overlay layer does not read its parents while it is extracted (whiteouts
 * are inodes in its own upper directory), so unpack prepares layers with no
 * parent, extracts them concurrently, and only here, in order, attaches each
 * to the parent that by then is committed. Native snapshots hold a copy of
 * their parent, so there `key` must already have `parent`.
 *
 * Throws AlreadyExistsError when `name` exists (another unpack won the race).
 */
export async function commitExtract(sn: LocalSnapshotter, key: string, name: string, parent: string, labels: Labels): Promise<void> {
  validateLabels(labels)
  // Measured before the lock: the layer no longer changes, and a long walk must not hold up other writers.
  const paths = await sn.layerPaths(key)
  const u = paths.own ? diskUsage(paths.own) : {size: 0, inodes: 0}
  await sn.store.write(tx => {
    const db = tx.db
    const rec = q.getRecord(db, key)
    if (!rec) throw new NotFoundError(`snapshot "${key}" does not exist`)
    if (rec.kind !== 'Active') throw new FailedPreconditionError(`snapshot "${key}" is not active: only active snapshots can be committed`)
    if (q.getRecord(db, name)) throw new AlreadyExistsError(`snapshot "${name}": already exists`)
    if (rec.parent !== parent) {
      if (rec.parentId !== null || sn.driver.name !== 'overlayfs') {
        throw new InvalidArgumentError(`snapshot "${key}" has parent "${rec.parent}", cannot commit it on "${parent}"`)
      }
      const p = q.getRecord(db, parent)
      if (!p) throw new NotFoundError(`parent snapshot "${parent}" does not exist`)
      if (p.kind !== 'Committed') throw new InvalidArgumentError(`parent "${parent}" is not a committed snapshot`)
      // The one change a parentless overlay upper needs to hang under a parent: its record's parent.
      db.run('UPDATE snapshots SET parent_id = ? WHERE id = ?', [p.id, rec.id])
      adoptRootOwner(sn, rec.id, p.id)
    }
    q.commitRecord(db, rec.id, name, rfc3339Nano(), u.size, u.inodes, labels)
  })
}

/**
 * Overlay gives a new upper directory its parent root's owner (populate);
 * a layer prepared without a parent missed that. Unless the layer's own `./`
 * entry set an owner, give it the parent's now.
 */
function adoptRootOwner(sn: LocalSnapshotter, id: number, parentId: number): void {
  const own = fs.lstatSync(sn.driver.layerPath(id))
  const parent = fs.lstatSync(sn.driver.layerPath(parentId))
  if (own.uid === 0 && own.gid === 0 && (parent.uid !== 0 || parent.gid !== 0)) fs.lchownSync(sn.driver.layerPath(id), parent.uid, parent.gid)
}
