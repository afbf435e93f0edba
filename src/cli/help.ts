import {Help, type Command} from '@oclif/core'
import {unknownCommand} from './not-found-hook.js'
import {errorText} from './argv.js'
import {exitCodeFor} from './exit-codes.js'

/**
 * oclif's help in ctr's habits: a command's aliases on its own row, as ctr
 * prints "list, ls", and an unknown subject (`ctrsnap help nope`) reported
 * like every other unknown command. Loaded only when help is shown.
 */
export default class CtrsnapHelp extends Help {
  override formatCommands(commands: Command.Loadable[]): string {
    // oclif lists each alias as a command of its own, with itself among its aliases.
    const rows = commands.filter(c => !c.aliases.includes(c.id)).map(c => ({...c, id: [c.id, ...c.aliases].join(', ')}))
    return super.formatCommands(rows)
  }

  override async showHelp(argv: string[]): Promise<void> {
    try {
      await super.showHelp(argv)
    } catch (err) {
      const m = /^Command (.+) not found\.$/.exec((err as Error).message)
      if (!m) throw err
      process.stderr.write(errorText(unknownCommand(m[1]!.split(':')[0]!, this.config)))
      process.exit(exitCodeFor('usage'))
    }
  }
}
