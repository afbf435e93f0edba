import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type {Writable} from 'node:stream'
import {ExternalCommandError} from './errors.js'
import {checkInterrupt, interrupted, interruption} from './interrupt.js'

const notInstalled = (command: string, args: readonly string[]): ExternalCommandError =>
  new ExternalCommandError(command, args, `${command} is not installed or not on PATH`)

const found = new Map<string, boolean>()

/** Whether `command` is an executable on PATH (checked once per process): picks pigz over gzip, finds getfattr. */
export function onPath(command: string): boolean {
  let hit = found.get(command)
  if (hit === undefined) {
    hit = (process.env.PATH ?? '/usr/bin:/bin').split(':').some(dir => {
      try {
        fs.accessSync(path.join(dir || '.', command), fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })
    found.set(command, hit)
  }
  return hit
}

export interface RunOptions {
  cwd?: string
  /**
   * Work a signal may stop (a copy): killed on interrupt, and not started after one.
   * Not for mount/umount, whose effect must be known to the code that runs them.
   */
  interruptible?: boolean
}

/**
 * The one place ctrsnap runs another program (mount, umount, cp, tar).
 * Failures become ExternalCommandError carrying the tool's own stderr.
 */
export async function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const {execa} = await import('execa')
  if (opts.interruptible) checkInterrupt()
  try {
    const result = await execa(command, args, {cwd: opts.cwd, stdin: 'ignore', env: {LC_ALL: 'C'}, ...(opts.interruptible ? {cancelSignal: interruption, killSignal: 'SIGKILL' as const} : {})})
    return result.stdout
  } catch (err) {
    const e = err as {code?: string; stderr?: string; exitCode?: number; shortMessage?: string}
    if (opts.interruptible) checkInterrupt()
    if (e.code === 'ENOENT') throw notInstalled(command, args)
    throw new ExternalCommandError(command, args, e.stderr || e.shortMessage || String(err), e.exitCode)
  }
}

// Streaming counterpart of run(): the layer code feeds a child's
// stdin from Node (tar -x) or reads its stdout (tar -c, compressors), which
// run() cannot do. Same error contract: the tool's stderr in an ExternalCommandError.

const MAX_STDERR = 64 * 1024

export interface Child {
  /** Write to the child's stdin, waiting for the pipe to drain; rejects if the child has gone. */
  write(buf: Buffer): Promise<void>
  end(): void
  stdout: NodeJS.ReadableStream | null
  /** For event-driven writers (streamInto, pauseUntilDrained); write() is the awaitable way. */
  stdin: Writable | null
  /** Resolves when it exits 0; otherwise rejects with its stderr. */
  done: Promise<void>
  kill(): void
}

export class ChildGone extends Error {
  constructor() {
    super('the program exited before reading all of its input')
  }
}

export function start(command: string, args: readonly string[], opts: {cwd?: string; stdout?: boolean; stdinFd?: number} = {}): Child {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    stdio: [opts.stdinFd ?? 'pipe', opts.stdout ? 'pipe' : 'ignore', 'pipe'],
    env: {...process.env, LC_ALL: 'C'},
  })
  // Node discards the stdout of a child that exits before anyone reads it; a
  // short-lived compressor can finish before its consumer starts. A 'readable'
  // listener marks the output as spoken for.
  child.stdout?.on('readable', () => {})
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < MAX_STDERR) stderr += d
  })
  let gone = false
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', err => {
      gone = true
      const e = err as NodeJS.ErrnoException
      reject(e.code === 'ENOENT' ? notInstalled(command, args) : new ExternalCommandError(command, args, String(err)))
    })
    child.on('close', code => {
      gone = true
      resolve(code)
    })
  })
  // Streaming children (tar, compressors, getfattr) are all work a signal stops.
  const onInterrupt = (): void => void child.kill('SIGKILL')
  interruption.addEventListener('abort', onInterrupt, {once: true})
  void exited.finally(() => interruption.removeEventListener('abort', onInterrupt)).catch(() => {})
  const done = exited.then(code => {
    const i = interrupted()
    if (code !== 0 && i) throw i
    if (code !== 0) throw new ExternalCommandError(command, args, stderr || (code === null ? 'killed by a signal' : ''), code ?? undefined)
  })
  done.catch(() => {})
  child.stdin?.on('error', () => {
    gone = true
  })
  return {
    stdout: child.stdout,
    stdin: child.stdin,
    done,
    kill: () => {
      if (!gone) child.kill('SIGKILL')
    },
    end: () => child.stdin?.end(),
    write: async buf => {
      if (gone || !child.stdin || child.stdin.destroyed) throw new ChildGone()
      if (!child.stdin.write(buf)) {
        await new Promise<void>((resolve, reject) => {
          const onDrain = (): void => {
            child.off('close', onClose)
            resolve()
          }
          const onClose = (): void => {
            child.stdin!.off('drain', onDrain)
            reject(new ChildGone())
          }
          child.stdin!.once('drain', onDrain)
          child.once('close', onClose)
        })
      }
    },
  }
}

