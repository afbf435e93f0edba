import {Args, Flags} from '@oclif/core'
import {labelsFromFlags} from '../core/labels.js'
import type {Mount} from '../core/snapshotter.js'
import {BaseCommand} from './base-command.js'
import {ctrMounts, goJson} from './format/json.js'
import {mountLines} from './format/mounts.js'

/** prepare and view: the same arguments, flags and output; only the kind differs. */
export abstract class CreateCommand extends BaseCommand<typeof CreateCommand> {
  static override args = {
    key: Args.string({required: true, description: 'Key of the new snapshot.'}),
    parent: Args.string({required: false, description: 'Committed snapshot to build on (none: an empty snapshot).'}),
  }

  static override flags = {
    target: Flags.string({char: 't', summary: 'Print the mount commands for this target (does not mount).', helpValue: 'DIR'}),
    mounts: Flags.boolean({summary: 'Print the mounts as JSON.', default: false}),
    label: Flags.string({summary: 'Set a label, K=V (bare K means K=true); repeatable.', multiple: true, helpValue: 'K=V'}),
  }

  protected abstract create(key: string, parent: string, labels: Record<string, string>): Promise<Mount[]>

  async run(): Promise<void> {
    const mounts = await this.create(this.args.key, this.args.parent ?? '', labelsFromFlags(this.flags.label))
    if (this.flags.target !== undefined) this.out(mountLines(this.flags.target, mounts))
    if (this.flags.mounts) this.out(goJson(ctrMounts(mounts)) + '\n')
  }
}
