import type {CreateOptions, Mount} from '../core/snapshotter.js'
import {CreateCommand} from '../cli/create-command.js'

export default class Prepare extends CreateCommand {
  static override summary = 'Prepare an active (writable) snapshot, empty or on a committed parent.'
  static override description = `Silent unless --target or --mounts asks for the mounts. With both, the mount lines come first, then the JSON.`
  static override usage = 'prepare [-t DIR [--mount]] [--mounts] [--label K=V]... KEY [PARENT]'
  static override examples = [
    '<%= config.bin %> prepare base',
    '<%= config.bin %> prepare --target /mnt/work work base',
  ]

  protected create(key: string, parent: string, opts: CreateOptions): Promise<Mount[]> {
    return this.snapshotter().prepare(key, parent, opts)
  }
}
