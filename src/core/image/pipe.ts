import {onPath, start, type Child} from '../exec.js'
import type {Compression} from './media-types.js'

/**
 * `pigz -dc` (or `gzip -dc` without pigz) / `zstd -dc` as a stream filter,
 * through the streaming runner in src/core/exec.ts, which
 * gives a plain stdout stream (execa adds its own stream handling on top).
 * Undefined for an uncompressed layer.
 */
export function decompressor(c: Compression): Child | undefined {
  if (c === 'none') return undefined
  const child = c === 'zstd' ? start('zstd', ['-dc', '-q'], {stdout: true}) : onPath('pigz') ? start('pigz', ['-dc'], {stdout: true}) : start('gzip', ['-dc'], {stdout: true})
  return child
}
