import {execa} from 'execa'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {POSITIONALS} from '../../src/cli/format/completion.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

const hasZsh = (await execa('zsh', ['--version'], {reject: false})).exitCode === 0

let root: ReturnType<typeof tempRoot>
let other: ReturnType<typeof tempRoot>
let bashFile: string
let zshFile: string

beforeAll(async () => {
  root = tempRoot()
  other = tempRoot()
  const steps = [['prepare', 'a'], ['commit', 'base', 'a'], ['prepare', 'work', 'base'], ['prepare', 'wide open', 'base'], ['view', 'look', 'base'], ['-n', 'k8s.io', 'prepare', 'in-k8s']]
  for (const args of steps) expect((await ctrsnap(args, {root: root.dir})).exitCode, args.join(' ')).toBe(0)
  // A second root and the native snapshotter, to see that the line's --root/--snapshotter are used.
  expect((await ctrsnap(['prepare', 'elsewhere'], {root: other.dir, snapshotter: 'native'})).exitCode).toBe(0)
  fs.mkdirSync(path.join(root.dir, 'mnt-dir'))
  for (const shell of ['bash', 'zsh']) {
    const r = await ctrsnap(['completion', shell])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toBe('')
    fs.writeFileSync(path.join(root.dir, `completion.${shell}`), r.stdout)
  }
  bashFile = path.join(root.dir, 'completion.bash')
  zshFile = path.join(root.dir, 'completion.zsh')
})
afterAll(() => {
  root.cleanup()
  other.cleanup()
})

/** Source the script in bash, set COMP_WORDS/COMP_CWORD (the cursor on the last word) and return COMPREPLY. */
async function bashComplete(words: string[], env: Record<string, string> = {}): Promise<string[]> {
  const quoted = words.map(w => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')
  const prog = `source ${bashFile}; COMP_WORDS=(${BIN} ${quoted}); COMP_CWORD=${words.length}; _ctrsnap; printf '%s\\n' "\${COMPREPLY[@]}"`
  const r = await execa('bash', ['--norc', '--noprofile', '-c', prog], {cwd: root.dir, env: {CTRSNAP_ROOT: root.dir, ...env}})
  expect(r.stderr).toBe('')
  return r.stdout.split('\n').filter(Boolean)
}

describe('the completion table', () => {
  it('names real commands and no more positionals than they take', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(BIN), '../oclif.manifest.json'), 'utf8')) as {commands: Record<string, {args: Record<string, unknown>; strict?: boolean}>}
    for (const [id, spec] of Object.entries(POSITIONALS)) {
      const cmd = manifest.commands[id]
      expect(cmd, id).toBeDefined()
      expect(spec.positionals.length, id).toBeLessThanOrEqual(Object.keys(cmd!.args).length)
      if (spec.rest && spec.rest.type !== 'none') expect(cmd!.strict, `${id} takes a list`).toBe(false)
    }
  })
})

