import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {namespacesText} from '../cli/format/table.js'

export default class Namespaces extends BaseCommand<typeof Namespaces> {
  static override aliases = ['namespace', 'ns']
  static override summary = 'List the namespaces that have snapshots.'
  static override description = `As \`ctr namespaces ls\`: columns NAME and LABELS (always empty: ctrsnap keeps no namespace labels), padded as ctr pads them, in bytewise order; -q prints the names only.

A namespace exists while it has snapshots in this store (--root and --snapshotter): the first snapshot made with --namespace creates it and removing its last one ends it. There is no create or remove, unlike containerd, whose namespaces are made and removed on their own. --namespace does not filter this list.`
  static override usage = '<%= command.id %> ls [-q]'
  static override examples = ['<%= config.bin %> namespaces ls', '<%= config.bin %> -n k8s.io ls']

  static override args = {
    action: Args.string({required: true, options: ['ls', 'list'], description: 'ls (or list): list the namespaces.'}),
  }

  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'Print only the names, one per line.', default: false}),
  }

  async run(): Promise<void> {
    const names = await this.snapshotter().namespaces()
    this.out(this.flags.quiet ? names.map(n => `${n}\n`).join('') : namespacesText(names))
  }
}
