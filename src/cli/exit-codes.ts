import {ENVIRONMENT_ERRNOS, isSystemError, SnapshotError, systemErrorText, type ErrorKind} from '../core/errors.js'

/**
 * The one table from error class to exit code. README and man pages are
 * generated from it; scripts may rely on it.
 */
export const EXIT_CODES: readonly {code: number; kind: ErrorKind | 'internal' | 'usage'; meaning: string}[] = [
  {code: 1, kind: 'internal', meaning: 'unexpected internal error (a bug; run with DEBUG=1 for the stack)'},
  {code: 2, kind: 'usage', meaning: 'usage error: wrong number of arguments, unknown command or flag, bad flag value'},
  {code: 3, kind: 'not-found', meaning: 'a snapshot or parent does not exist'},
  {code: 4, kind: 'already-exists', meaning: 'the key or name is already taken'},
  {code: 5, kind: 'failed-precondition', meaning: 'the snapshot is in the wrong state (commit of a non-active snapshot, removal of a parent, mounts of a committed snapshot)'},
  {code: 6, kind: 'invalid-argument', meaning: 'an invalid key, label or parent (such as a parent that is not committed)'},
  {code: 7, kind: 'external-command', meaning: 'a program ctrsnap runs (cp, mount, tar) failed; its stderr is in the message'},
  {code: 8, kind: 'unavailable', meaning: 'the store cannot be used now: locked by another process past the timeout, unreadable, or not writable'},
  {code: 9, kind: 'corrupt', meaning: 'metadata.db is not a ctrsnap database, or was written by a newer ctrsnap'},
]

export function exitCodeFor(kind: ErrorKind | 'internal' | 'usage'): number {
  return EXIT_CODES.find(e => e.kind === kind)!.code
}

export interface RenderedError {
  kind: ErrorKind | 'internal' | 'usage'
  exitCode: number
  message: string
}

interface ParseErrorShape {
  parse?: unknown
  args?: {name?: string}[] | unknown[]
  flags?: string[]
  message: string
  constructor: {name: string}
  oclif?: {exit?: number}
}

/** Classify anything thrown into the kind, exit code and one-line message the user sees. */
export function renderError(err: unknown): RenderedError {
  if (err instanceof SnapshotError) return {kind: err.kind, exitCode: exitCodeFor(err.kind), message: oneLine(err.message)}
  const e = err as ParseErrorShape
  if (e && typeof e === 'object' && ('parse' in e || e.oclif?.exit === 2)) {
    return {kind: 'usage', exitCode: exitCodeFor('usage'), message: parseMessage(e)}
  }
  if (isSystemError(err)) {
    // One the code did not put in context: still the kernel's reason in one line, never Node's raw text.
    const kind = ENVIRONMENT_ERRNOS.has(err.code) ? 'unavailable' : 'internal'
    return {kind, exitCode: exitCodeFor(kind), message: systemErrorText(err)}
  }
  const message = err instanceof Error ? err.message : String(err)
  return {kind: 'internal', exitCode: exitCodeFor('internal'), message: oneLine(message)}
}

function parseMessage(e: ParseErrorShape): string {
  switch (e.constructor.name) {
    case 'RequiredArgsError':
      return `missing argument ${(e.args as {name: string}[]).map(a => a.name.toUpperCase()).join(' ')}`
    case 'UnexpectedArgsError':
      return `unexpected argument${(e.args ?? []).length > 1 ? 's' : ''}: ${(e.args as unknown[]).join(' ')}`
    case 'NonExistentFlagsError':
      return `unknown flag${(e.flags ?? []).length > 1 ? 's' : ''}: ${(e.flags ?? []).join(' ')}`
    case 'FailedFlagValidationError':
    case 'ViolatedFlagConstraintError': {
      const reasons = (e as unknown as {failed?: {reason?: string}[]}).failed?.map(f => f.reason).filter(Boolean) ?? []
      if (reasons.length > 0) return oneLine(reasons.join('; '))
    }
    // falls through
    default: {
      // A flag value oclif's own parser refused: "Parsing --jobs \n\tExpected an integer ...".
      const parsing = /^Parsing (--\S+)\s*\n\s*(.+)/.exec(e.message)
      if (parsing) return oneLine(`${parsing[1]}: ${parsing[2]!.charAt(0).toLowerCase()}${parsing[2]!.slice(1)}`)
      // oclif's messages may span lines ("See more help with --help"): keep the first meaningful one.
      return oneLine(e.message.split('\n').filter(l => l.trim() && !l.includes('--help') && !/following errors? occurred/.test(l))[0] ?? e.message)
    }
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim()
}
