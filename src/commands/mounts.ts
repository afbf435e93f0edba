import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {mountJson} from '../cli/format/machine.js'

export default class Mounts extends BaseCommand<typeof Mounts> {
  // ctr's own aliases: a pasted `ctr snapshots mount T K` prints, as ctr's does; mounting takes --mount.
  static override aliases = ['m', 'mount']
  static override summary = 'Print the mount commands of an active snapshot or a view (--mount also mounts it).'
  static override description = `Prints \`mount -t TYPE SOURCE TARGET -o OPTIONS\` lines for TARGET; with --mount, also performs the mount and records it. A TARGET inside the root's stores (ROOT/overlayfs, ROOT/native), or one that would hide them (a store, ROOT or any of its ancestors), is refused.`
  static override usage = '<%= command.id %> [--mount] [--json] TARGET KEY'
  static override flags = {
    mount: Flags.boolean({summary: 'Perform the mount at TARGET (created if missing); undo with `unmount`.', default: false}),
  }

  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> mounts /mnt/work work']
  static override args = {
    target: Args.string({required: true, description: 'Where the snapshot would be mounted.'}),
    key: Args.string({required: true, description: 'Active snapshot or view.'}),
  }

  async run(): Promise<void> {
    const s = this.snapshotter()
    const mounts = this.flags.mount ? await s.mount(this.args.key, this.args.target) : await s.mounts(this.args.key)
    if (this.jsonEnabled()) return this.json(mounts.map(m => mountJson(m, this.args.target)))
    this.printMountLines(this.args.target, mounts, this.flags.mount)
  }
}
