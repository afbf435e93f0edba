import Mounts from './mounts.js'

/** `mount` mounts, as its name and `umount` promise: `mounts --mount` under the name a user types. */
export default class Mount extends Mounts {
  static override aliases = []
  static override summary = 'Mount an active snapshot or a view at TARGET (mounts --mount), and print its mount commands.'
  static override description = `Mounts KEY at TARGET (created if missing) and records the mount, as \`mounts --mount\` does; \`unmount\` (or \`umount\`) undoes it. Prints the mount lines too. ctr's \`mounts\` (alias \`m\`) only prints.`
  static override usage = 'mount [--json] TARGET KEY'
  // Implied: hidden, and accepted for `mounts --mount` lines retyped as `mount --mount`.
  static override flags = {mount: {...Mounts.flags.mount, hidden: true}}
  static override examples = ['<%= config.bin %> mount /mnt/work work']

  protected override mounting(): boolean {
    return true
  }
}
