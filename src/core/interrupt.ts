import os from 'node:os'
import {InterruptedError} from './errors.js'

/**
 * SIGINT and SIGTERM, for every command (the CLI calls trapInterrupts()).
 *
 * While no work that can be rolled back is under way, a signal ends the
 * process at once, as it would untrapped (held locks are released by their
 * exit hook). During such work (a store write holding the lock, an unpack, a
 * diff: see interruptible()) it aborts `interruption` instead: the programs
 * ctrsnap runs are killed (exec.ts), work stops at its next check, the usual
 * failure paths roll back what was not yet persisted, and the InterruptedError
 * that comes out exits 128 + the signal's number (130, 143). Rollbacks
 * themselves never check, so they run to the end. A second signal ends the
 * process at once, whatever is under way.
 */
const ctl = new AbortController()

/** Aborted at the first trapped signal, with the InterruptedError as its reason. */
export const interruption: AbortSignal = ctl.signal

let busy = 0
let trapped = false

export function exitCodeOfSignal(signal: 'SIGINT' | 'SIGTERM'): number {
  return 128 + os.constants.signals[signal]
}

export function trapInterrupts(): void {
  if (trapped) return
  trapped = true
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, never removed: signal-exit (proper-lockfile) re-raises a signal when its own listener is the only one.
    process.on(signal, () => {
      if (busy === 0 || ctl.signal.aborted) process.exit(exitCodeOfSignal(signal))
      ctl.abort(new InterruptedError(signal))
    })
  }
}

/** The interrupt received, if any. */
export function interrupted(): InterruptedError | undefined {
  return ctl.signal.aborted ? (ctl.signal.reason as InterruptedError) : undefined
}

/** Throw the interrupt, if one came: call where work can still stop and be rolled back. */
export function checkInterrupt(): void {
  const e = interrupted()
  if (e) throw e
}

/** Run `fn` as work a signal stops and rolls back, rather than ending the process under it. */
export async function interruptible<T>(fn: () => Promise<T>): Promise<T> {
  busy++
  try {
    return await fn()
  } finally {
    busy--
  }
}
