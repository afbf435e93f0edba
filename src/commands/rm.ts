import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'

export default class Rm extends BaseCommand<typeof Rm> {
  static override aliases = ['remove', 'delete', 'del']
  static override summary = 'Remove snapshots.'
  static override description = `Removes each KEY in order and stops at the first error; keys removed before it stay removed. A snapshot with children cannot be removed, unless --recursive removes them with it. A snapshot ctrsnap has mounted, or one with anything mounted inside its directory, cannot be removed (nothing is removed): unmount it first. Removal never crosses into another file system.`
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
