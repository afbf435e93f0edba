import {execa} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {EXIT_CODES} from '../../src/cli/exit-codes.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const MAN = path.join(ROOT, 'man')
const GEN = path.join(ROOT, 'scripts/gen-man.js')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-man-'))
afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}))

const hasMandoc = (await execa('sh', ['-c', 'command -v mandoc'], {reject: false})).exitCode === 0
const onCi = process.env.CI === 'true'
const pages = (dir: string): string[] => fs.readdirSync(dir).filter(f => f.endsWith('.1')).sort()

/** Generate pages into a fresh directory, with a given environment on top of a clean one. */
async function generate(env: Record<string, string> = {}): Promise<string> {
  const out = fs.mkdtempSync(path.join(tmp, 'out-'))
  const base = {...process.env}
  delete base.SOURCE_DATE_EPOCH
  await execa('node', [GEN, '--out', out], {env: {...base, ...env}, extendEnv: false})
  return out
}

describe('man pages', () => {
  it('in man/ are exactly what scripts/gen-man.js generates (run `npm run man` and commit man/)', async () => {
    const out = await generate()
    expect(pages(MAN)).toEqual(pages(out))
    for (const f of pages(out)) expect(fs.readFileSync(path.join(MAN, f), 'utf8'), f).toBe(fs.readFileSync(path.join(out, f), 'utf8'))
  })

  it('has one page per command in the manifest, plus the index', () => {
    const ids = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')).commands)
    expect(pages(MAN)).toEqual(['ctrsnap.1', ...ids.map(id => `ctrsnap-${id}.1`)].sort())
  })

  it('EXIT STATUS lists every code of src/cli/exit-codes.ts, in every page', () => {
    for (const f of pages(MAN)) {
      const text = fs.readFileSync(path.join(MAN, f), 'utf8')
      const section = text.slice(text.indexOf('.SH EXIT STATUS'), text.indexOf('.SH', text.indexOf('.SH EXIT STATUS') + 1))
      const codes = [...section.matchAll(/^\.B (\d+)$/gm)].map(m => Number(m[1]))
      expect(codes, f).toEqual([0, ...EXIT_CODES.map(e => e.code)])
      for (const e of EXIT_CODES) expect(section, `${f}: ${e.kind}`).toContain(`(\\fB${e.kind.replace(/-/g, '\\-')}\\fR)`)
    }
  })

  it('ENVIRONMENT names every variable the code reads (CTRSNAP_* anywhere, env.X, except PATH)', () => {
    const walk = (d: string): string[] => fs.readdirSync(d, {withFileTypes: true}).flatMap(e => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]))
    const sources = walk(path.join(ROOT, 'src')).filter(f => f.endsWith('.ts')).map(f => fs.readFileSync(f, 'utf8'))
    const used = new Set(sources.flatMap(t => [...t.matchAll(/\bCTRSNAP_[A-Z_]+\b|\benv\.([A-Z_]{2,})\b/g)].map(m => m[1] ?? m[0])))
    used.delete('PATH')
    expect([...used]).toEqual(expect.arrayContaining(['CTRSNAP_ROOT', 'DEBUG']))
    const text = fs.readFileSync(path.join(MAN, 'ctrsnap.1'), 'utf8')
    const env = text.slice(text.indexOf('.SH ENVIRONMENT'), text.indexOf('.SH EXIT STATUS'))
    const documented = new Set([...env.matchAll(/^\.B (\S+)$/gm)].map(m => m[1]))
    for (const v of used) expect(documented, v).toContain(v)
  })

  it('dates pages from SOURCE_DATE_EPOCH when set, else from the version (reproducible)', async () => {
    const epoch = await generate({SOURCE_DATE_EPOCH: '86400'})
    expect(fs.readFileSync(path.join(epoch, 'ctrsnap.1'), 'utf8')).toMatch(/^\.TH CTRSNAP 1 1970-01-02 /m)
    const again = await generate()
    expect(fs.readFileSync(path.join(again, 'ctrsnap.1'), 'utf8')).toBe(fs.readFileSync(path.join(MAN, 'ctrsnap.1'), 'utf8'))
  })

  it('rejects a SOURCE_DATE_EPOCH that is not whole seconds', async () => {
    const base = {...process.env}
    const r = await execa('node', [GEN, '--out', path.join(tmp, 'bad')], {env: {...base, SOURCE_DATE_EPOCH: 'yesterday'}, extendEnv: false, reject: false})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toBe('gen-man: SOURCE_DATE_EPOCH must be whole seconds, not "yesterday"')
  })

  // CI installs mandoc (scripts/install-deps.sh): there a missing mandoc fails instead of skipping.
  it.skipIf(!hasMandoc && !onCi)(`pass \`mandoc -Tlint -W warning\`${hasMandoc ? '' : ' (needs mandoc)'}`, async () => {
    expect(hasMandoc, 'mandoc is not installed (scripts/install-deps.sh installs it)').toBe(true)
    const r = await execa('mandoc', ['-Tlint', '-W', 'warning', ...pages(MAN).map(f => path.join(MAN, f))], {reject: false})
    expect(r.stdout + r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
  })
})
