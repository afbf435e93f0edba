import {InvalidArgumentError} from './errors.js'
import type {Labels} from './snapshotter.js'

/** containerd's limit on one label (key and value together), in bytes. */
export const MAX_LABEL_BYTES = 4096
/** Keys are free-form like containerd's, but bounded and printable so every text output stays parseable. */
export const MAX_KEY_BYTES = 4096

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Keys arrive here exactly as typed: the CLI refuses arguments that are not
 * UTF-8 before parsing (src/cli/argv.ts), since Node's decoding would have
 * merged different byte strings into one key here.
 */
export function validateKey(key: string, what = 'key'): void {
  if (key === '') throw new InvalidArgumentError(`${what} must not be empty`)
  const bytes = Buffer.byteLength(key)
  if (bytes > MAX_KEY_BYTES) throw new InvalidArgumentError(`${what} "${key.slice(0, 32)}...": ${bytes} bytes, more than ${MAX_KEY_BYTES}`)
  if (CONTROL.test(key)) throw new InvalidArgumentError(`${what} ${JSON.stringify(key)}: control characters are not allowed`)
}

export function validateLabel(k: string, v: string): void {
  if (k === '') throw new InvalidArgumentError('label key must not be empty')
  if (CONTROL.test(k)) throw new InvalidArgumentError(`label key ${JSON.stringify(k)}: control characters are not allowed`)
  const bytes = Buffer.byteLength(k) + Buffer.byteLength(v)
  if (bytes > MAX_LABEL_BYTES) {
    throw new InvalidArgumentError(`label "${k.length > 32 ? k.slice(0, 32) + '...' : k}": key and value are ${bytes} bytes, more than ${MAX_LABEL_BYTES}`)
  }
}

export function validateLabels(labels: Labels): void {
  for (const [k, v] of Object.entries(labels)) validateLabel(k, v)
}

/**
 * ctr's label arguments: `k=v` sets, `k=` removes, a bare `k` sets `k=true`.
 * Later arguments win. Returns null for removals.
 */
export function parseLabelArgs(args: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {}
  for (const arg of args) {
    const eq = arg.indexOf('=')
    const k = eq < 0 ? arg : arg.slice(0, eq)
    const v = eq < 0 ? 'true' : arg.slice(eq + 1)
    if (v !== '') validateLabel(k, v)
    else if (k === '') throw new InvalidArgumentError('label key must not be empty')
    out[k] = v === '' ? null : v
  }
  return out
}

/** `--label k=v` flags for create and commit: `k=` is an error here, bare `k` means true. */
export function labelsFromFlags(args: readonly string[] | undefined): Labels {
  const out: Labels = {}
  for (const [k, v] of Object.entries(parseLabelArgs(args ?? []))) {
    if (v === null) throw new InvalidArgumentError(`label "${k}" has an empty value`)
    out[k] = v
  }
  return out
}