/** What streamInto does with each chunk: write what the child gets (possibly holding bytes back); return true to stop reading. */
export interface StreamFilter {
  chunk(chunk: Buffer, write: (b: Buffer) => void): boolean
  /** The input ended (not called after chunk() returned true). */
  end(write: (b: Buffer) => void): void
}

const passAll: StreamFilter = {
  chunk: (chunk, write) => (write(chunk), false),
  end: () => {},
}

/** Backpressure for event-driven copying: `src` stops until `sink` has drained, then goes on if `resumeIf()` still holds. */
export function pauseUntilDrained(src: NodeJS.ReadableStream, sink: NodeJS.WritableStream, resumeIf: () => boolean = () => true): void {
  src.pause()
  sink.once('drain', () => {
    if (resumeIf()) src.resume()
  })
}

/**
 * Run `command` with `input` fed to its stdin through `filter` (default: all
 * of it), driven by stream events with synchronous writes and pause/resume
 * for backpressure: no promise per chunk, which over a layer's thousands of
 * chunks was most of the cost of carrying it. If the filter throws, the child
 * is killed and the filter's error wins; if the child dies first, its own
 * error wins. On return the input is left paused, with whatever the filter
 * did not take still in it.
 */
export function streamInto(command: string, args: readonly string[], input: NodeJS.ReadableStream, filter: StreamFilter = passAll, opts: {cwd?: string} = {}): Promise<void> {
  const child = start(command, args, opts)
  const sink = child.stdin!
  return new Promise<void>((resolve, reject) => {
    let settled = false
    let closing = false
    const write = (b: Buffer): void => {
      if (b.length > 0) sink.write(b)
    }
    const detach = (): void => {
      input.off('data', onData)
      input.off('end', onEnd)
      input.off('error', fail)
      input.pause()
    }
    const settle = (err?: unknown): void => {
      if (settled) return
      settled = true
      detach()
      if (err === undefined) resolve()
      else reject(err)
    }
    function fail(err: unknown): void {
      if (settled) return
      detach()
      child.kill()
      child.done.catch(() => {}).finally(() => settle(err))
    }
    const close = (): void => {
      closing = true
      detach()
      child.end()
      child.done.then(() => settle(), settle)
    }
    function onData(data: Buffer | string): void {
      const chunk = typeof data === 'string' ? Buffer.from(data, 'latin1') : data
      let stop: boolean
      try {
        stop = filter.chunk(chunk, write)
      } catch (err) {
        return fail(err)
      }
      if (stop) return close()
      if (sink.writableNeedDrain) pauseUntilDrained(input, sink, () => !settled && !closing)
    }
    function onEnd(): void {
      try {
        filter.end(write)
      } catch (err) {
        return fail(err)
      }
      close()
    }
    // The child leaving before its input is done: its own error, else that it stopped reading.
    child.done.then(
      () => {
        if (!closing) fail(new ExternalCommandError(command, args, 'exited before reading all of its input'))
      },
      err => {
        if (!closing) fail(err)
        else settle(err)
      },
    )
    input.on('data', onData)
    input.once('end', onEnd)
    input.once('error', fail)
    input.resume()
  })
}
