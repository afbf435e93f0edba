import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {treeJson} from '../cli/format/machine.js'
import {buildTree, colorWanted, kindColorizer, renderDot, renderTree, sizeSuffix} from '../cli/format/tree.js'
import type {Usage} from '../core/snapshotter.js'

export default class Tree extends BaseCommand<typeof Tree> {
  static override summary = 'Show the snapshots as a tree of parents and children.'
  static override description = `ctr's layout: roots in order of first appearance, two spaces per level, \\_ before each child. On a terminal, names are coloured by kind (committed blue, active green, view yellow, an unlisted parent dim); NO_COLOR turns this off, FORCE_COLOR=1 turns it on even on a pipe. --format dot prints a Graphviz digraph (pipe it to \`dot -Tsvg\`).`
  static override usage = 'tree [--usage] [--format text|dot | --json]'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> tree', '<%= config.bin %> tree --usage', '<%= config.bin %> tree --format dot | dot -Tsvg > snapshots.svg']
  static override flags = {
    usage: Flags.boolean({summary: "Show each snapshot's own size beside it.", default: false}),
    format: Flags.string({summary: 'Output format.', options: ['text', 'dot'], default: 'text', exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const s = this.snapshotter()
    const infos = await s.walk()
    const roots = buildTree(infos)
    const usage: Map<string, Usage> | undefined = this.flags.usage ? new Map(await s.usages()) : undefined
    if (this.jsonEnabled()) return this.json(roots.map(r => treeJson(r, usage)))
    if (this.flags.format === 'dot') return this.out(renderDot(roots, usage))
    const paint = kindColorizer(colorWanted(process.stdout.isTTY))
    this.out(renderTree(roots, n => paint(n, n.name) + sizeSuffix(usage?.get(n.name))))
  }
}
