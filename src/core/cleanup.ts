import fs from 'node:fs'
import path from 'node:path'
import {REMOVING_PREFIX, snapshotDir, snapshotsDir, TEMP_PREFIX, tempDirPid} from './drivers/layout.js'
import {isAtomicTemp} from './store/atomic-file.js'
import {DB_FILE, type Db} from './store/metastore.js'
import * as q from './store/snapshots.js'
import {isInUse, readMountinfo, useOf, type MountinfoEntry} from './mount.js'
import {extractChainId, LABEL_EXTRACT_OWNER, ownerAlive} from './owner.js'
import {DEFAULT_NAMESPACE} from './namespaces.js'
import {diskUsage} from './usage.js'
import {LOCK_STALE_MS} from './store/lock.js'

export type CleanupKind = 'orphan' | 'temp' | 'removing' | 'stale-mount' | 'temp-file' | 'stale-lock' | 'extract'

export interface CleanupItem {
  kind: CleanupKind
  /** A directory or file to delete, or the target of a stale mount record; for an extract snapshot, its directory. */
  path: string
  bytes: number
  /** An extract snapshot's key and id: its record goes too. */
  snapshot?: {key: string; id: number}
}

export interface CleanupPlan {
  items: CleanupItem[]
  /** Left alone, and why: in flight in a live process, or mounted. */
  skipped: {path: string; reason: string}[]
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function bytesOf(p: string): number {
  try {
    return diskUsage(p).size
  } catch {
    return 0
  }
}

/**
 * What disagrees between disk and metadata under one snapshotter root:
 * directories no record points to, temp and half-removed directories of
 * dead processes, mount records whose mount is gone, temp files of killed
 * writers, layer locks of killed unpacks, extract snapshots of killed
 * unpacks (planExtracts). Never another directory with a record, a mounted
 * one, or one a live process is still building.
 */
export function planCleanup(root: string, db: Db): CleanupPlan {
  const plan: CleanupPlan = {items: [], skipped: []}
  const mountinfo = readMountinfo()
  const ids = q.allIds(db)
  const dir = snapshotsDir(root)
  let names: string[] = []
  try {
    names = fs.readdirSync(dir).sort()
  } catch {
    // no snapshots/ yet
  }
  for (const name of names) {
    const full = path.join(dir, name)
    let kind: CleanupKind
    if (/^\d+$/.test(name)) {
      if (ids.has(Number(name))) continue
      kind = 'orphan'
    } else if (name.startsWith(TEMP_PREFIX)) {
      const pid = tempDirPid(name)
      if (pid !== undefined && alive(pid)) {
        plan.skipped.push({path: full, reason: `in flight (process ${pid})`})
        continue
      }
      kind = 'temp'
    } else if (name.startsWith(REMOVING_PREFIX)) {
      kind = 'removing'
    } else {
      continue // not ours: never touch
    }
    const use = useOf(full, mountinfo)
    if (use !== undefined) {
      plan.skipped.push({path: full, reason: use})
      continue
    }
    plan.items.push({kind, path: full, bytes: bytesOf(full)})
  }
  const extracts = planExtracts(root, db, mountinfo)
  plan.items.push(...extracts.items)
  plan.skipped.push(...extracts.skipped)
  const live = new Set(mountinfo.map(e => e.mountPoint))
  for (const m of q.mountRecords(db)) if (!live.has(m.target)) plan.items.push({kind: 'stale-mount', path: m.target, bytes: 0})
  let rootNames: string[] = []
  try {
    rootNames = fs.readdirSync(root)
  } catch {
    // missing root
  }
  for (const name of rootNames.sort()) {
    if (isAtomicTemp(name, DB_FILE)) {
      const full = path.join(root, name)
      plan.items.push({kind: 'temp-file', path: full, bytes: bytesOf(full)})
    }
  }
  // Layer locks of unpack (`locks/<chainID>.lock`): a live holder refreshes its mtime, so one older than the stale time is a killed process's.
  const locks = path.join(root, 'locks')
  let lockNames: string[] = []
  try {
    lockNames = fs.readdirSync(locks)
  } catch {
    // none yet
  }
  for (const name of lockNames.sort()) {
    if (!name.endsWith('.lock')) continue
    const full = path.join(locks, name)
    try {
      if (Date.now() - fs.statSync(full).mtimeMs > LOCK_STALE_MS) plan.items.push({kind: 'stale-lock', path: full, bytes: 0})
    } catch {
      // released meanwhile
    }
  }
  return plan
}

/**
 * Extract snapshots (`extract-<unique> <chainID>`, active) whose unpack is
 * gone: its owner label (src/core/owner.ts) names a process no longer
 * running. One whose owner lives, or that is mounted, is skipped; so is one
 * with no owner label, which no ctrsnap of today makes (an older one did, or
 * a user): that is the user's to remove. With `chainIds`, only those layers';
 * with `namespace`, only that namespace's (cleanup looks in every namespace).
 */
export function planExtracts(root: string, db: Db, mountinfo: readonly MountinfoEntry[] = readMountinfo(), chainIds?: ReadonlySet<string>, namespace?: string): CleanupPlan {
  const plan: CleanupPlan = {items: [], skipped: []}
  const live = new Set(mountinfo.map(e => e.mountPoint))
  for (const rec of q.allRecords(db, namespace)) {
    const chainId = extractChainId(rec.key)
    if (rec.kind !== 'Active' || chainId === undefined || (chainIds && !chainIds.has(chainId))) continue
    const dir = snapshotDir(root, rec.id)
    const what = `extract snapshot "${rec.key}"`
    const owner = q.getLabels(db, rec.id)[LABEL_EXTRACT_OWNER]
    const alive = owner === undefined ? undefined : ownerAlive(owner)
    if (alive === undefined) {
      plan.skipped.push({path: dir, reason: `${what} records no owner (${LABEL_EXTRACT_OWNER}); if no unpack is running, remove it with: ctrsnap ${rec.namespace === DEFAULT_NAMESPACE ? '' : `-n ${rec.namespace} `}rm '${rec.key}'`})
    } else if (alive) {
      plan.skipped.push({path: dir, reason: `${what} in flight (process ${owner.split(':')[0]})`})
    } else if (isInUse(dir, mountinfo) || q.mountsOfSnapshots(db, [rec.id]).some(m => live.has(m.target))) {
      plan.skipped.push({path: dir, reason: `${what} mounted`})
    } else {
      plan.items.push({kind: 'extract', path: dir, bytes: bytesOf(dir), snapshot: {key: rec.key, id: rec.id}})
    }
  }
  return plan
}
