/**
 * Go's text/tabwriter as ctr configures it (minwidth 1, padding 1, spaces):
 * every cell of a row is tab-terminated, so every column, the last one too,
 * is padded to its widest cell + 1 and every line ends in a space. Width
 * counts code points, as tabwriter counts runes.
 */
export function tabwriter(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  const len = (s: string): number => {
    let n = 0
    for (const _ of s) n++
    return n
  }
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 1, len(cell) + 1) })
  let out = ''
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += row[i] + ' '.repeat(widths[i]! - len(row[i]!))
    out += '\n'
  }
  return out
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB']

/**
 * ctr's human size: go-units CustomSize("%02.1f %s", n, 1024). Rounded exactly
 * (half to even on ties, like Go's %f), which toFixed does not do.
 */
export function humanSize(bytes: number): string {
  let unit = 0
  let div = 1n
  const n = BigInt(Math.trunc(bytes))
  while (n >= div * 1024n && unit < UNITS.length - 1) {
    div *= 1024n
    unit++
  }
  const scaled = n * 10n
  let tenths = scaled / div
  const rem = scaled % div
  if (rem * 2n > div || (rem * 2n === div && tenths % 2n === 1n)) tenths++
  return `${tenths / 10n}.${tenths % 10n} ${UNITS[unit]}`
}

/** `ctr namespaces ls`: NAME and LABELS; ctrsnap's namespaces have no labels. */
export function namespacesText(names: readonly string[]): string {
  return tabwriter([['NAME', 'LABELS'], ...names.map(n => [n, ''])])
}
