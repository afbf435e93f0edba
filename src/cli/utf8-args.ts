import {isUtf8} from 'node:buffer'
import fs from 'node:fs'
import {InvalidArgumentError} from '../core/errors.js'

/**
 * Refuse a command-line argument whose bytes are not UTF-8.
 *
 * Node decodes argv as UTF-8 and turns every invalid byte into U+FFFD, so
 * `k$'\xff'` and `k$'\xfe'` reach the command as the same string: two keys
 * would become one snapshot, and a lookup of either would find a key that
 * really holds U+FFFD. ctr keeps such keys as bytes; ctrsnap's keys and labels
 * are text (its store, outputs and --json are UTF-8), so it refuses them, and
 * the same goes for every other argument (a path, a filter), which would
 * otherwise name something else. It is done here, once, before parsing: past
 * this point every string is exactly what the user typed, which is what
 * validateKey and validateLabel (src/core/labels.ts) rely on.
 *
 * Only the raw bytes tell a typed U+FFFD from a replaced byte: they are in
 * /proc/self/cmdline, whose last entries are the user's arguments (node's own
 * options come before the script). It is read only when an argument holds
 * U+FFFD, so ordinary commands pay nothing.
 */
export function refuseNonUtf8Args(argv: readonly string[] = process.argv): void {
  const count = argv.length - 2
  if (!argv.slice(2).some(a => a.includes('\ufffd'))) return
  const raw = splitCmdline(fs.readFileSync('/proc/self/cmdline')).slice(-count)
  const bad = raw.find(b => !isUtf8(b))
  if (bad) throw new InvalidArgumentError(`argument "${escapeBytes(bad)}" is not valid UTF-8: ctrsnap takes keys, labels and paths as UTF-8 text (other bytes could not be told apart)`)
}

function splitCmdline(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0, start)) {
    out.push(buf.subarray(start, i))
    start = i + 1
  }
  return out
}

/** Printable ASCII as is, every other byte as \xNN, as bash's $'...' would write it. */
function escapeBytes(b: Buffer): string {
  let s = ''
  for (const c of b) s += c >= 0x20 && c < 0x7f && c !== 0x5c && c !== 0x22 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`
  return s
}
