// Nanosecond wall-clock timestamps in Go's RFC3339Nano form, which is what
// `ctr snapshots info` prints. Date has only milliseconds, so the clock is
// anchored once to performance.timeOrigin and advanced with hrtime.

const anchorNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - process.hrtime.bigint()

export function nowNs(): bigint {
  return anchorNs + process.hrtime.bigint()
}

export function rfc3339Nano(ns: bigint = nowNs()): string {
  const ms = ns / 1_000_000n
  const iso = new Date(Number(ms)).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '')
  return iso.slice(0, 19) + (frac ? '.' + frac : '') + 'Z'
}
