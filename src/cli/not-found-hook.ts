import type {Hook} from '@oclif/core'
import {exitCodeFor} from './exit-codes.js'

/** Unknown command: say so and exit as a usage error. Never guess and run another command. */
const hook: Hook<'command_not_found'> = async function (opts) {
  process.stderr.write(`ctrsnap: unknown command "${opts.id}"; see 'ctrsnap --help'\n`)
  process.exit(exitCodeFor('usage'))
}

export default hook
