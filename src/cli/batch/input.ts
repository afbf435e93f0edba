import {isUtf8} from 'node:buffer'
import {InvalidArgumentError} from '../../core/errors.js'

export interface InputLine {
  /** 1-based. */
  n: number
  /** The line without its end (\n or \r\n); undefined when its bytes are not UTF-8. */
  text: string | undefined
}

/**
 * The lines of `input` as they arrive, so a batch fed by a pipe runs each
 * command as soon as its line is complete (and a kill leaves the lines before
 * it done). Bytes are checked per line: like an argument, a line that is not
 * UTF-8 would name something else once decoded (src/cli/argv.ts).
 */
export async function* inputLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<InputLine> {
  let pending = Buffer.alloc(0)
  let n = 0
  const decode = (b: Buffer): InputLine => {
    n++
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, -1)
    return {n, text: isUtf8(b) ? b.toString('utf8') : undefined}
  }
  for await (const chunk of input) {
    pending = Buffer.concat([pending, typeof chunk === 'string' ? Buffer.from(chunk) : chunk])
    let nl: number
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      yield decode(pending.subarray(0, nl))
      pending = pending.subarray(nl + 1)
    }
  }
  if (pending.length > 0) yield decode(pending)
}

export const notUtf8 = () => new InvalidArgumentError('the line is not valid UTF-8: ctrsnap takes keys, labels and paths as UTF-8 text')
