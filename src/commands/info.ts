import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {ctrInfo, goJson} from '../cli/format/json.js'
import {infoJson} from '../cli/format/machine.js'
import {isKind, NotFoundError} from '../core/errors.js'

export default class Info extends BaseCommand<typeof Info> {
  static override summary = 'Show a snapshot as JSON.'
  static override description = `ctr's layout: 4-space indent, keys Kind, Name, Parent, Labels, Created, Updated; Parent and Labels left out when empty.`
  static override usage = 'info [--json] KEY'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> info base']
  static override args = {key: Args.string({required: true, description: 'Snapshot to show.'})}

  async run(): Promise<void> {
    const info = await this.snapshotter()
      .stat(this.args.key)
      .catch((err: unknown) => {
        // Name where it was looked for: a missing key is often a wrong --root or --snapshotter.
        throw isKind(err, 'not-found') ? new NotFoundError(`${(err as Error).message} ${this.where()}`, true) : err
      })
    if (this.jsonEnabled()) this.json(infoJson(info))
    else this.out(goJson(ctrInfo(info)) + '\n')
  }
}
