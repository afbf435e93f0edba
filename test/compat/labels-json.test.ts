import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'
import {hasContainerd, startRefContainerd, type RefContainerd} from '../helpers/ref-ctr.js'
import {isLinux, isRoot, tempRoot} from '../helpers/root.js'

/*
 * `info` prints Go's json.MarshalIndent: label text that Go escapes, set through the real
 * `ctr snapshots label` and through ctrsnap, must print the same bytes (timestamps aside).
 * Every control character argv can carry (all but NUL) is in one value; ctrsnap refuses
 * control characters in keys, so keys carry the rest.
 */
const CONTROLS = Array.from({length: 31}, (_, i) => String.fromCharCode(i + 1)).join('') + '\x7f'
const LABELS = [
  'path=C:\\bin\\foo\\',
  'esc=\\b\\f\\n\\t\\u0008',
  `ctl=${CONTROLS}`,
  'html=<b>&amp;</b>',
  '<k>&=1',
  'sep=a\u2028b\u2029c',
  'text=é 😀 \ufffd ü',
  'é=key',
  'quote="\'\\"',
  '10=integer-like keys sort bytewise',
  '9=after 10',
  'B=upper before lower',
]

const canRun = isRoot && isLinux
const times = (s: string): string => s.replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d*[1-9])?Z"/g, '"<time>"')

describe.skipIf(!canRun)('info prints label text as ctr 1.6 does, byte for byte (needs root on Linux)', () => {
  let ref: RefContainerd
  let tmp: ReturnType<typeof tempRoot>
  beforeAll(async () => {
    expect(hasContainerd, 'containerd and ctr must be installed (scripts/install-deps.sh)').toBe(true)
    ref = await startRefContainerd()
    tmp = tempRoot('ctrsnap-labels-json-')
  }, 60_000)
  afterAll(async () => {
    await ref?.stop()
    tmp?.cleanup()
  })

  it('info after label: same bytes as ctr snapshots info', async () => {
    const opts = {namespace: `labels-json-${process.pid}`, snapshotter: 'native'}
    const root = path.join(tmp.dir, 'r')
    const ctr = (args: string[]) => ref.snapshots(args, opts)
    const ours = (args: string[]) => ctrsnap(args, {root, snapshotter: 'native'})
    for (const run of [ctr, ours]) {
      expect((await run(['prepare', 's'])).exitCode).toBe(0)
      // ctr adds containerd.io/gc.root at prepare; removed here so both label sets are the same.
      expect((await run(['label', 's', 'containerd.io/gc.root=', ...LABELS])).exitCode).toBe(0)
    }
    const theirs = await ctr(['info', 's'])
    const mine = await ours(['info', 's'])
    expect(theirs.exitCode).toBe(0)
    expect(mine.stderr).toBe('')
    expect(times(mine.stdout)).toBe(times(theirs.stdout))
    // The comparison covers what it claims: ctr escaped \b as \u0008 and kept the literal backslash-b.
    expect(theirs.stdout).toContain('"C:\\\\bin\\\\foo\\\\"')
    expect(theirs.stdout).toContain('\\u0001\\u0002')
  })
})
