import {Args, Flags} from '@oclif/core'
import {labelsFromFlags} from '../core/labels.js'
import type {CreateOptions, Mount} from '../core/snapshotter.js'
import {BaseCommand} from './base-command.js'
import {ctrMounts, goJson} from './format/json.js'

/** prepare and view: the same arguments, flags and output; only the kind differs. */
export abstract class CreateCommand extends BaseCommand<typeof CreateCommand> {
  static override args = {
    key: Args.string({required: true, description: 'Key of the new snapshot.'}),
    parent: Args.string({required: false, description: 'Committed snapshot to build on (none: an empty snapshot).'}),
  }

  static override flags = {
    target: Flags.string({char: 't', summary: 'Print the mount commands for this target (does not mount).', helpValue: 'DIR'}),
    mounts: Flags.boolean({summary: 'Print the mounts as JSON (prints only; see --mount).', default: false}),
    mount: Flags.boolean({summary: 'Perform the mount at --target (created if missing; not inside or over the root\'s stores); undo with `unmount`.', dependsOn: ['target']}),
    label: Flags.string({summary: 'Set a label, K=V (bare K means K=true); repeatable.', multiple: true, multipleNonGreedy: true, helpValue: 'K=V'}),
  }

  protected abstract create(key: string, parent: string, opts: CreateOptions): Promise<Mount[]>

  async run(): Promise<void> {
    const {target, mount} = this.flags
    const mounts = await this.create(this.args.key, this.args.parent ?? '', {labels: labelsFromFlags(this.flags.label), mountAt: mount ? target : undefined})
    if (target !== undefined) this.printMountLines(target, mounts, mount === true)
    if (this.flags.mounts) this.out(goJson(ctrMounts(mounts)) + '\n')
  }
}
