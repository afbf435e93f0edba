import type {Info, Mount} from '../../core/snapshotter.js'

/**
 * Go's json.MarshalIndent(v, "", "    "): 4 spaces, and HTML-safe escaping
 * of <, > and & (and U+2028/9) as ctr prints them.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value, null, 4)
    .replace(/[<>&\u2028\u2029]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\\[bf]/g, m => (m === '\\b' ? '\\u0008' : '\\u000c'))
}

/** `ctr snapshots info`: Kind, Name, Parent, Labels, Created, Updated; Parent and Labels omitted when empty. */
export function ctrInfo(info: Info): unknown {
  return {
    Kind: info.kind,
    Name: info.name,
    ...(info.parent ? {Parent: info.parent} : {}),
    ...(Object.keys(info.labels).length > 0 ? {Labels: sortedLabels(info.labels)} : {}),
    Created: info.created,
    Updated: info.updated,
  }
}

/** Go sorts map keys bytewise when it marshals; so do we, everywhere labels are shown. */
export function sortedLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(labels).sort(compareBytes)) out[k] = labels[k]!
  return out
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** `--mounts`: mount.Mount as ctr marshals it. */
export function ctrMounts(mounts: readonly Mount[]): unknown {
  return mounts.map(m => ({Type: m.type, Source: m.source, Options: m.options}))
}

/** ctr's `label` output: k=v joined by commas on one line (sorted here; ctr's order is random). */
export function labelLine(labels: Record<string, string>): string {
  return Object.entries(sortedLabels(labels)).map(([k, v]) => `${k}=${v}`).join(',')
}
