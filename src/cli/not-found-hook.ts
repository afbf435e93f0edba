import type {Hook, Interfaces} from '@oclif/core'
import {errorText} from './argv.js'
import {exitCodeFor} from './exit-codes.js'
import {didYouMean} from './suggest.js'

/** Every name a command answers to, aliases included. */
function commandNames(config: Interfaces.Config): string[] {
  return config.commands.filter(c => !c.hidden).flatMap(c => [c.id, ...c.aliases])
}

/**
 * The message for a first word that is no command: an unknown command, or a
 * flag before the command that is not one of the flags allowed there, with
 * the closest name when one is close.
 */
export function unknownCommand(word: string, config: Interfaces.Config): string {
  if (word.startsWith('-') && word !== '-') {
    const name = word.replace(/=.*/, '')
    return `unknown flag: ${name}${didYouMean(name, ['--root', '--snapshotter', '--help', '--version', '-h', '-v'], `; see 'ctrsnap --help'`)}`
  }
  return `unknown command "${word}"${didYouMean(word, commandNames(config), `; see 'ctrsnap --help'`)}`
}

/**
 * Unknown command: say so and exit as a usage error; never guess and run
 * another command. With spaces as topic separator oclif also lands here for
 * `ls extra` (it tries the id "ls:extra"): that is an extra argument to a
 * known command, reported like every other usage error.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  const [first, ...rest] = opts.id.split(':')
  const known = opts.config.findCommand(first!)
  if (known) {
    const usage = String(known.usage ?? first).replace('<%= command.id %>', known.id)
    process.stderr.write(errorText(`unexpected argument${rest.length > 1 ? 's' : ''}: ${rest.join(' ')}`, usage))
  } else {
    process.stderr.write(errorText(unknownCommand(first!, opts.config)))
  }
  process.exit(exitCodeFor('usage'))
}

export default hook
