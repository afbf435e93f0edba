// Typed domain errors, after containerd's errdefs. The class decides the exit
// code (src/cli/exit-codes.ts); the message is what the user reads.

import {getSystemErrorMap} from 'node:util'

export type ErrorKind =
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'invalid-argument'
  | 'external-command'
  | 'unavailable'
  | 'corrupt'
  | 'interrupted'
  | 'unsupported-filesystem'

export class SnapshotError extends Error {
  constructor(readonly kind: ErrorKind, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'SnapshotError'
  }
}

export class NotFoundError extends SnapshotError {
  /** `inStore`: a lookup of a snapshot or mount in the store (which a mistyped --root would explain), not of a file or image. */
  constructor(message: string, readonly inStore = false) { super('not-found', message) }
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

/** The root is not on a file system the snapshotter needs (btrfs on anything but btrfs): never a silent fallback. */
export class UnsupportedFilesystemError extends SnapshotError {
  constructor(message: string) { super('unsupported-filesystem', message) }
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

/** An error the operating system reported for a system call (Node's fs and child errors), as opposed to a bug. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & {code: string; syscall: string} {
  const e = err as NodeJS.ErrnoException | undefined
  return typeof e?.code === 'string' && typeof e.syscall === 'string'
}

// libuv's table lacks a few codes Linux returns.
const EXTRA_ERRNO_TEXT: Record<string, string> = {EDQUOT: 'disk quota exceeded', ESTALE: 'stale file handle', EUCLEAN: 'structure needs cleaning'}
let errnoTexts: Map<string, string> | undefined

/**
 * The kernel's reason for a failed system call, from its code: "read-only
 * file system (EROFS)". Never parsed out of Node's message, which may name a
 * different errno than the kernel returned (recursive mkdir reports ENOENT for EROFS).
 */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined
  if (typeof e?.code !== 'string') return e?.message ?? String(err)
  errnoTexts ??= new Map([...getSystemErrorMap().values()].map(([code, text]) => [code, text]))
  const text = errnoTexts.get(e.code) ?? EXTRA_ERRNO_TEXT[e.code]
  return text ? `${text} (${e.code})` : (e.message || e.code)
}

/**
 * The one translation of a file-system error into the line the user reads:
 * `cannot ACTION PATH: read-only file system (EROFS)`, of kind `kind` (the
 * store or a path it needs is unusable: 'unavailable'). Anything that is not
 * a system error (a bug, or already a SnapshotError) is returned unchanged.
 */
export function fsError(action: string, file: string, err: unknown, kind: ErrorKind = 'unavailable'): unknown {
  if (err instanceof SnapshotError || !isSystemError(err)) return err
  return new SnapshotError(kind, `cannot ${action} ${file}: ${errnoText(err)}`, {cause: err})
}

/**
 * Codes that say the file system or a path refused (full, read-only, denied,
 * missing, not a directory, a symlink loop...), not that ctrsnap misused a call
 * (EBADF, EINVAL, EFAULT: bugs).
 */
export const ENVIRONMENT_ERRNOS: ReadonlySet<string> = new Set([
  'ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG',
  'EEXIST', 'ENOTEMPTY', 'EBUSY', 'EIO', 'EMFILE', 'ENFILE', 'EXDEV', 'EFBIG', 'ESTALE', 'EUCLEAN', 'ENOMEM', 'EPIPE',
])

/** A system error with no context added: `mkdir /x/y failed: read-only file system (EROFS)`. */
export function systemErrorText(err: NodeJS.ErrnoException & {syscall: string; dest?: string}): string {
  const where = err.path ? ` ${err.path}${err.dest ? ` to ${err.dest}` : ''}` : ''
  return `${err.syscall}${where} failed: ${errnoText(err)}`
}
