import fs from 'node:fs'
import path from 'node:path'
import type {BindParams, Database, SqlJsStatic, SqlValue} from 'sql.js'
import {makeDirs} from '../dirs.js'
import {CorruptStoreError, errnoText, InvalidArgumentError, SnapshotError, UnavailableError} from '../errors.js'
import {writeFileAtomic} from './atomic-file.js'
import {acquireLock, type Lock} from './lock.js'
import {checkInterrupt, interruptible} from '../interrupt.js'
import {migrate} from './schema.js'
import {loadSqlJs} from './sqljs.js'

export const DB_FILE = 'metadata.db'

/** A thin typed wrapper over one in-memory sql.js database. */
export class Db {
  #raw: Database | undefined

  /** With `reopen`, the database may be closed by release() and is opened again on next use. */
  constructor(raw: Database, private readonly reopen?: () => Database) {
    this.#raw = raw
  }

  get raw(): Database {
    if (!this.#raw) {
      this.#raw = this.reopen!()
      trackRead(this)
    }
    return this.#raw
  }

  /** Close the database if it can be reopened: sql.js frees nothing on its own. */
  release(): void {
    openReads.delete(this)
    if (!this.reopen || !this.#raw) return
    this.#raw.close()
    this.#raw = undefined
  }

  all<T>(sql: string, params: BindParams = []): T[] {
    const stmt = this.raw.prepare(sql)
    try {
      stmt.bind(params)
      const rows: T[] = []
      while (stmt.step()) rows.push(stmt.getAsObject() as T)
      return rows
    } finally {
      stmt.free()
    }
  }

  get<T>(sql: string, params: BindParams = []): T | undefined {
    return this.all<T>(sql, params)[0]
  }

  /** Rows as arrays: cheaper than objects for large scans. */
  values(sql: string, params: BindParams = []): SqlValue[][] {
    const stmt = this.raw.prepare(sql)
    try {
      stmt.bind(params)
      const rows: SqlValue[][] = []
      while (stmt.step()) rows.push(stmt.get())
      return rows
    } finally {
      stmt.free()
    }
  }

  run(sql: string, params: BindParams = []): void {
    this.raw.run(sql, params)
  }

  lastInsertId(): number {
    return Number(this.raw.exec('SELECT last_insert_rowid()')[0]!.values[0]![0])
  }
}

export interface WriteTx {
  db: Db
  /**
   * Persist the changes made so far, durably, while still holding the lock.
   * Disk work that must follow the metadata (removal) goes after this call;
   * disk work that must precede it (creation) goes before.
   */
  commit(): void
  /**
   * Throw unless the lock is still this process's, with a margin: call it
   * before disk work that would harm another writer should a stalled holder
   * have lost the lock (deleting a directory its ids claim as an orphan).
   */
  assertHeld(): void
  /**
   * Only inside atomically() (`batch --atomic`), where commit() marks a point
   * and the batch commits once at its end: disk work that must follow a
   * durable commit (deleting a removed snapshot's directory) is queued here and
   * runs after that commit, still under the lock...
   */
  afterCommit?: (fn: () => Promise<void> | void) => void
  /** ...and disk work done before it (a created directory, a mount) registers its undo here, run if the batch rolls back. */
  onRollback?: (fn: () => Promise<void> | void) => void
}

function storeError(action: string, file: string, err: unknown): SnapshotError {
  if (err instanceof SnapshotError) return err
  return new UnavailableError(`cannot ${action} ${file}: ${errnoText(err)}`, {cause: err})
}

/** Serialise the database and replace `file` with it atomically and durably. */
function persist(raw: Database, file: string): void {
  let data: Uint8Array
  try {
    data = raw.export()
  } catch (err) {
    throw storeError('serialise', file, err)
  }
  try {
    writeFileAtomic(file, data)
  } catch (err) {
    throw storeError('write', file, err)
  }
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * Refuse what SQLite would misread: an empty file opens as an empty database
 * (and a later cleanup would then judge every snapshot directory an orphan),
 * and a truncated one may open fine and fail only in a later query.
 */
function checkHeader(buf: Buffer, file: string): void {
  const notOurs = (why: string) => new CorruptStoreError(`${file}: not a ctrsnap metadata database (${why}); move it aside to start an empty store`)
  if (buf.length === 0) throw notOurs('the file is empty')
  if (buf.length < 100 || !buf.subarray(0, 16).equals(MAGIC)) throw notOurs('no SQLite header')
  const raw = buf.readUInt16BE(16)
  const pageSize = raw === 1 ? 65_536 : raw
  // The page count at 28 is valid only when the change counter at 24 matches "version-valid-for" at 92.
  if (buf.readUInt32BE(24) === buf.readUInt32BE(92)) {
    const expected = pageSize * buf.readUInt32BE(28)
    if (buf.length < expected) throw notOurs(`truncated: ${buf.length} of ${expected} bytes`)
  }
}

async function load(file: string): Promise<{db: Database; buf: Buffer | undefined}> {
  let buf: Buffer | undefined
  try {
    buf = fs.readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('read', file, err)
  }
  if (buf !== undefined) checkHeader(buf, file)
  return {db: open(await loadSqlJs(), buf, file), buf}
}

function open(SQL: SqlJsStatic, buf: Buffer | undefined, file: string): Database {
  let db: Database
  try {
    db = new SQL.Database(buf)
  } catch (err) {
    // sql.js's own file system failing (such as its 4096 open files) is no fault of the file.
    if ((err as Error).name === 'ErrnoError') throw new Error(`sql.js could not open ${file} (its in-memory file system failed)`, {cause: err})
    throw new CorruptStoreError(`${file}: not a ctrsnap metadata database (${(err as Error).message})`, {cause: err})
  }
  try {
    migrate(db, file)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/**
 * Callers of read() never close what they get, and every open sql.js database
 * holds a copy of the file and one of sql.js's 4096 file descriptors: a
 * long-lived process failed on its 4097th read. So a read's database is closed
 * once the current task is over (callers query right after the await), or
 * sooner when more than MAX_OPEN_READS are open (a loop of reads that never
 * yields to the event loop), and is reopened from the same bytes if used again.
 */
const MAX_OPEN_READS = 8
const openReads = new Set<Db>()

let releaseScheduled = false

function trackRead(db: Db): void {
  openReads.add(db)
  for (const old of openReads) {
    if (openReads.size <= MAX_OPEN_READS) break
    old.release()
  }
  // One pending callback for all, holding no Db: a closure per read would keep every read's bytes alive.
  if (!releaseScheduled) {
    releaseScheduled = true
    setImmediate(() => {
      releaseScheduled = false
      for (const d of openReads) d.release()
    }).unref()
  }
}

/**
 * The metadata of one snapshotter root: `<dir>/metadata.db`, a SQLite file
 * held whole in memory by sql.js. Readers take no lock: writers replace the
 * file atomically, so a reader sees the old or the new state. A writer locks
 * before it loads, or concurrent read-modify-write cycles would lose updates.
 */
export class Metastore {
  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, DB_FILE)
  }

  /** A snapshot of the current state; a missing file reads as an empty store and creates nothing. */
  async read(): Promise<Db> {
    // Inside atomically(), the batch's own uncommitted state: later lines see earlier ones.
    if (scope?.joined?.file === this.file) return new Db(scope.joined.raw)
    const {db: raw, buf} = await load(this.file)
    const SQL = await loadSqlJs()
    const db = new Db(raw, () => open(SQL, buf, this.file))
    trackRead(db)
    return db
  }

  /**
   * Run `fn` under the root's lock on a fresh load of the file. Changes are
   * persisted when `fn` calls `tx.commit()` or returns; if `fn` throws before
   * committing, the file is left untouched.
   *
   * Only a write with `create` makes the store's directory. Any other write
   * on a store that does not exist runs `fn` on an empty store and creates
   * nothing: `unmount`, `rm`, `label` of what is not there fail as not found,
   * not as a directory that cannot be made.
   */
  async write<T>(fn: (tx: WriteTx) => Promise<T> | T, opts: {create?: boolean} = {}): Promise<T> {
    if (scope?.joined === undefined && !opts.create && !fs.existsSync(this.dir)) return this.writeNothing(fn)
    if (scope) return join(scope, this, fn, () => this.lockCreating())
    // Compile sql.js before taking the lock: its start-up blocks the event loop, which would delay the lock's first refresh.
    await loadSqlJs()
    const lock = await this.lockCreating()
    // A signal from here on stops the work and rolls it back (src/core/interrupt.ts); waiting for the lock, it ends the process.
    return interruptible(() => this.underLock(lock, fn))
  }

  /** Make the store's directory if missing, and lock it. */
  private async lockCreating(): Promise<Lock> {
    for (let attempt = 1; ; attempt++) {
      makeDirs(this.dir, 0o700)
      try {
        return await acquireLock(this.file)
      } catch (err) {
        // Another command that failed took its new, empty directory back between our finding and our locking it: once more.
        if (attempt === 2 || fs.existsSync(this.dir)) throw err
      }
    }
  }

  /** `fn` on an empty store that nothing may be written to. */
  private async writeNothing<T>(fn: (tx: WriteTx) => Promise<T> | T): Promise<T> {
    const {db: raw} = await load(this.file)
    const tx: WriteTx = {
      db: new Db(raw),
      commit: () => {
        throw new Error(`internal: a write without the create option to ${this.dir}, which does not exist`)
      },
      assertHeld: () => {},
    }
    try {
      const result = await fn(tx)
      tx.commit() // as a locked write's return commits
      return result
    } finally {
      raw.close()
    }
  }

  /** `fn` on a fresh load of the file under `lock`, which it releases. */
  private async underLock<T>(lock: Lock, fn: (tx: WriteTx) => Promise<T> | T): Promise<T> {
    try {
      const {db: raw} = await load(this.file)
      const db = new Db(raw)
      let committed = false
      const tx: WriteTx = {
        db,
        commit: () => {
          lock.assertHeld()
          persist(raw, this.file)
          committed = true
        },
        assertHeld: () => lock.assertHeld(),
      }
      try {
        const result = await fn(tx)
        if (!committed) tx.commit()
        return result
      } finally {
        raw.close()
      }
    } finally {
      await lock.release()
    }
  }
}

// ---- atomically(): one transaction for many writes (`ctrsnap batch --atomic`) ----

interface Joined {
  file: string
  lock: Lock
  raw: Database
  /** The joined writes, one at a time, as the lock orders them between processes. */
  queue: Promise<unknown>
  after: (() => Promise<void> | void)[]
  undo: (() => Promise<void> | void)[]
}

let scope: {joined?: Joined} | undefined

/** A write() inside atomically(): on the batch's locked database, inside a savepoint so a failed write takes back only its own changes. */
async function join<T>(s: {joined?: Joined}, store: Metastore, fn: (tx: WriteTx) => Promise<T> | T, lock: () => Promise<Lock>): Promise<T> {
  if (!s.joined) {
    const held = await lock()
    try {
      s.joined = {file: store.file, lock: held, raw: (await load(store.file)).db, queue: Promise.resolve(), after: [], undo: []}
    } catch (err) {
      await held.release()
      throw err
    }
  }
  const j = s.joined
  if (j.file !== store.file) throw new InvalidArgumentError(`an atomic batch works on one store: ${j.file} was written first, not ${store.file}`)
  const run = j.queue.then(async () => {
    const db = new Db(j.raw)
    db.run('SAVEPOINT w')
    const tx: WriteTx = {
      db,
      assertHeld: () => j.lock.assertHeld(),
      // A commit point inside the batch: what came before it stays if the write fails after it, as a persisted write would.
      commit: () => {
        db.run('RELEASE w')
        db.run('SAVEPOINT w')
      },
      afterCommit: f => { j.after.push(f) },
      onRollback: f => { j.undo.push(f) },
    }
    try {
      const result = await fn(tx)
      db.run('RELEASE w')
      return result
    } catch (err) {
      db.run('ROLLBACK TO w')
      db.run('RELEASE w')
      throw err
    }
  })
  j.queue = run.catch(() => {})
  return run
}

/**
 * Run `fn` with every Metastore.write() inside it joining one transaction on
 * one store: committed durably once `fn` returns, or, if it throws, not at all,
 * with the disk work of the writes undone (their onRollback hooks, newest
 * first). A kill before the commit leaves the file as it was and at worst
 * directories no record points to, which `cleanup` removes: the crash rule of
 * every creation.
 */
export async function atomically<T>(fn: () => Promise<T>): Promise<T> {
  if (scope) throw new Error('atomically() does not nest')
  const s: {joined?: Joined} = {}
  scope = s
  let result: T
  try {
    try {
      // A signal rolls the batch back rather than ending the process under it.
      result = await interruptible(async () => {
        const r = await fn()
        await s.joined?.queue
        checkInterrupt()
        return r
      })
      if (s.joined) {
        const j = s.joined
        j.lock.assertHeld()
        persist(j.raw, j.file)
      }
    } catch (err) {
      scope = undefined
      for (const undo of (s.joined?.undo ?? []).reverse()) {
        try {
          await undo()
        } catch {
          // left for cleanup, as a killed batch would leave it
        }
      }
      throw err
    }
    scope = undefined
    // Durable now: what had to wait for the commit. A failure here changes nothing of it.
    let failed: unknown
    for (const after of s.joined?.after ?? []) {
      try {
        await after()
      } catch (err) {
        failed ??= err
      }
    }
    if (failed !== undefined) throw failed
    return result
  } finally {
    scope = undefined
    if (s.joined) {
      s.joined.raw.close()
      await s.joined.lock.release()
    }
  }
}
