import fs from 'node:fs'
import path from 'node:path'
import {start, type Child} from '../exec.js'
import type {Compression} from './media-types.js'

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
 * `pigz -dc` (or `gzip -dc` without pigz) / `zstd -dc` as a stream filter,
 * through the streaming runner in src/core/exec.ts, which
 * gives a plain stdout stream (execa adds its own stream handling on top).
 * Undefined for an uncompressed layer.
 */
export function decompressor(c: Compression): Child | undefined {
  if (c === 'none') return undefined
  const child = c === 'zstd' ? start('zstd', ['-dc', '-q'], {stdout: true}) : onPath('pigz') ? start('pigz', ['-dc'], {stdout: true}) : start('gzip', ['-dc'], {stdout: true})
  // Node resumes (discards) a child's stdout that nobody listens to when the
  // child exits; a small layer's decompressor can exit before extraction
  // starts reading. A 'readable' listener marks the output as spoken for.
  child.stdout!.on('readable', () => {})
  return child
}
