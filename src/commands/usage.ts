import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {usageJson} from '../cli/format/machine.js'
import {humanSize, tabwriter} from '../cli/format/table.js'
import type {Usage as UsageT} from '../core/snapshotter.js'

export default class Usage extends BaseCommand<typeof Usage> {
  static override summary = "Show the disk usage of snapshots' own layers."
  static override description = `Allocated bytes and inodes of each snapshot's own layer (a view owns nothing: 0). Committed layers are measured once, at commit. Without KEY, every snapshot in key order; with keys, in argument order.`
  static override usage = 'usage [-b] [--json] [KEY...]'
  static override enableJsonFlag = true
  static override strict = false
  static override examples = ['<%= config.bin %> usage', '<%= config.bin %> usage -b base work']
  static override args = {key: Args.string({required: false, description: 'Snapshots to measure (default: all).'})}
  static override flags = {
    b: Flags.boolean({char: 'b', summary: 'Show sizes in bytes.', default: false}),
  }

  async run(): Promise<void> {
    const s = this.snapshotter()
    const keys = this.positional.length > 0 ? this.positional : (await s.walk()).map(i => i.name)
    const rows: [string, UsageT][] = []
    for (const key of keys) rows.push([key, await s.usage(key)])
    if (this.jsonEnabled()) return this.json(rows.map(([k, u]) => usageJson(k, u)))
    const size = this.flags.b ? (n: number) => String(n) : humanSize
    this.out(tabwriter([['KEY', 'SIZE', 'INODES'], ...rows.map(([k, u]) => [k, size(u.size), String(u.inodes)])]))
  }
}
