import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {infoJson} from '../cli/format/machine.js'
import {tabwriter} from '../cli/format/table.js'
import {compileFilters} from '../core/filters.js'

export default class Ls extends BaseCommand<typeof Ls> {
  static override aliases = ['list']
  static override summary = 'List snapshots.'
  static override description = `Columns KEY, PARENT, KIND as ctr prints them (every column padded, lines end in a space), in bytewise key order.

--filter takes containerd's filter syntax: selectors FIELD==VALUE, FIELD!=VALUE, FIELD~=REGEXP or a bare FIELD (present), joined by commas (all must match); fields name, parent, kind (active, view, committed) and labels.KEY (labels."KEY" when KEY has characters other than letters, digits, _ and .). Values with spaces or commas go in double quotes; ~= also takes /REGEXP/. Repeated --filter flags match when any of them does.`
  static override usage = '<%= command.id %> [--filter EXPR]... [-q | --json]'
  static override enableJsonFlag = true
  static override examples = [
    '<%= config.bin %> ls',
    '<%= config.bin %> ls --filter kind==active',
    `<%= config.bin %> ls --filter 'parent==base,labels."containerd.io/gc.root"' --filter 'name~=^tmp-'`,
    '<%= config.bin %> ls -q --filter kind==committed',
  ]

  static override flags = {
    filter: Flags.string({
      summary: 'Only snapshots matching EXPR (containerd filter syntax; repeat for OR).',
      helpValue: 'EXPR',
      multiple: true,
    }),
    quiet: Flags.boolean({char: 'q', summary: 'Print only the keys, one per line.', default: false, exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const match = compileFilters(this.flags.filter ?? [])
    const infos = (await this.snapshotter().walk()).filter(match)
    if (this.jsonEnabled()) return this.json(infos.map(infoJson))
    if (this.flags.quiet) return this.out(infos.map(i => `${i.name}\n`).join(''))
    this.out(tabwriter([['KEY', 'PARENT', 'KIND'], ...infos.map(i => [i.name, i.parent, i.kind])]))
  }
}
