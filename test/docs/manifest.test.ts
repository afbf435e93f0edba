import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')
const committed = (): string => fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')

describe('oclif.manifest.json', () => {
  it('is what scripts/gen-manifest.js generates from the built commands (run `npm run build` and commit it)', async () => {
    // A stale manifest hides new flags and commands from help and lookup.
    const fresh = await execa('node', [path.join(ROOT, 'scripts/gen-manifest.js'), '--stdout'], {env: {NODE_ENV: ''}, stripFinalNewline: false})
    expect(committed()).toBe(fresh.stdout)
  })

  it('lists exactly the commands in src/commands', () => {
    const ids = Object.keys(JSON.parse(committed()).commands).sort()
    const sources = fs.readdirSync(path.join(ROOT, 'src/commands')).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3)).sort()
    expect(ids).toEqual(sources)
  })
})
