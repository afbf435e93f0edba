import {execa} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {BIN} from '../helpers/cli.js'
import {canMount} from '../helpers/root.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const TOUR = path.join(ROOT, 'scripts/tour.sh')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-tour-test-'))
afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}))

const mountsUnder = (dir: string): string[] => fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter(l => l.includes(` ${dir}`))

describe('scripts/tour.sh', () => {
  // overlayfs only: a tour is ~15 CLI runs; `CTRSNAP_SNAPSHOTTER=native bash scripts/tour.sh` tours the other.
  it.skipIf(!canMount)('tours overlayfs with real mounts and leaves nothing behind (needs root)', {timeout: 180_000}, async () => {
    const snapshotter = 'overlayfs'
    const dir = fs.mkdtempSync(path.join(tmp, `${snapshotter}-`))
    const r = await execa('bash', [TOUR], {env: {CTRSNAP_BIN: BIN, CTRSNAP_SNAPSHOTTER: snapshotter, TMPDIR: dir, CTRSNAP_ROOT: ''}, reject: false})
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/\n\$ ls \S+\nhello.txt\nworld.txt\n/)
    expect(r.stdout).toMatch(/\nunpacking sha256:[0-9a-f]{64} \(2\/2\) .*done .*\nsha256:[0-9a-f]{64}\n/)
    expect(r.stdout.trimEnd().endsWith('tour: OK')).toBe(true)
    expect(fs.readdirSync(dir)).toEqual([])
    expect(mountsUnder(dir)).toEqual([])
  })

  it.skipIf(!canMount)('fails loudly, with the exit code of the failure, and still cleans up (needs root)', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'fail-'))
    const r = await execa('bash', [TOUR], {env: {CTRSNAP_BIN: BIN, CTRSNAP_SNAPSHOTTER: 'bogus', TMPDIR: dir}, reject: false})
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('tour: FAILED (exit 2)')
    expect(fs.readdirSync(dir)).toEqual([])
  })
})
