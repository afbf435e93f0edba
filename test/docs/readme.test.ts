import {execa} from 'execa'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {BIN} from '../helpers/cli.js'
import {buildImage, dockerSaveFiles, archive} from '../helpers/image.js'
import {canMount} from '../helpers/root.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
/** The root the README's session uses; the test runs it under a temp dir instead. */
const DEMO = '/tmp/ctrsnap-demo'

function between(name: string): string {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(README)
  if (!m) throw new Error(`README.md has no ${name} markers`)
  return m[1]!
}

/** Times, digests and durations differ from run to run: compare their shape, not their value. */
function normalise(s: string): string {
  return s
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/sha256:[0-9a-f]{64}/g, 'sha256:<digest>')
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrsnap-readme-'))
afterAll(async () => {
  await execa('sh', ['-c', `grep -o " ${work}[^ ]*" /proc/self/mounts | xargs -r -n1 umount -l`], {reject: false})
  fs.rmSync(work, {recursive: true, force: true})
})

describe('README.md', () => {
  it('command list and exit-code table are what scripts/gen-man.js --readme generates (run `npm run docs`)', async () => {
    const r = await execa('node', [path.join(ROOT, 'scripts/gen-man.js'), '--readme', '--stdout'], {stripFinalNewline: false})
    expect(README).toBe(r.stdout)
  })

  it('starts with the two-command Set-up section', () => {
    const first = /^## (.+)$/m.exec(README)
    expect(first?.[1]).toBe('Set-up')
    const setup = README.slice(first!.index, README.indexOf('\n## ', first!.index + 1))
    expect([...setup.matchAll(/^```(?:sh|bash|console)\n([\s\S]*?)```/gm)].map(m => m[1]!.trim())).toEqual(['bash scripts/setup.sh', 'npm test'])
  })

  // The usage session is run command by command; its output must be what the README shows.
  it.skipIf(!canMount)('usage session runs as shown, and shows every command (needs root)', {timeout: 180_000}, async () => {
    const block = /```console\n([\s\S]*?)```/.exec(between('session'))![1]!
    const commands = [...block.matchAll(/^\$ (.*)$/gm)].map(m => m[1]!)
    const root = path.join(work, 'demo')
    const script = [
      'set -u',
      `ctrsnap() { node ${JSON.stringify(BIN)} "$@"; }`,
      // `$?` in a shown command is the status of the command before it, as in a terminal.
      // stderr interleaved with stdout, as a terminal shows them.
      'exec 2>&1',
      'status=0',
      // A newline after each command: it may end in a # comment.
      ...commands.map(c => `printf '%s\\n' ${shellQuote(`$ ${c}`)}; (exit $status); ${c.replaceAll(DEMO, root)}\nstatus=$?`),
    ].join('\n')
    // The image the session unpacks: one layer, as `docker save` writes it.
    const image = buildImage([{entries: [{name: 'etc/', type: 'dir'}, {name: 'etc/motd', content: 'hi\n'}]}])
    fs.writeFileSync(path.join(work, 'image.tar'), archive(dockerSaveFiles([{image, tags: ['demo:latest']}])))
    const r = await execa('bash', ['-c', script], {cwd: work, env: {CTRSNAP_ROOT: '', DEBUG: '', CI: 'true'}, reject: false})
    const shown = r.stdout.replaceAll(root, DEMO) + '\n'
    // To update the README after a deliberate change: README_SESSION_OUT=file, then paste the file.
    if (process.env.README_SESSION_OUT) fs.writeFileSync(process.env.README_SESSION_OUT, shown)
    expect(normalise(shown)).toBe(normalise(block))

    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>}
    const used = new Set(commands.map(c => /^ctrsnap (\S+)/.exec(c)?.[1]).filter(Boolean))
    expect(Object.keys(manifest.commands).filter(id => !used.has(id))).toEqual([])
  })
})

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
