import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exitCodeFor} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

/**
 * One voice for every usage error: every command's parser is driven into
 * every kind of refusal its manifest allows (a flag without its value, a
 * value not among the options, a value to a flag that takes none, exclusive
 * and dependsOn violations, unknown and mistyped flags, missing and extra
 * arguments), and each answer must be `ctrsnap: <lower-case line>` plus the
 * command's usage line, exit 2, nothing of oclif's own phrasing.
 */
interface Flag {name: string; char?: string; type: 'boolean' | 'option'; options?: string[]; exclusive?: string[]; dependsOn?: string[]; hidden?: boolean; aliases?: string[]}
interface Flag2 extends Flag {helpGroup?: string}
interface Cmd {id: string; strict?: boolean; usage: string; args: Record<string, {required?: boolean; options?: string[]}>; flags: Record<string, Flag2>}
const manifest = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../oclif.manifest.json'), 'utf8')) as {commands: Record<string, Cmd>}
const commands = Object.values(manifest.commands)

const USAGE = exitCodeFor('usage')
const OCLIF_WORDS = /›|Error:|See more help|^Flag |Nonexistent|must be provided|cannot also be provided|Expected |Missing \d|Unexpected/m

/** Enough arguments to get past the required ones. */
const required = (c: Cmd): string[] => Object.values(c.args).filter(a => a.required).map((a, i) => a.options?.[0] ?? `arg${i}`)
const value = (f: Flag): string[] => (f.type === 'option' ? [f.options?.[0] ?? 'x'] : [])
/** A one-letter slip: the flag's name with its two middle letters swapped. */
const slip = (name: string): string => {
  const i = Math.floor(name.length / 2) - 1
  return name.slice(0, i) + name[i + 1] + name[i] + name.slice(i + 2)
}

function casesFor(c: Cmd): [string[], RegExp][] {
  const req = required(c)
  // Global flags (--root, --snapshotter, --json) share one definition: driven through ls only, to keep the test short.
  const flags = Object.values(c.flags).filter(f => !f.hidden && (c.id === 'ls' || f.helpGroup !== 'GLOBAL'))
  const cases: [string[], RegExp][] = [
    [[c.id, ...req, '--no-such-flag'], /unknown flag: --no-such-flag/],
    [[c.id, ...req, '-Z'], /unknown flag: -Z/],
  ]
  if (req.length > 0) cases.push([[c.id], /^missing argument /])
  if (c.strict !== false) cases.push([[c.id, ...req, ...Object.keys(c.args).slice(req.length).map(a => a), 'extra'], /^unexpected argument: extra$/])
  for (const f of flags) {
    if (f.name.length >= 4 && slip(f.name) !== f.name) cases.push([[c.id, ...req, `--${slip(f.name)}`], new RegExp(`did you mean --${f.name}\\?$`)])
    if (f.type === 'option') cases.push([[c.id, ...req, `--${f.name}`], new RegExp(`^flag --${f.name} needs a value`)])
    if (f.options) cases.push([[c.id, ...req, `--${f.name}=bogus`], new RegExp(`^invalid value "bogus" for --${f.name}: expected one of ${f.options.join(', ')}$`)])
    if (f.type === 'boolean') cases.push([[c.id, ...req, `--${f.name}=yes`], new RegExp(`^flag --${f.name} takes no value$`)])
    for (const other of f.exclusive ?? []) {
      const o = c.flags[other]!
      cases.push([[c.id, ...req, `--${f.name}`, ...value(f), `--${other}`, ...value(o)], new RegExp(`^--(${f.name}|${other}) and --(${f.name}|${other}) cannot be used together$`)])
    }
    if (f.dependsOn) cases.push([[c.id, ...req, `--${f.name}`, ...value(f)], new RegExp(`^--${f.name} needs ${f.dependsOn.map(d => `--${d}`).join(' and ')}$`)])
  }
  return cases
}

let tmp: ReturnType<typeof tempRoot>
beforeAll(() => { tmp = tempRoot() })
afterAll(() => tmp.cleanup())

describe('every usage error in ctrsnap\'s voice', () => {
  it.each(commands.map(c => [c.id, c] as const))('%s: bad flags and arguments', async (_id, c) => {
    const cases = casesFor(c)
    if (c.id === 'unpack') cases.push([['unpack', 'x', '--jobs', 'many'], /^--jobs: expected an integer/])
    const usage = c.usage.replace('<%= command.id %>', c.id)
    const results = await Promise.all(cases.map(([args]) => ctrsnap(args, {root: tmp.dir, env: {NODE_ENV: ''}})))
    results.forEach((r, i) => {
      const [args, message] = cases[i]!
      const what = args.join(' ')
      expect({what, exitCode: r.exitCode}).toEqual({what, exitCode: USAGE})
      if (args.includes('--json')) {
        // The error goes to stdout as JSON, in the same words.
        const e = (JSON.parse(r.stdout) as {error: {kind: string; message: string}}).error
        expect({what, kind: e.kind, stderr: r.stderr}).toEqual({what, kind: 'usage', stderr: ''})
        expect(e.message, what).toMatch(message)
        return
      }
      expect({what, stdout: r.stdout}).toEqual({what, stdout: ''})
      expect(r.stderr, what).not.toMatch(OCLIF_WORDS)
      const [line, usageLine, ...more] = r.stderr.split('\n')
      expect(line, what).toMatch(/^ctrsnap: [a-z"-]/)
      expect(line!.slice('ctrsnap: '.length), what).toMatch(message)
      expect([usageLine, more], what).toEqual([`usage: ctrsnap ${usage}`, ['']])
    })
  }, 120_000)

  it('with --json, the same message as JSON on stdout', async () => {
    const r = await ctrsnap(['ls', '--json', '--quiet'], {root: tmp.dir})
    expect(r.exitCode).toBe(USAGE)
    expect(JSON.parse(r.stdout)).toEqual({error: {kind: 'usage', message: '--quiet and --json cannot be used together', exitCode: USAGE}})
  })

  it('before any command: a leading flag without its value, an unknown flag, help for no such command', async () => {
    const cases: [string[], string][] = [
      [['--root'], 'ctrsnap: flag --root needs a value\nusage: ctrsnap [--root DIR] [--snapshotter NAME] [-n NAMESPACE] COMMAND [ARG]...\n'],
      [['snapshots', '--snapshotter'], 'ctrsnap: flag --snapshotter needs a value\nusage: ctrsnap [--root DIR] [--snapshotter NAME] [-n NAMESPACE] COMMAND [ARG]...\n'],
      [['--rot', 'x', 'ls'], "ctrsnap: unknown flag: --rot; did you mean --root?\n"],
      [['help', 'nope'], "ctrsnap: unknown command \"nope\"; see 'ctrsnap --help'\n"],
      [['help', 'prepar'], 'ctrsnap: unknown command "prepar"; did you mean prepare?\n'],
      [['nope', '--help'], "ctrsnap: unknown command \"nope\"; see 'ctrsnap --help'\n"],
      [['prepar', 'x'], 'ctrsnap: unknown command "prepar"; did you mean prepare?\n'],
    ]
    for (const [args, stderr] of cases) {
      expect(await ctrsnap(args, {root: tmp.dir, env: {NODE_ENV: ''}}), args.join(' ')).toEqual({stdout: '', stderr, exitCode: USAGE})
    }
  })
})
