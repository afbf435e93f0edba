import type {Hook} from '@oclif/core'
import {exitCodeFor} from './exit-codes.js'

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
    process.stderr.write(`ctrsnap: unexpected argument${rest.length > 1 ? 's' : ''}: ${rest.join(' ')}\nusage: ctrsnap ${usage}\n`)
  } else {
    process.stderr.write(`ctrsnap: unknown command "${first}"; see 'ctrsnap --help'\n`)
  }
  process.exit(exitCodeFor('usage'))
}

export default hook
