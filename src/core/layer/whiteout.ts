import {InvalidArgumentError} from '../errors.js'

// OCI image-spec whiteouts: `.wh.NAME` deletes NAME from the lower layers,
// `.wh..wh..opq` hides everything the lower layers have in its directory.
export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE = '.wh..wh..opq'
/** What overlayfs reads as "this directory hides its lower layers". */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque'

export type WhiteoutKind = {kind: 'none'} | {kind: 'opaque'} | {kind: 'whiteout'; target: string}

const show = (s: string): string => JSON.stringify(Buffer.from(s, 'latin1').toString('utf8'))

/**
 * What the base name of an entry means. Names that would make a whiteout
 * reach outside its own directory (`.wh.`, `.wh..`, `.wh...`) or that use the
 * reserved `.wh..wh.` prefix for anything but the opaque marker are refused.
 */
export function whiteoutOf(base: string, fullName: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return {kind: 'none'}
  if (base === OPAQUE) return {kind: 'opaque'}
  const target = base.slice(WHITEOUT_PREFIX.length)
  if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT_PREFIX)) {
    throw new InvalidArgumentError(`invalid layer tar: invalid whiteout name ${show(fullName)}`)
  }
  return {kind: 'whiteout', target}
}

/**
 * A layer member name as a clean relative path ('' for the root): `./` and
 * repeated or trailing slashes go; absolute names, `..` components and NUL
 * bytes are refused, as are directories named like whiteouts.
 */
export function cleanName(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw new InvalidArgumentError(`invalid layer tar: ${what} name ${show(name)} contains a NUL byte`)
  if (name.startsWith('/')) throw new InvalidArgumentError(`invalid layer tar: ${what} ${show(name)} is an absolute path`)
  const parts = name.split('/').filter(p => p !== '' && p !== '.')
  if (parts.includes('..')) throw new InvalidArgumentError(`invalid layer tar: ${what} ${show(name)} climbs out with ".."`)
  for (let i = 0; i < parts.length - 1; i++) {
    if (parts[i]!.startsWith(WHITEOUT_PREFIX)) throw new InvalidArgumentError(`invalid layer tar: invalid whiteout name ${show(name)} (a whiteout used as a directory)`)
  }
  return parts.join('/')
}

export function showName(s: string): string {
  return show(s)
}
