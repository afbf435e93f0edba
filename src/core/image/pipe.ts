import fs from 'node:fs'
import path from 'node:path'
import type {Readable, Writable} from 'node:stream'
import {ExternalCommandError} from '../errors.js'
import type {Compression} from './media-types.js'

/** A program running as a stream filter: write to stdin, read stdout; `done` settles when it exits. */
export interface Filter {
  command: string
  stdin: Writable
  stdout: Readable
  /** Resolves on exit 0; rejects with ExternalCommandError (its stderr) otherwise, unless it was killed by kill(). */
  done: Promise<void>
  kill(): void
}

const found = new Map<string, boolean>()

/** Whether `cmd` is an executable on PATH (checked once per process). */
export function onPath(cmd: string): boolean {
  let hit = found.get(cmd)
  if (hit === undefined) {
    hit = (process.env.PATH ?? '/usr/bin:/bin').split(':').some(dir => {
      try {
        fs.accessSync(path.join(dir || '.', cmd), fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })
    found.set(cmd, hit)
  }
  return hit
}

/**
 * The streaming counterpart of exec.ts's run(): one program, data through
 * stdin and stdout, stderr kept for the error message.
 */
export async function spawnFilter(command: string, args: readonly string[]): Promise<Filter> {
  const {execa} = await import('execa')
  let killed = false
  const sub = execa(command, args, {stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: {stdout: false, stderr: true}, env: {LC_ALL: 'C'}, maxBuffer: {stderr: 1 << 16}})
  // Our side of a pipe breaks whenever the program stops early; its exit status tells why.
  sub.stdin.on('error', () => {})
  const done = sub.then(
    () => undefined,
    (err: {code?: string; stderr?: string; exitCode?: number; shortMessage?: string}) => {
      if (killed) return
      if (err.code === 'ENOENT') throw new ExternalCommandError(command, args, `${command} is not installed or not on PATH`)
      throw new ExternalCommandError(command, args, err.stderr || err.shortMessage || String(err), err.exitCode)
    },
  )
  return {
    command,
    stdin: sub.stdin,
    stdout: sub.stdout,
    done,
    kill: () => {
      killed = true
      sub.kill()
    },
  }
}

/** `pigz -dc` (or `gzip -dc` without pigz) / `zstd -dc`; undefined for an uncompressed layer. */
export async function decompressor(c: Compression): Promise<Filter | undefined> {
  if (c === 'none') return undefined
  if (c === 'zstd') return spawnFilter('zstd', ['-dc', '-q'])
  return onPath('pigz') ? spawnFilter('pigz', ['-dc']) : spawnFilter('gzip', ['-dc'])
}
