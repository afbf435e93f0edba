import type {CleanupPlan} from '../../core/cleanup.js'
import {humanSize} from './table.js'

const WHAT: Record<string, string> = {
  orphan: 'directory with no snapshot record',
  temp: 'temp directory of an interrupted command',
  removing: 'directory of an interrupted removal',
  'stale-mount': 'mount record whose mount is gone',
  'temp-file': 'temp file of an interrupted write',
  'stale-lock': 'layer lock of a killed unpack',
  extract: 'extract snapshot of a killed unpack',
}

/** One line per item, then the total: what cleanup removed, or with a dry run would remove. */
export function cleanupText(plan: CleanupPlan, dryRun: boolean): string {
  const verb = dryRun ? 'would remove' : 'removed'
  let out = ''
  for (const i of plan.items) out += `${verb} ${i.path} (${WHAT[i.kind]}${i.snapshot ? ` "${i.snapshot.key}"` : ''}, ${humanSize(i.bytes)})\n`
  for (const s of plan.skipped) out += `skipped ${s.path} (${s.reason})\n`
  const bytes = plan.items.reduce((n, i) => n + i.bytes, 0)
  out += `${dryRun ? 'would reclaim' : 'reclaimed'} ${plan.items.length} item${plan.items.length === 1 ? '' : 's'}, ${humanSize(bytes)}\n`
  return out
}

export interface CleanupJson {
  action: 'removed' | 'would-remove' | 'skipped'
  kind: string | null
  path: string
  /** The snapshot removed with its directory (an extract snapshot), else null. */
  key: string | null
  bytes: number
  reason: string | null
}

export function cleanupJson(plan: CleanupPlan, dryRun: boolean): CleanupJson[] {
  return [
    ...plan.items.map(i => ({action: dryRun ? ('would-remove' as const) : ('removed' as const), kind: i.kind, path: i.path, key: i.snapshot?.key ?? null, bytes: i.bytes, reason: null})),
    ...plan.skipped.map(s => ({action: 'skipped' as const, kind: null, path: s.path, key: null, bytes: 0, reason: s.reason})),
  ]
}
