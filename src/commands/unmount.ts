import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'

export default class Unmount extends BaseCommand<typeof Unmount> {
  static override aliases = ['umount']
  static override summary = 'Unmount a snapshot that ctrsnap mounted (prepare/view/mounts --mount).'
  static override description = `Runs umount on TARGET and forgets the mount. A mount already removed by hand is just forgotten. With --rm, also removes the snapshot (refused, changing nothing and unmounting nothing, if it has children, is mounted elsewhere too, or has anything mounted inside its directory).`
  static override usage = '<%= command.id %> [--rm] [--json] TARGET'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> unmount /mnt/work', '<%= config.bin %> unmount --rm /mnt/work']
  static override args = {target: Args.string({required: true, description: 'Directory the snapshot is mounted at.'})}
  static override flags = {
    rm: Flags.boolean({summary: 'Also remove the snapshot that was mounted.', default: false}),
  }

  async run(): Promise<void> {
    const r = await this.snapshotter().unmount(this.args.target, {remove: this.flags.rm})
    if (this.jsonEnabled()) this.json([r])
  }
}
