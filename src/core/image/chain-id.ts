import {createHash} from 'node:crypto'
import type {Digest} from './digest.js'

/**
 * image-spec identity: ChainID(L0) = DiffID(L0),
 * ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n)). One per layer, bottom first.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = []
  for (const diffId of diffIds) {
    const prev = out[out.length - 1]
    out.push(prev === undefined ? diffId : (`sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}` as Digest))
  }
  return out
}
