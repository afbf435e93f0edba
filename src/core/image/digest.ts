import {createHash} from 'node:crypto'
import {InvalidArgumentError} from '../errors.js'

/** `sha256:<64 lowercase hex>`: the only algorithm images here use (and the only one we can verify). */
export type Digest = string & {readonly __digest: unique symbol}

const SHA256 = /^sha256:[a-f0-9]{64}$/

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256.test(s)
}

/** Parse a digest from an image file or the command line; `what` names where it came from. */
export function parseDigest(s: unknown, what: string): Digest {
  if (isDigest(s)) return s
  const shown = typeof s === 'string' ? JSON.stringify(s.length > 80 ? s.slice(0, 80) + '...' : s) : String(s)
  throw new InvalidArgumentError(`${what}: ${shown} is not a sha256 digest (expected sha256: and 64 lowercase hex digits)`)
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest
}

/** The hex part, as used in `blobs/sha256/<hex>` paths. */
export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length)
}

/** A running sha256 with a byte count, fed while a stream passes through. */
export class Hasher {
  #hash = createHash('sha256')
  size = 0

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk)
    this.size += chunk.length
  }

  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}` as Digest
  }
}
