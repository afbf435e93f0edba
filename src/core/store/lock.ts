import fs from 'node:fs'
import {errnoText, UnavailableError} from '../errors.js'
import {checkInterrupt} from '../interrupt.js'

export interface Lock {
  /**
   * Throws unless this process still holds the lock and will for a while yet:
   * call it synchronously right before persisting, so nothing runs in between.
   */
  assertHeld(): void
  release(): Promise<void>
}

function envMs(name: string, fallback: number): number {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : fallback
}

/** How long a writer waits for the lock before the store counts as unavailable. */
export const LOCK_WAIT_MS = envMs('CTRSNAP_LOCK_TIMEOUT_MS', 60_000)
// proper-lockfile refreshes no more often than once a second.
const MIN_REFRESH_MS = 1_000
/**
 * The shortest stale window CTRSNAP_LOCK_STALE_MS may set: three refreshes, so a
 * holder whose refresh lags by up to 2 s is not taken for dead, and one lagging
 * 1.25 s still writes (WRITE_MARGIN_MS); lags of 1.6 s were seen on a loaded
 * 2-core machine. Tests that kill writers use it to wait less.
 */
export const MIN_LOCK_STALE_MS = 3 * MIN_REFRESH_MS
/**
 * A lock whose mtime is older than this belongs to a dead process and is taken
 * over. The holder refreshes it every STALE/5 ms (at least 1 s) from a timer, so async work
 * (cp, tar) keeps it; only a blocked event loop lets it go stale.
 */
export const LOCK_STALE_MS = Math.max(envMs('CTRSNAP_LOCK_STALE_MS', 10_000), MIN_LOCK_STALE_MS)
const REFRESH_MS = Math.max(LOCK_STALE_MS / 5, MIN_REFRESH_MS)
const WRITE_MARGIN_MS = Math.min(2_000, LOCK_STALE_MS / 4)

/**
 * A cross-process lock on one snapshotter root: an atomic mkdir of
 * `<file>.lock` whose mtime is refreshed while held, so a lock left by a killed
 * process goes stale and is taken over (proper-lockfile).
 */
export async function acquireLock(file: string): Promise<Lock> {
  const {default: lockfile} = await import('proper-lockfile')
  const lockDir = `${file}.lock`
  let compromised: Error | undefined
  const started = Date.now()
  for (;;) {
    try {
      const release = await lockfile.lock(file, {
        realpath: false,
        stale: LOCK_STALE_MS,
        update: REFRESH_MS,
        retries: 0,
        onCompromised: err => { compromised = err },
      })
      // The directory's identity: a takeover removes it and makes a new one.
      const mine = identity(fs.statSync(lockDir, {bigint: true}))
      return {
        assertHeld() {
          if (compromised) throw new UnavailableError(`lost the lock on ${file}: ${compromised.message}; nothing was written`)
          // proper-lockfile only notices a takeover on its next timer tick, which a
          // blocked event loop (a long synchronous walk) delays: check the disk now.
          let st: fs.BigIntStats
          try {
            st = fs.statSync(lockDir, {bigint: true})
          } catch {
            throw new UnavailableError(`lost the lock on ${file}: ${lockDir} was removed; nothing was written`)
          }
          if (identity(st) !== mine) throw new UnavailableError(`lost the lock on ${file}: another process took it over as stale; nothing was written`)
          // Leave a margin of the stale window for the write itself, before anyone may
          // judge the lock stale. Not more: on a loaded machine a healthy holder's
          // refresh can lag seconds behind, and that is no reason to fail.
          const age = Date.now() - Number(st.mtimeMs)
          if (age > LOCK_STALE_MS - WRITE_MARGIN_MS) {
            throw new UnavailableError(`lost the lock on ${file}: not refreshed for ${(age / 1000).toFixed(1)}s (the process was blocked), so another process may take it over; nothing was written`)
          }
        },
        async release() {
          if (!compromised) await release().catch(() => {})
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new UnavailableError(`cannot lock ${file}: ${errnoText(err)}`, {cause: err})
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new UnavailableError(`${file} is locked by another ctrsnap process (waited ${(LOCK_WAIT_MS / 1000).toFixed(LOCK_WAIT_MS < 10_000 ? 1 : 0)}s; a lock left by a killed process is taken over after ${LOCK_STALE_MS / 1000}s)`)
      }
      checkInterrupt()
      await new Promise(r => setTimeout(r, 5 + Math.random() * 40))
    }
  }
}

function identity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`
}
