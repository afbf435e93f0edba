/**
 * One line of a `ctrsnap batch` input split into words as a POSIX shell
 * splits a simple command, with no expansion: no $variables, globs, ~ or
 * command substitution, and no operators (`;`, `|`, `>` are ordinary
 * characters). What the shell's quoting does is kept:
 * - outside quotes, a backslash takes the next character literally;
 * - '...' is literal up to the next single quote (no escapes inside);
 * - "..." is literal except that a backslash escapes $ ` " and \ (before any
 *   other character it is kept);
 * - `#` at the start of a word starts a comment to the end of the line;
 * - '' and "" are empty words.
 * A line is one command: an open quote or a trailing backslash is an error
 * (it would continue onto the next line in a shell).
 */
export class LineSyntaxError extends Error {
  /** A usage error, to the CLI's error table (src/cli/exit-codes.ts). */
  readonly oclif = {exit: 2}
}

const BLANK = new Set([' ', '\t'])

export function shellWords(line: string): string[] {
  const words: string[] = []
  let word = ''
  // A word exists once anything (even an empty quote) starts it.
  let inWord = false
  let i = 0
  const end = () => {
    if (inWord) words.push(word)
    word = ''
    inWord = false
  }
  while (i < line.length) {
    const c = line[i]!
    if (BLANK.has(c)) {
      end()
      i++
    } else if (c === '#' && !inWord) {
      break
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new LineSyntaxError('trailing backslash (a command cannot continue onto the next line)')
      word += line[i + 1]
      inWord = true
      i += 2
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1)
      if (close < 0) throw new LineSyntaxError('unterminated single quote')
      word += line.slice(i + 1, close)
      inWord = true
      i = close + 1
    } else if (c === '"') {
      inWord = true
      i++
      for (;;) {
        if (i >= line.length) throw new LineSyntaxError('unterminated double quote')
        const d = line[i]!
        if (d === '"') break
        if (d === '\\' && i + 1 < line.length && '$`"\\'.includes(line[i + 1]!)) {
          word += line[i + 1]
          i += 2
        } else {
          word += d
          i++
        }
      }
      i++
    } else {
      word += c
      inWord = true
      i++
    }
  }
  end()
  return words
}
