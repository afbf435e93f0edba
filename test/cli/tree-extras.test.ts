import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {colorWanted} from '../../src/cli/format/tree.js'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

const hasScript = (await execa('script', ['--version'], {reject: false})).exitCode === 0
const hasDot = (await execa('dot', ['-V'], {reject: false})).exitCode === 0

const ESC = '\x1b['
const PLAIN = ' base\n  \\_ app\n    \\_ look\n    \\_ work\n  \\_ tmp\n'

/** The environment of this process without any colour settings, plus `extra`. */
function envWith(extra: Record<string, string>, root: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'FORCE_COLOR' && k !== 'NO_COLOR') env[k] = v
  return {...env, TERM: 'xterm', CTRSNAP_ROOT: root, DEBUG: '', ...extra}
}

/** `ctrsnap tree` with stdout a pipe. */
async function onPipe(root: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await execa('node', [BIN, 'tree'], {env: envWith(extra, root), extendEnv: false, stripFinalNewline: false})
  return r.stdout
}

/** `ctrsnap tree` with stdout a terminal (script(1) gives it a pty); CRLF back to LF. */
async function onTTY(root: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await execa('script', ['-qec', `node ${BIN} tree`, '/dev/null'], {env: envWith(extra, root), extendEnv: false, stripFinalNewline: false})
  return r.stdout.replace(/\r\n/g, '\n')
}

describe('tree extras', () => {
  let root: ReturnType<typeof tempRoot>
  beforeAll(async () => {
    root = tempRoot()
    const steps = [['prepare', 'a'], ['commit', 'base', 'a'], ['prepare', 'b', 'base'], ['commit', 'app', 'b'], ['prepare', 'work', 'app'], ['view', 'look', 'app'], ['prepare', 'tmp', 'base']]
    for (const args of steps) expect((await ctrsnap(args, {root: root.dir})).exitCode, args.join(' ')).toBe(0)
  })
  afterAll(() => root.cleanup())

  it('decides colour from the stream and NO_COLOR / FORCE_COLOR', () => {
    expect(colorWanted(false, {})).toBe(false)
    expect(colorWanted(undefined, {})).toBe(false)
    expect(colorWanted(true, {})).toBe(true)
    expect(colorWanted(true, {NO_COLOR: '1'})).toBe(false)
    expect(colorWanted(true, {NO_COLOR: ''})).toBe(true)
    expect(colorWanted(true, {TERM: 'dumb'})).toBe(false)
    expect(colorWanted(false, {FORCE_COLOR: '1'})).toBe(true)
    expect(colorWanted(false, {FORCE_COLOR: ''})).toBe(true)
    expect(colorWanted(true, {FORCE_COLOR: '0'})).toBe(false)
    expect(colorWanted(false, {FORCE_COLOR: '1', NO_COLOR: '1'})).toBe(true)
  })

  it('prints ctr\'s plain tree on a pipe, with no escape codes', async () => {
    expect(await onPipe(root.dir)).toBe(PLAIN)
  })

  it('colours names by kind with FORCE_COLOR, even on a pipe, and the layout is unchanged', async () => {
    const out = await onPipe(root.dir, {FORCE_COLOR: '1'})
    expect(out).toBe(` ${ESC}34mbase${ESC}39m\n  \\_ ${ESC}34mapp${ESC}39m\n    \\_ ${ESC}33mlook${ESC}39m\n    \\_ ${ESC}32mwork${ESC}39m\n  \\_ ${ESC}32mtmp${ESC}39m\n`)
    expect(out.replace(/\x1b\[\d+m/g, '')).toBe(PLAIN)
    expect(await onPipe(root.dir, {FORCE_COLOR: '0'})).toBe(PLAIN)
  })

  it.skipIf(!hasScript)('colours on a terminal, not with NO_COLOR (needs script(1))', async () => {
    const tty = await onTTY(root.dir)
    expect(tty).toContain(`${ESC}34mbase${ESC}39m`)
    expect(tty.replace(/\x1b\[\d+m/g, '')).toBe(PLAIN)
    expect(await onTTY(root.dir, {NO_COLOR: '1'})).toBe(PLAIN)
  })

  it('--usage shows each snapshot\'s own size beside it', async () => {
    const r = await ctrsnap(['tree', '--usage'], {root: root.dir})
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean)
    expect(lines.map(l => l.replace(/ \(\d+\.\d (B|KiB|MiB)\)$/, ''))).toEqual(PLAIN.split('\n').filter(Boolean))
    expect(lines.find(l => l.includes('look'))).toBe('    \\_ look (0.0 B)') // a view owns no layer
    const usage = await ctrsnap(['usage', 'work'], {root: root.dir})
    const size = usage.stdout.split('\n')[1]!.split(/\s+/).slice(1, 3).join(' ')
    expect(lines.find(l => l.includes('work'))).toBe(`    \\_ work (${size})`)
  })

  describe('--format dot', () => {
    let dot = ''
    beforeAll(async () => {
      const r = await ctrsnap(['tree', '--format', 'dot'], {root: root.dir})
      expect(r.exitCode).toBe(0)
      expect(r.stderr).toBe('')
      dot = r.stdout
    })

    it('is a digraph with one node per snapshot and an edge from each parent to each child', () => {
      expect(dot.startsWith('digraph snapshots {\n')).toBe(true)
      expect(dot.endsWith('}\n')).toBe(true)
      const names = new Map<string, string>()
      for (const m of dot.matchAll(/^ {2}(n\d+) \[label=<<b>([^<]*)<\/b><br\/>(\w+)/gm)) names.set(m[1]!, `${m[2]}:${m[3]}`)
      expect([...names.values()].sort()).toEqual(['app:Committed', 'base:Committed', 'look:View', 'tmp:Active', 'work:Active'])
      const edges = [...dot.matchAll(/^ {2}(n\d+) -> (n\d+);$/gm)].map(m => `${names.get(m[1]!)!.split(':')[0]}->${names.get(m[2]!)!.split(':')[0]}`)
      expect(edges.sort()).toEqual(['app->look', 'app->work', 'base->app', 'base->tmp'])
    })

    it.skipIf(!hasDot)('renders with Graphviz (needs graphviz)', async () => {
      const svg = await execa('dot', ['-Tsvg'], {input: dot})
      expect(svg.stderr).toBe('')
      for (const n of ['base', 'app', 'work', 'look', 'tmp']) expect(svg.stdout).toContain(`>${n}</text>`)
    })

    it.skipIf(!hasDot)('survives names DOT would choke on (needs graphviz)', async () => {
      const odd = tempRoot()
      try {
        const name = 'we"ird<&>\\'
        expect((await ctrsnap(['prepare', name], {root: odd.dir})).exitCode).toBe(0)
        const r = await ctrsnap(['tree', '--format', 'dot', '--usage'], {root: odd.dir})
        const svg = await execa('dot', ['-Tsvg'], {input: r.stdout})
        expect(svg.stderr).toBe('')
        expect(svg.stdout).toContain('>we&quot;ird&lt;&amp;&gt;\\</text>')
      } finally {
        odd.cleanup()
      }
    })
  })
})
