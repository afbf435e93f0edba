import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'

export default class Rm extends BaseCommand<typeof Rm> {
  static override aliases = ['remove', 'delete', 'del']
  static override summary = 'Remove snapshots.'
  static override description = `Removes each KEY in order and stops at the first error; keys removed before it stay removed. A snapshot with children cannot be removed, unless --recursive removes them with it. A mounted snapshot cannot be removed: unmount it first.`
  static override usage = '<%= command.id %> [-r] KEY...'
  static override flags = {
    recursive: Flags.boolean({char: 'r', summary: 'Also remove every descendant, children first, in one transaction.', default: false}),
  }

  static override examples = ['<%= config.bin %> rm work look', '<%= config.bin %> rm -r base']
  static override strict = false
  static override args = {key: Args.string({required: true, description: 'Snapshot to remove.'})}

  async run(): Promise<void> {
    const s = this.snapshotter()
    for (const key of this.positional) await s.remove(key, {recursive: this.flags.recursive})
  }
}
