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

const what = (i: CleanupPlan['items'][number]): string => `${WHAT[i.kind]}${i.snapshot ? ` "${i.snapshot.key}"` : ''}`

function total(plan: CleanupPlan, dryRun: boolean): string {
  const bytes = plan.items.reduce((n, i) => n + i.bytes, 0)
  return `${dryRun ? 'would reclaim' : 'reclaimed'} ${plan.items.length} item${plan.items.length === 1 ? '' : 's'}, ${humanSize(bytes)}\n`
}

/** One line per item, then the total: what cleanup removed, or with a dry run would remove. Scripts read this form. */
export function cleanupText(plan: CleanupPlan, dryRun: boolean): string {
  const verb = dryRun ? 'would remove' : 'removed'
  let out = ''
  for (const i of plan.items) out += `${verb} ${i.path} (${what(i)}, ${humanSize(i.bytes)})\n`
  for (const s of plan.skipped) out += `skipped ${s.path} (${s.reason})\n`
  return out + total(plan, dryRun)
}

/**
 * The same report for a person at a terminal: a table (cli-table3, loaded
 * only here), then the total. ctr has no such report, so no script depends on
 * its layout; piped, cleanupText is printed instead.
 */
export async function cleanupTable(plan: CleanupPlan, dryRun: boolean): Promise<string> {
  if (plan.items.length + plan.skipped.length === 0) return total(plan, dryRun)
  const {default: Table} = await import('cli-table3')
  const table = new Table({head: ['', 'PATH', 'WHAT', 'SIZE'], colAligns: ['left', 'left', 'left', 'right'], style: {head: [], border: []}})
  for (const i of plan.items) table.push([dryRun ? 'would remove' : 'removed', i.path, what(i), humanSize(i.bytes)])
  for (const s of plan.skipped) table.push(['skipped', s.path, s.reason, ''])
  return `${table.toString()}\n${total(plan, dryRun)}`
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