describe('bash completion', () => {
  it('is valid bash and registers itself for ctrsnap', async () => {
    expect((await execa('bash', ['-n', bashFile])).exitCode).toBe(0)
    expect(fs.readFileSync(bashFile, 'utf8')).toMatch(/^complete -F _ctrsnap ctrsnap$/m)
  })

  it('completes commands and aliases', async () => {
    const all = await bashComplete([''])
    for (const c of ['cleanup', 'commit', 'completion', 'info', 'label', 'ls', 'list', 'mounts', 'prepare', 'rm', 'tree', 'unmount', 'umount', 'usage', 'view']) expect(all).toContain(c)
    expect(await bashComplete(['pr'])).toEqual(['prepare'])
    expect((await bashComplete(['u'])).sort()).toEqual(['umount', 'unmount', 'unpack', 'usage'])
  })

  it('completes the flags of the command', async () => {
    expect((await bashComplete(['ls', '--'])).sort()).toEqual(['--filter', '--json', '--namespace', '--quiet', '--root', '--snapshotter'])
    expect(await bashComplete(['tree', '--f'])).toEqual(['--format'])
    expect((await bashComplete(['rm', '-'])).sort()).toEqual(['--namespace', '--recursive', '--root', '--snapshotter', '-n', '-r'])
  })

  it('completes flag values: options, also after = split off by COMP_WORDBREAKS', async () => {
    expect(await bashComplete(['tree', '--format', ''])).toEqual(['text', 'dot'])
    expect(await bashComplete(['tree', '--format', '=', 'd'])).toEqual(['dot'])
    expect(await bashComplete(['ls', '--snapshotter', 'n'])).toEqual(['native'])
    expect(await bashComplete(['ls', '--snapshotter', ''])).toEqual(['overlayfs', 'native', 'btrfs'])
    expect(await bashComplete(['cleanup', '--snapshotter', 'b'])).toEqual(['btrfs'])
    expect(await bashComplete(['ls', '--filter', 'kind'])).toEqual(['kind==active', 'kind==view', 'kind==committed'])
    expect(await bashComplete(['info', '--root', 'mnt'])).toEqual(['mnt-dir'])
  })

  it('completes snapshot keys, of the kind the argument takes', async () => {
    expect(await bashComplete(['rm', ''])).toEqual(['base', 'look', 'wide\\ open', 'work'])
    expect(await bashComplete(['rm', 'base', 'w'])).toEqual(['wide\\ open', 'work'])
    expect(await bashComplete(['info', 'l'])).toEqual(['look'])
    expect(await bashComplete(['prepare', 'new', ''])).toEqual(['base']) // a parent: committed only
    expect(await bashComplete(['prepare', ''])).toEqual([]) // a new key
    expect(await bashComplete(['commit', 'name', ''])).toEqual(['wide\\ open', 'work']) // active only
    expect(await bashComplete(['mounts', '/mnt', ''])).toEqual(['look', 'wide\\ open', 'work']) // active or view
    expect(await bashComplete(['label', 'base', ''])).toEqual([]) // K=V pairs
  })

  it('asks the --root and --snapshotter on the line, in either form', async () => {
    expect(await bashComplete(['rm', '--root', other.dir, '--snapshotter', 'native', ''])).toEqual(['elsewhere'])
    expect(await bashComplete(['rm', `--root=${other.dir}`, '--snapshotter=native', ''])).toEqual(['elsewhere'])
    expect(await bashComplete(['rm', '--root', '=', other.dir, '--snapshotter', '=', 'native', ''])).toEqual(['elsewhere'])
    expect(await bashComplete(['rm', '--root', other.dir, ''])).toEqual([]) // overlayfs there is empty
    expect(await bashComplete(['rm', ''], {CTRSNAP_ROOT: other.dir, CTRSNAP_SNAPSHOTTER: 'native'})).toEqual(['elsewhere'])
  })

  it('takes --root/--snapshotter before the command and ctr\'s snapshots prefix, as the README advertises', async () => {
    expect(await bashComplete(['--root', other.dir, '--snapshotter', 'native', 'rm', ''])).toEqual(['elsewhere'])
    expect(await bashComplete([`--root=${other.dir}`, 'snapshots', '--snapshotter=native', 'rm', ''])).toEqual(['elsewhere'])
    expect(await bashComplete(['snapshot', 'rm', 'w'])).toEqual(['wide\\ open', 'work'])
    expect(await bashComplete(['--snapshotter', 'n'])).toEqual(['native'])
    expect(await bashComplete(['--root', 'mnt'])).toEqual(['mnt-dir'])
    expect(await bashComplete(['--root', other.dir, 'pr'])).toEqual(['prepare'])
    expect((await bashComplete(['-'])).sort()).toEqual(['--help', '--namespace', '--root', '--snapshotter', '--version', '-h', '-n', '-v'])
  })

  it('completes batch: its flags, and a file for FILE', async () => {
    expect(await bashComplete(['ba'])).toEqual(['batch'])
    expect((await bashComplete(['batch', '--'])).sort()).toEqual(['--atomic', '--json', '--keep-going', '--namespace', '--root', '--snapshotter'])
    expect(await bashComplete(['batch', 'mnt'])).toEqual(['mnt-dir'])
  })

  it('completes the shells of completion itself', async () => {
    expect(await bashComplete(['completion', ''])).toEqual(['bash', 'zsh'])
  })

  it('completes namespace names after -n/--namespace, and the keys of the namespace on the line', async () => {
    expect(await bashComplete(['ls', '--namespace', ''])).toEqual(['default', 'k8s.io'])
    expect(await bashComplete(['rm', '-n', 'k'])).toEqual(['k8s.io'])
    expect(await bashComplete(['rm', '-n', 'k8s.io', ''])).toEqual(['in-k8s'])
    expect(await bashComplete(['rm', '--namespace=k8s.io', ''])).toEqual(['in-k8s'])
    expect(await bashComplete(['rm', ''], {CTRSNAP_NAMESPACE: 'k8s.io'})).toEqual(['in-k8s'])
    expect(await bashComplete(['namespaces', ''])).toEqual(['ls', 'list'])
    // Before the command, as ctr takes -n.
    expect(await bashComplete(['-n', ''])).toEqual(['default', 'k8s.io'])
    expect(await bashComplete(['-n', 'k8s.io', 'rm', ''])).toEqual(['in-k8s'])
  })
})

/**
 * zsh's completion system needs an interactive shell; instead, the script's
 * function runs with compadd, _describe, _files, compset and compdef replaced
 * by stubs that print the candidates they are given.
 */
