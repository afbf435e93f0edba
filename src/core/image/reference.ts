/**
 * Image references as docker normalises them, so that a short name selects
 * the image an archive stores under its full name and the other way round:
 * `example/app:v1` is `docker.io/example/app:v1`, `busybox` is
 * `docker.io/library/busybox:latest`. Facts from distribution/reference's
 * ParseNormalizedNamed: the first path component is a registry when it has a
 * `.` or a `:` or is `localhost`; otherwise the registry is docker.io, where a
 * one-component name lives under `library/`; index.docker.io is docker.io; a
 * reference without tag or digest means `:latest`.
 */
export function normalizeReference(ref: string): string | undefined {
  let rest = ref.trim()
  let digest = ''
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at)
    rest = rest.slice(0, at)
  }
  let tag = ''
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon)
    rest = rest.slice(0, colon)
  }
  if (rest === '' || tag === ':' || digest === '@' || /\s|\/\/|^\/|\/$/.test(rest)) return undefined
  const slash = rest.indexOf('/')
  const first = slash < 0 ? '' : rest.slice(0, slash)
  let domain = 'docker.io'
  let path = rest
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first === 'index.docker.io' ? 'docker.io' : first
    path = rest.slice(slash + 1)
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`
  if (!tag && !digest) tag = ':latest'
  return `${domain}/${path}${tag}${digest}`
}

/** Whether two references name the same image once normalised (or are the same string). */
export function sameReference(a: string, b: string): boolean {
  if (a === b) return true
  const na = normalizeReference(a)
  return na !== undefined && na === normalizeReference(b)
}
