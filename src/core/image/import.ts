import {AlreadyExistsError, FailedPreconditionError, NotFoundError} from '../errors.js'
import type {LocalSnapshotter} from '../local.js'
import type {Labels} from '../snapshotter.js'
import * as q from '../store/snapshots.js'
import {rfc3339Nano} from '../time.js'
import {diskUsage} from '../usage.js'
import {validateLabels} from '../labels.js'

/**
 * Commit an unpacked layer's extract snapshot to its chainID with its labels,
 * in one write transaction, after checking it sits on the expected parent.
 * Throws AlreadyExistsError when `name` exists (another unpack won the race).
 */
export async function commitExtract(sn: LocalSnapshotter, key: string, dir: string, name: string, parent: string, labels: Labels): Promise<void> {
  validateLabels(labels)
  // Measured before the lock (`dir` is the key's layer directory): the layer no longer changes, and a long walk must not hold up other writers.
  const u = diskUsage(dir)
  await sn.store.write(tx => {
    const db = tx.db
    const rec = q.getRecord(db, sn.namespace, key)
    if (!rec) throw new NotFoundError(`snapshot "${key}" does not exist`)
    if (rec.kind !== 'Active') throw new FailedPreconditionError(`snapshot "${key}" is not active: only active snapshots can be committed`)
    sn.assertNotMounted(db, [rec.id], 'commit')
    if (rec.parent !== parent) throw new FailedPreconditionError(`snapshot "${key}" has parent "${rec.parent}", not "${parent}"`)
    if (q.getRecord(db, sn.namespace, name)) throw new AlreadyExistsError(`snapshot "${name}": already exists`)
    q.commitRecord(db, rec.id, name, rfc3339Nano(), u.size, u.inodes, labels)
  })
}