async function zshComplete(words: string[]): Promise<string[]> {
  const quoted = words.map(w => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')
  const prog = [
    'compdef() { :; }',
    'compset() { :; }',
    `compadd() { local -a w; while (( $# )); do case $1 in --) shift; w+=("$@"); break;; -[SPXJd]) shift 2;; -*) shift;; *) w+=("$1"); shift;; esac; done; printf '%s\\n' "\${w[@]}"; }`,
    `_describe() { local -a d=("\${(@P)\${@[-1]}}"); printf '%s\\n' "\${d[@]%%:*}"; }`,
    `_files() { print -r -- "<files $*>"; }`,
    `source ${zshFile}`,
    `words=(${BIN} ${quoted}); CURRENT=${words.length + 1}; _ctrsnap`,
  ].join('\n')
  const r = await execa('zsh', ['-f', '-c', prog], {env: {CTRSNAP_ROOT: root.dir}})
  expect(r.stderr).toBe('')
  return r.stdout.split('\n').filter(Boolean)
}

/**
 * Real completion: an interactive zsh on a pty (zsh/zpty) with compinit and
 * the script loaded; each case types a line and TAB and waits for the text
 * the line or the listing must show.
 */
async function zshInteractive(cases: [input: string, expected: string][]): Promise<string[]> {
  const bin = path.join(root.dir, 'bin')
  fs.mkdirSync(bin, {recursive: true})
  if (!fs.existsSync(path.join(bin, 'ctrsnap'))) fs.symlinkSync(BIN, path.join(bin, 'ctrsnap'))
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  const driver = `setopt extendedglob
zmodload zsh/zpty
typeset -F SECONDS
zpty z ${q(`PATH=${bin}:$PATH CTRSNAP_ROOT=${root.dir} HOME=${root.dir} zsh -f -i`)}
zpty -w z ${q(`autoload -Uz compinit; compinit -u -D; source ${zshFile}; PROMPT='%% '`)}
drain() { local c; while zpty -r -t z c; do :; done }
try() {
  local out= chunk deadline=$(( SECONDS + 30 ))
  zpty -w -n z "$1"$'\t'
  while (( SECONDS < deadline )); do
    if zpty -r -t z chunk; then out+=$chunk; else sleep 0.1; fi
    [[ \${out//$'\\e'\\[[0-9;?]#[a-zA-Z]/} == *"$2"* ]] && { print -r -- "ok $1"; break }
  done
  (( SECONDS < deadline )) || print -r -- "FAILED $1 => \${(q)out}"
  zpty -w -n z $'\\025'
  sleep 0.2
  drain
}
${cases.map(([input, expected]) => `try ${q(input)} ${q(expected)}`).join('\n')}
zpty -d z
`
  const file = path.join(root.dir, 'driver.zsh')
  fs.writeFileSync(file, driver)
  const r = await execa('zsh', ['-f', file], {reject: false, timeout: 300_000})
  return r.stdout.split('\n').filter(Boolean)
}

describe('zsh completion', () => {
  it.skipIf(!hasZsh)('completes in an interactive zsh with compinit (needs zsh)', async () => {
    const cases: [string, string][] = [
      ['ctrsnap tr', 'ctrsnap tree '],
      ['ctrsnap ls --', 'Only snapshots matching EXPR'],
      ['ctrsnap tree --format=d', 'ctrsnap tree --format=dot '],
      ['ctrsnap prepare x ', 'ctrsnap prepare x base '],
      [`ctrsnap rm --root=${other.dir} --snapshotter native `, `--snapshotter native elsewhere `],
      [`ctrsnap --root ${other.dir} --snapshotter native rm `, `native rm elsewhere `],
    ]
    expect(await zshInteractive(cases)).toEqual(cases.map(([input]) => `ok ${input}`))
  }, 300_000)

  it.skipIf(!hasZsh)('is valid zsh (zsh -n) and registers itself (needs zsh)', async () => {
    expect((await execa('zsh', ['-n', zshFile])).exitCode).toBe(0)
    expect(fs.readFileSync(zshFile, 'utf8')).toMatch(/^#compdef ctrsnap$/m)
  })

  it.skipIf(!hasZsh)('offers commands, flags, values and keys (needs zsh)', async () => {
    expect(await zshComplete([''])).toContain('prepare')
    expect(await zshComplete(['ls', '-'])).toEqual(['--json', '--root', '--snapshotter', '--namespace', '-n', '--filter', '--quiet', '-q'])
    expect(await zshComplete(['tree', '--format', ''])).toEqual(['text', 'dot'])
    expect(await zshComplete(['tree', '--format=d'])).toEqual(['text', 'dot']) // zsh's compadd does the prefix matching
    expect(await zshComplete(['rm', ''])).toEqual(['base', 'look', 'wide open', 'work'])
    expect(await zshComplete(['view', 'new', ''])).toEqual(['base'])
    expect(await zshComplete(['rm', '--root', other.dir, '--snapshotter', 'native', ''])).toEqual(['elsewhere'])
    expect(await zshComplete(['unmount', ''])).toEqual(['<files -/>'])
    expect(await zshComplete(['batch', ''])).toEqual(['<files >'])
    expect(await zshComplete(['--root', other.dir, '--snapshotter', 'native', 'rm', ''])).toEqual(['elsewhere'])
    expect(await zshComplete(['snapshots', 'ls', '--f'])).toEqual(['--json', '--root', '--snapshotter', '--namespace', '-n', '--filter', '--quiet', '-q'])
  })
})
