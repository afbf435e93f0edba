import {BaseCommand} from '../cli/base-command.js'
import {treeJson} from '../cli/format/machine.js'
import {buildTree, renderTree} from '../cli/format/tree.js'

export default class Tree extends BaseCommand<typeof Tree> {
  static override summary = 'Show the snapshots as a tree of parents and children.'
  static override description = `ctr's layout: roots in order of first appearance, two spaces per level, \\_ before each child.`
  static override usage = 'tree [--json]'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> tree']

  async run(): Promise<void> {
    const roots = buildTree(await this.snapshotter().walk())
    if (this.jsonEnabled()) return this.json(roots.map(treeJson))
    this.out(renderTree(roots))
  }
}
