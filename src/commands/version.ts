import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {versionBlock, versionLine} from '../cli/format/version.js'

export default class Version extends BaseCommand<typeof Version> {
  static override summary = 'Print the version.'
  static override description = `The Client part of \`ctr version\`: ctrsnap's version and the Node.js that runs it. There is no Server part: ctrsnap has no daemon. With --short, one line, what \`ctrsnap --version\` and \`ctrsnap -v\` print.`
  static override usage = 'version [--short]'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> -v']
  static override flags = {
    short: Flags.boolean({summary: 'Print only `ctrsnap VERSION` on one line.', default: false}),
  }

  async run(): Promise<void> {
    this.out(this.flags.short ? versionLine(this.config.version) : versionBlock(this.config.version, process.version))
  }
}
