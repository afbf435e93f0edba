import {BaseCommand} from '../cli/base-command.js'
import {infoJson} from '../cli/format/machine.js'
import {tabwriter} from '../cli/format/table.js'

export default class Ls extends BaseCommand<typeof Ls> {
  static override aliases = ['list']
  static override summary = 'List snapshots.'
  static override description = `Columns KEY, PARENT, KIND as ctr prints them (every column padded, lines end in a space), in bytewise key order.`
  static override usage = 'ls [--json]'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> ls', '<%= config.bin %> ls --snapshotter native']

  async run(): Promise<void> {
    const infos = await this.snapshotter().walk()
    if (this.jsonEnabled()) return this.json(infos.map(infoJson))
    this.out(tabwriter([['KEY', 'PARENT', 'KIND'], ...infos.map(i => [i.name, i.parent, i.kind])]))
  }
}
