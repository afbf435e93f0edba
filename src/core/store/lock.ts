import {UnavailableError} from '../errors.js'

export interface Lock {
  /** Throws when another process took the lock over as stale: the caller must not write. */
  assertHeld(): void
  release(): Promise<void>
}

/** How long a writer waits for the lock before the store counts as unavailable. */
export const LOCK_WAIT_MS = Number(process.env.CTRSNAP_LOCK_TIMEOUT_MS ?? 60_000)

/**
 * A cross-process lock on one snapshotter root: an atomic mkdir of
 * `<file>.lock` whose mtime is refreshed while held, so a lock left by a killed
 * process goes stale and is taken over (proper-lockfile).
 */
export async function acquireLock(file: string): Promise<Lock> {
  const {default: lockfile} = await import('proper-lockfile')
  let compromised: Error | undefined
  const started = Date.now()
  for (;;) {
    try {
      const release = await lockfile.lock(file, {
        realpath: false,
        stale: 10_000,
        update: 2_000,
        retries: 0,
        onCompromised: err => { compromised = err },
      })
      return {
        assertHeld() {
          if (compromised) throw new UnavailableError(`lost the lock on ${file}: ${compromised.message}`)
        },
        async release() {
          if (!compromised) await release().catch(() => {})
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new UnavailableError(`cannot lock ${file}: ${(err as Error).message}`, {cause: err})
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new UnavailableError(`${file} is locked by another ctrsnap process (waited ${Math.round(LOCK_WAIT_MS / 1000)}s)`)
      }
      await new Promise(r => setTimeout(r, 5 + Math.random() * 40))
    }
  }
}
