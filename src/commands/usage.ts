import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {usageJson, usageTotalJson} from '../cli/format/machine.js'
import {humanSize, tabwriter} from '../cli/format/table.js'
import type {Usage as UsageT} from '../core/snapshotter.js'

export default class Usage extends BaseCommand<typeof Usage> {
  static override summary = "Show the disk usage of snapshots' own layers."
  static override description = `Allocated bytes and inodes of each snapshot's own layer (a view owns nothing: 0). Committed layers are measured once, at commit. Without KEY, every snapshot in key order; with keys, in argument order. --total adds a TOTAL row: the sum over the listed snapshots, a key listed twice counted once.`
  static override usage = 'usage [-b] [--total] [--json] [KEY...]'
  static override enableJsonFlag = true
  static override strict = false
  static override examples = ['<%= config.bin %> usage', '<%= config.bin %> usage -b base work']
  static override args = {key: Args.string({required: false, description: 'Snapshots to measure (default: all).'})}
  static override flags = {
    // ctr's flag is `b`, which its CLI library also takes as `--b`: keep that for pasted ctr commands.
    bytes: Flags.boolean({char: 'b', aliases: ['b'], summary: 'Show sizes in bytes.', default: false}),
    total: Flags.boolean({summary: 'Add a TOTAL row summing the listed snapshots (each layer once).', default: false}),
  }

  async run(): Promise<void> {
    const rows = await this.snapshotter().usages(this.positional.length > 0 ? this.positional : undefined)
    const total = this.flags.total ? sumOnce(rows) : undefined
    if (this.jsonEnabled()) return this.json([...rows.map(([k, u]) => usageJson(k, u)), ...(total ? [usageTotalJson(total)] : [])])
    const size = this.flags.bytes ? (n: number) => String(n) : humanSize
    const line = (k: string, u: UsageT): string[] => [k, size(u.size), String(u.inodes)]
    this.out(tabwriter([['KEY', 'SIZE', 'INODES'], ...rows.map(([k, u]) => line(k, u)), ...(total ? [line('TOTAL', total)] : [])]))
  }
}

/** Each snapshot's own layer counted once, however often its key was given. */
function sumOnce(rows: readonly [string, UsageT][]): UsageT {
  const seen = new Map(rows)
  let size = 0
  let inodes = 0
  for (const u of seen.values()) {
    size += u.size
    inodes += u.inodes
  }
  return {size, inodes}
}
