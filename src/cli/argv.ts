// Loaded by bin/run.js on every start: keep it free of imports.

/** Flags that may stand before the command, as ctr's global flags do; each takes a value. */
export const LEADING_FLAGS = ['root', 'snapshotter', 'namespace'] as const

/** ctr's command prefix: `ctr snapshots ls` pasted as `ctrsnap snapshots ls` runs `ctrsnap ls`. */
export const CTR_PREFIXES = ['snapshots', 'snapshot'] as const

/** The usage line of ctrsnap itself, for usage errors that precede any command. */
export const ROOT_USAGE = '[--root DIR] [--snapshotter NAME] [-n NAMESPACE] COMMAND [ARG]...'

/** The one shape of every error: `ctrsnap: MESSAGE`, and the usage line for usage errors. */
export function errorText(message: string, usage?: string): string {
  return `ctrsnap: ${message}\n${usage === undefined ? '' : `usage: ctrsnap ${usage}\n`}`
}

// ctr's -n (namespace) too: moved as --namespace, since after the command cleanup's -n is --dry-run.
const LEADING = new RegExp(`^(--(${LEADING_FLAGS.join('|')})|-n)(=|$)`)

/**
 * Rewrite the command line the way ctr users type it into the one oclif
 * parses: leading --root/--snapshotter/--namespace/-n (before or after a `snapshots`
 * prefix) move after the command, the prefix goes, and `-v`/`--version`
 * run `version --short`. Returns the message of a usage error instead when
 * a leading flag lacks its value.
 */
export function normalizeArgv(args: readonly string[]): {argv: string[]} | {error: string} {
  const rest = [...args]
  const lead: string[] = []
  let prefixed = false
  for (;;) {
    const w = rest[0]
    if (w === undefined) break
    if (LEADING.test(w)) {
      lead.push(rest.shift()!.replace(/^-n(?==|$)/, '--namespace'))
      if (!w.includes('=')) {
        if (rest.length === 0) return {error: `flag ${w} needs a value`}
        lead.push(rest.shift()!)
      }
    } else if (!prefixed && (CTR_PREFIXES as readonly string[]).includes(w)) {
      prefixed = true
      rest.shift()
    } else {
      break
    }
  }
  const [first, ...tail] = rest
  // No command: what a bare `ctrsnap` does (the help).
  if (first === undefined) return {argv: []}
  if (first === '-v' || first === '--version') return {argv: ['version', '--short']}
  // `help` takes no --root; everything else gets the leading flags after its name.
  if (first === 'help') return {argv: rest}
  return {argv: [first, ...lead, ...tail]}
}
