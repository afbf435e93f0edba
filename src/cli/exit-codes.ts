import {ENVIRONMENT_ERRNOS, InterruptedError, isSystemError, SnapshotError, systemErrorText, type ErrorKind} from '../core/errors.js'
import {exitCodeOfSignal} from '../core/interrupt.js'
import {didYouMean} from './suggest.js'

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
  {code: 10, kind: 'unsupported-filesystem', meaning: 'the root is not on a file system the snapshotter can use: btrfs needs a btrfs file system'},
  {code: exitCodeOfSignal('SIGINT'), kind: 'interrupted', meaning: 'interrupted by SIGINT (Ctrl-C): what the command had not yet persisted was rolled back'},
  {code: exitCodeOfSignal('SIGTERM'), kind: 'interrupted', meaning: 'interrupted by SIGTERM (kill, timeout, a CI runner): what the command had not yet persisted was rolled back'},
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
  if (err instanceof InterruptedError) return {kind: err.kind, exitCode: exitCodeOfSignal(err.signal), message: oneLine(err.message)}
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

/**
 * oclif's parse errors in ctrsnap's voice: one lower-case line that names the
 * flag or argument. Every phrasing oclif's parser and validator produce is
 * rewritten here (test/cli/parse-errors.test.ts drives every command's flags
 * into each of them); anything unforeseen still comes out as one lower-case line.
 */
function parseMessage(e: ParseErrorShape): string {
  switch (e.constructor.name) {
    case 'RequiredArgsError':
      return `missing argument ${(e.args as {name: string}[]).map(a => a.name.toUpperCase()).join(' ')}`
    case 'UnexpectedArgsError':
      return `unexpected argument${(e.args ?? []).length > 1 ? 's' : ''}: ${(e.args as unknown[]).join(' ')}`
    case 'NonExistentFlagsError': {
      const given = e.flags ?? []
      const hint = given.length === 1 ? didYouMean(given[0]!.replace(/=.*/, ''), flagWords(e)) : ''
      return `unknown flag${given.length > 1 ? 's' : ''}: ${given.join(' ')}${hint}`
    }
    case 'FailedFlagValidationError':
    case 'ViolatedFlagConstraintError': {
      const reasons = (e as unknown as {failed?: {reason?: string}[]}).failed?.map(f => f.reason).filter((r): r is string => Boolean(r)) ?? []
      if (reasons.length > 0) return oneLine([...new Set(reasons.map(ourWords))].join('; '))
    }
    // falls through
    default: {
      // A flag value oclif's own parser refused: "Parsing --jobs \n\tExpected an integer ...".
      const parsing = /^Parsing (--\S+)\s*\n\s*(.+)/.exec(e.message)
      if (parsing) return oneLine(`${parsing[1]}: ${lowerFirst(parsing[2]!)}`)
      // oclif's messages may span lines ("See more help with --help"): keep the first meaningful one.
      return ourWords(oneLine(e.message.split('\n').filter(l => l.trim() && !l.includes('--help') && !/following errors? occurred/.test(l))[0] ?? e.message))
    }
  }
}

/** oclif's sentences, each as ctrsnap says it. */
const REWRITES: [RegExp, (...m: string[]) => string][] = [
  [/^Flag (--\S+) expects a value$/, f => `flag ${f} needs a value`],
  [/^Flag (--\S+) expects one of these values: (.*)$/, (f, o) => `flag ${f} needs a value: one of ${o}`],
  [/^Expected (--[^=\s]+)=(.*) to be one of: (.*)$/s, (f, v, o) => `invalid value ${JSON.stringify(v)} for ${f}: expected one of ${o}`],
  [/^Expected (.*) to be one of: (.*)$/s, (v, o) => `invalid argument ${JSON.stringify(v)}: expected one of ${o}`],
  [/^All of the following must be provided when using (--\S+): (.*)$/, (f, o) => `${f} needs ${o.split(', ').join(' and ')}`],
  [/^One of the following must be provided when using (--\S+): (.*)$/, (f, o) => `${f} needs one of ${o}`],
  [/^(--[^=\s]+)(?:=\S*)? cannot also be provided when using (--\S+)$/, (a, b) => `${b} and ${a} cannot be used together`],
  [/^Only the following can be provided when using (--\S+): (.*)$/, (f, o) => `${f} can only be used with ${o}`],
  [/^Exactly one of the following must be provided: (.*)$/, o => `exactly one of ${o} is needed`],
  [/^At least one of the following must be provided: (.*)$/, o => `at least one of ${o} is needed`],
]

function ourWords(reason: string): string {
  for (const [re, say] of REWRITES) {
    const m = re.exec(reason)
    if (m) return say(...m.slice(1))
  }
  return lowerFirst(reason)
}

function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s
}

/** The flags (long and short forms) of the command whose parse failed. */
function flagWords(e: ParseErrorShape): string[] {
  const flags = (e.parse as {input?: {flags?: Record<string, {char?: string; hidden?: boolean}>}} | undefined)?.input?.flags ?? {}
  return Object.entries(flags)
    .filter(([, f]) => !f.hidden)
    .flatMap(([name, f]) => [`--${name}`, ...(f.char ? [`-${f.char}`] : [])])
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim()
}
