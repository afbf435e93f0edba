import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {mountJson} from '../cli/format/machine.js'
import {mountLines} from '../cli/format/mounts.js'

export default class Mounts extends BaseCommand<typeof Mounts> {
  static override aliases = ['m', 'mount']
  static override summary = 'Print the mount commands of an active snapshot or a view.'
  static override description = `Prints \`mount -t TYPE SOURCE TARGET -o OPTIONS\` lines for TARGET; nothing is mounted.`
  static override usage = 'mounts [--json] TARGET KEY'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> mounts /mnt/work work']
  static override args = {
    target: Args.string({required: true, description: 'Where the snapshot would be mounted.'}),
    key: Args.string({required: true, description: 'Active snapshot or view.'}),
  }

  async run(): Promise<void> {
    const mounts = await this.snapshotter().mounts(this.args.key)
    if (this.jsonEnabled()) return this.json(mounts.map(m => mountJson(m, this.args.target)))
    this.out(mountLines(this.args.target, mounts))
  }
}
