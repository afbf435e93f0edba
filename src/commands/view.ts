import type {CreateOptions, Mount} from '../core/snapshotter.js'
import {CreateCommand} from '../cli/create-command.js'

export default class View extends CreateCommand {
  static override summary = 'Create a read-only view of a committed snapshot.'
  static override description = `Silent unless --target or --mounts asks for the mounts. Views cannot be committed and stay until removed.`
  static override usage = 'view [-t DIR [--mount]] [--mounts] [--label K=V]... KEY [PARENT]'
  static override examples = ['<%= config.bin %> view --target /mnt/look look base']

  protected create(key: string, parent: string, opts: CreateOptions): Promise<Mount[]> {
    return this.snapshotter().view(key, parent, opts)
  }
}
