import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {labelLine, sortedLabels} from '../cli/format/json.js'
import {parseLabelArgs} from '../core/labels.js'

export default class Label extends BaseCommand<typeof Label> {
  static override summary = "Add, change or remove a snapshot's labels, and print them."
  static override description = `K=V sets a label, K= removes it (absent is fine), a bare K sets K=true. With no pairs, prints the labels and changes nothing. Output: K=V pairs sorted by key, joined by commas, on one line.`
  static override usage = 'label [--json] KEY [K=V|K=|K]...'
  static override enableJsonFlag = true
  static override strict = false
  static override examples = ['<%= config.bin %> label base team=infra stale=', '<%= config.bin %> label base']
  static override args = {key: Args.string({required: true, description: 'Snapshot to label.'})}

  async run(): Promise<void> {
    const [key, ...pairs] = this.positional as [string, ...string[]]
    const changes = parseLabelArgs(pairs)
    const s = this.snapshotter()
    const info = pairs.length === 0 ? await s.stat(key) : await s.updateLabels(key, changes)
    if (this.jsonEnabled()) return this.json(sortedLabels(info.labels))
    this.out(labelLine(info.labels) + '\n')
  }
}
