import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ctrsnap} from '../helpers/cli.js'

const ROOT = path.resolve(import.meta.dirname, '../..')

interface ManifestFlag {
  name: string
  char?: string
  hidden?: boolean
}
interface ManifestCommand {
  id: string
  usage: string
  aliases: string[]
  flags: Record<string, ManifestFlag>
  args: Record<string, {name: string}>
}

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, ManifestCommand>}
const commands = Object.values(manifest.commands)
const squash = (s: string): string => s.replace(/\s+/g, ' ')
/** The usage line help should print when the command is called as `name` (its id or an alias). */
const usageAs = (c: ManifestCommand, name: string): string => squash(`${name} ${c.usage.replace(/^<%= command\.id %>|^\S+/, '').trim()}`)

describe('--help', () => {
  it.each(commands.map(c => [c.id, c] as const))('%s --help exits 0 and shows its usage, arguments and every flag', async (_id, c) => {
    const r = await ctrsnap([c.id, '--help'])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const out = squash(r.stdout)
    expect(out).toContain(`USAGE $ ctrsnap ${usageAs(c, c.id)}`)
    for (const f of Object.values(c.flags).filter(f => !f.hidden)) {
      expect(out, `--${f.name}`).toContain(f.char ? `-${f.char}, --${f.name}` : `--${f.name}`)
    }
    for (const a of Object.values(c.args)) expect(out, a.name).toContain(a.name.toUpperCase())
  })

  it.each(commands.flatMap(c => c.aliases.map(a => [a, c.id, c] as const)))('alias %s --help shows the usage of %s under either name', async (alias, _id, c) => {
    const r = await ctrsnap([alias, '--help'])
    expect(r.exitCode).toBe(0)
    const out = squash(r.stdout)
    // Not "$ ctrsnap umount unmount ...": oclif prefixes the alias to a usage that starts with the id.
    expect([usageAs(c, alias), usageAs(c, c.id)].some(u => out.includes(`USAGE $ ctrsnap ${u} `)), out.slice(0, 200)).toBe(true)
  })

  it('ctrsnap --help lists every command', async () => {
    const r = await ctrsnap(['--help'])
    expect(r.exitCode).toBe(0)
    // One row per command, its aliases on it as ctr prints "list, ls".
    for (const c of commands) expect(r.stdout, c.id).toMatch(new RegExp(`^  ${[c.id, ...c.aliases].join(', ')} `, 'm'))
  })
})
