/**
 * `root` (a normal string) joined with a path relative to it kept as latin1:
 * one char per byte, so a layer's names that are not UTF-8 reach the file
 * system as the exact bytes they were (src/core/layer/tar.ts keeps names so).
 */
export function enc(root: string, rel: string): Buffer {
  return rel === '' ? Buffer.from(root) : Buffer.concat([Buffer.from(root), Buffer.from(`/${rel}`, 'latin1')])
}
