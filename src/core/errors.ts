// Typed domain errors, after containerd's errdefs. The class decides the exit
// code (src/cli/exit-codes.ts); the message is what the user reads.

export type ErrorKind =
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'invalid-argument'
  | 'external-command'
  | 'unavailable'
  | 'corrupt'
  | 'interrupted'

export class SnapshotError extends Error {
  constructor(readonly kind: ErrorKind, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'SnapshotError'
  }
}

export class NotFoundError extends SnapshotError {
  constructor(message: string) { super('not-found', message) }
}

export class AlreadyExistsError extends SnapshotError {
  constructor(message: string) { super('already-exists', message) }
}

export class FailedPreconditionError extends SnapshotError {
  constructor(message: string) { super('failed-precondition', message) }
}

export class InvalidArgumentError extends SnapshotError {
  constructor(message: string) { super('invalid-argument', message) }
}

/** A tool we shell out to (mount, tar, cp) failed; stderr is kept for the message. */
export class ExternalCommandError extends SnapshotError {
  constructor(readonly command: string, readonly args: readonly string[], readonly stderr: string, exitCode?: number) {
    const detail = stderr.trim().split('\n').map(l => l.trim()).filter(Boolean).join('; ')
    super('external-command', `${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}${detail ? `: ${detail}` : ''}`)
  }
}

/** The store cannot be used right now: locked by another process, unreadable, no space. */
export class UnavailableError extends SnapshotError {
  constructor(message: string, options?: {cause?: unknown}) { super('unavailable', message, options) }
}

/** The metadata file is not a ctrsnap database, or is newer than this code. */
export class CorruptStoreError extends SnapshotError {
  constructor(message: string, options?: {cause?: unknown}) { super('corrupt', message, options) }
}

/**
 * The process got SIGINT or SIGTERM (src/core/interrupt.ts) and stopped what
 * it was doing, rolling back what was not yet persisted. Exits 128 + the
 * signal's number, as a shell reports a process the signal killed.
 */
export class InterruptedError extends SnapshotError {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM', message = `interrupted by ${signal}`) {
    super('interrupted', message)
  }
}

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof SnapshotError && err.kind === kind
}
