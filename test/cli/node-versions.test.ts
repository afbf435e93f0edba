import {execa} from 'execa'
import {execFileSync} from 'node:child_process'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {BIN, ctrsnap} from '../helpers/cli.js'
import {tempRoot} from '../helpers/root.js'

// The machines run Node 20; ctrsnap must run unchanged on 22 and 24. Their
// binaries come from the npm registry, which CI can reach, through a cache that
// scripts/install-deps.sh fills: only a machine's first run downloads them.
const TEST_NODE = path.resolve(path.dirname(BIN), '../scripts/test-node.sh')
const MAJORS = execFileSync('bash', [TEST_NODE, '--majors'], {encoding: 'utf8'}).trim().split(' ')
const SCRIPT: string[][] = [
  ['prepare', 'a'],
  ['label', 'a', 'x=<1>&', 'flag'],
  ['commit', 'base', 'a'],
  ['prepare', '--target', '/mnt/t', 'child', 'base'],
  ['view', 'v', 'base'],
  ['ls'],
  ['tree'],
  ['usage', '-b', 'base', 'v'],
  ['label', 'child'],
  ['rm', 'base'],
  ['rm', 'v', 'child', 'base'],
  ['ls'],
]

async function runScript(node: string | undefined): Promise<string[]> {
  const root = tempRoot()
  try {
    const out: string[] = []
    for (const args of SCRIPT) {
      const r = node
        ? await execa(node, [BIN, ...args], {env: {CTRSNAP_ROOT: root.dir}, reject: false, stripFinalNewline: false})
        : await ctrsnap(args, {root: root.dir})
      out.push(`${args.join(' ')} => ${r.exitCode}\n${String(r.stdout).replace(new RegExp(root.dir, 'g'), 'ROOT')}`)
    }
    return out
  } finally {
    root.cleanup()
  }
}

describe('runs the same on Node 22 and 24', () => {
  let reference: string[]
  beforeAll(async () => { reference = await runScript(undefined) }, 60_000)
  afterAll(() => {})

  for (const major of MAJORS) {
    it(`node ${major} gives byte-identical output and exit codes`, async () => {
      const node = (await execa('bash', [TEST_NODE, major])).stdout.trim()
      expect((await execa(node, ['-v'])).stdout).toMatch(new RegExp(`^v${major}\\.`))
      expect((await runScript(node)).join("\n")).toBe(reference.join("\n"))
    }, 240_000)
  }
})
