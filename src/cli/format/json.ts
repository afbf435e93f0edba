import type {Info, Mount} from '../../core/snapshotter.js'

/*
 * ctr prints Go's json.MarshalIndent(v, "", "    ") (commands.PrintAsJSON). ctr
 * 1.6 is built with Go 1.19, whose encoder this reproduces for the values ctr
 * prints, by construction rather than by patching JSON.stringify's output:
 *   - a GoStruct (plain object) keeps its fields in the order given, as Go's
 *     struct fields; a GoMap (Map) has its keys sorted bytewise, as Go sorts
 *     map keys (a plain object could not: JS lists integer-like keys first);
 *   - strings are escaped as encodeState.string does with HTML escaping on
 *     (Marshal's default);
 *   - MarshalIndent's layout: one member per line, 4 spaces a level, `": "`,
 *     and `{}` / `[]` when empty.
 */

export type GoValue = string | null | readonly GoValue[] | GoMap | GoStruct
export type GoMap = ReadonlyMap<string, GoValue>
export interface GoStruct {
  readonly [field: string]: GoValue
}

const INDENT = '    '

export function goJson(value: GoValue, depth = 0): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return goString(value)
  const inner = INDENT.repeat(depth + 1)
  const close = INDENT.repeat(depth)
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    return `[\n${value.map(v => inner + goJson(v, depth + 1)).join(',\n')}\n${close}]`
  }
  const members = value instanceof Map ? [...value].sort(([a], [b]) => compareBytes(a, b)) : Object.entries(value as GoStruct)
  if (members.length === 0) return '{}'
  return `{\n${members.map(([k, v]) => `${inner}${goString(k)}: ${goJson(v, depth + 1)}`).join(',\n')}\n${close}}`
}

/**
 * Go 1.19's encodeState.string with escapeHTML: `"` and `\` backslashed; \n \r \t
 * as short escapes; every other byte below 0x20 and `<` `>` `&` as \u00XX (so
 * \b and \f are \u0008 and \u000c: the short forms came in Go 1.22); U+2028 and
 * U+2029 as \u2028 \u2029; bytes that are not UTF-8 as \ufffd. A JS string
 * cannot hold such bytes; its counterpart, a lone surrogate, gets the same
 * \ufffd. DEL and everything else is written as is.
 */
export function goString(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (c === 0x22 || c === 0x5c) out += '\\' + ch
    else if (c === 0x0a) out += '\\n'
    else if (c === 0x0d) out += '\\r'
    else if (c === 0x09) out += '\\t'
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += '\\u' + c.toString(16).padStart(4, '0')
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'
    else out += ch
  }
  return out + '"'
}

/** `ctr snapshots info`: snapshots.Info's fields; Parent and Labels are omitempty, Created and Updated (time.Time) never empty. */
export function ctrInfo(info: Info): GoStruct {
  return {
    Kind: info.kind,
    Name: info.name,
    ...(info.parent ? {Parent: info.parent} : {}),
    ...(Object.keys(info.labels).length > 0 ? {Labels: new Map(Object.entries(info.labels))} : {}),
    Created: info.created,
    Updated: info.updated,
  }
}

/** Labels as [key, value] pairs in Go's map-key order (bytewise). */
export function sortedLabelEntries(labels: Record<string, string>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => compareBytes(a, b))
}

/** The labels object of the --json shapes, keys inserted in bytewise order (JSON.stringify still lists integer-like keys first). */
export function sortedLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(sortedLabelEntries(labels))
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** `--mounts`: mount.Mount as ctr marshals it. */
export function ctrMounts(mounts: readonly Mount[]): GoValue {
  return mounts.map(m => ({Type: m.type, Source: m.source, Options: m.options}))
}

/** ctr's `label` output: k=v joined by commas on one line (sorted here; ctr's order is random). */
export function labelLine(labels: Record<string, string>): string {
  return sortedLabelEntries(labels).map(([k, v]) => `${k}=${v}`).join(',')
}
