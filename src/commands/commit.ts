import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {labelsFromFlags} from '../core/labels.js'

export default class Commit extends BaseCommand<typeof Commit> {
  static override summary = 'Commit an active snapshot KEY as the committed snapshot NAME.'
  static override description = `The committed snapshot keeps KEY's parent and gets a new Created time and only the labels given here. KEY is gone afterwards. Refused while ctrsnap has KEY mounted (prepare/view/mounts --mount): a committed layer must not change, so unmount it first.`
  static override usage = 'commit [--label K=V]... NAME KEY'
  static override examples = ['<%= config.bin %> commit base base-work']
  static override args = {
    name: Args.string({required: true, description: 'Name of the new committed snapshot.'}),
    key: Args.string({required: true, description: 'Key of the active snapshot to commit.'}),
  }

  static override flags = {
    label: Flags.string({summary: 'Set a label on the committed snapshot, K=V; repeatable.', multiple: true, multipleNonGreedy: true, helpValue: 'K=V'}),
  }

  async run(): Promise<void> {
    await this.snapshotter().commit(this.args.name, this.args.key, {labels: labelsFromFlags(this.flags.label)})
  }
}
