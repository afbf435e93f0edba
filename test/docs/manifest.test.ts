import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')
const onCi = process.env.CI === 'true'

/**
 * The build rewrites oclif.manifest.json, so after `npm test` the working copy is always
 * fresh. On CI (a clean checkout) compare with the commit instead: that catches a
 * manifest nobody committed after changing a command.
 */
async function committed(): Promise<string> {
  if (onCi) {
    const r = await execa('git', ['show', 'HEAD:oclif.manifest.json'], {cwd: ROOT, reject: false, stripFinalNewline: false})
    if (r.exitCode === 0) return r.stdout
  }
  return fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')
}

describe('oclif.manifest.json', () => {
  it('is what scripts/gen-manifest.js generates from the built commands (run `npm run build` and commit it)', async () => {
    // A stale manifest hides new flags and commands from help and lookup.
    const fresh = await execa('node', [path.join(ROOT, 'scripts/gen-manifest.js'), '--stdout'], {env: {NODE_ENV: ''}, stripFinalNewline: false})
    expect(await committed()).toBe(fresh.stdout)
  })

  it('lists exactly the commands in src/commands', async () => {
    const ids = Object.keys(JSON.parse(await committed()).commands).sort()
    const sources = fs.readdirSync(path.join(ROOT, 'src/commands')).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3)).sort()
    expect(ids).toEqual(sources)
  })
})
