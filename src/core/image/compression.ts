import {onPath, start, type Child} from '../exec.js'
import {MT} from './media-types.js'

/** The compressions a layer can have, for `diff` (which writes) and `unpack` (which reads). */
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const
export type Compression = (typeof COMPRESSIONS)[number]

/**
 * The one table: per compression, the OCI media type `diff` writes and the
 * programs that compress and decompress it as stream filters (through the
 * streaming runner in src/core/exec.ts). gzip is pigz when there is one
 * (parallel); `-n` leaves name and time out so equal trees give equal blobs.
 */
const CODECS: Record<Compression, {mediaType: string; compress?: () => [string, string[]]; decompress?: () => [string, string[]]}> = {
  none: {mediaType: MT.ociLayer},
  gzip: {
    mediaType: MT.ociLayerGzip,
    compress: () => [gzip(), ['-n', '-c', '-6']],
    decompress: () => [gzip(), ['-dc']],
  },
  zstd: {
    mediaType: MT.ociLayerZstd,
    compress: () => ['zstd', ['-q', '-c', '-3']],
    decompress: () => ['zstd', ['-dc', '-q']],
  },
}

const gzip = (): string => (onPath('pigz') ? 'pigz' : 'gzip')

/** The media type of a layer `diff` writes with this compression. */
export function layerMediaType(c: Compression): string {
  return CODECS[c].mediaType
}

/** The compressor as a running filter; undefined for `none`. */
export function compressor(c: Compression): Child | undefined {
  const cmd = CODECS[c].compress?.()
  return cmd && start(cmd[0], cmd[1], {stdout: true})
}

/** The decompressor as a running filter; undefined for an uncompressed layer. */
export function decompressor(c: Compression): Child | undefined {
  const cmd = CODECS[c].decompress?.()
  return cmd && start(cmd[0], cmd[1], {stdout: true})
}
