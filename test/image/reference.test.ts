import {describe, expect, it} from 'vitest'
import {normalizeReference, sameReference} from '../../src/core/image/reference.js'

describe('image references, normalised as docker does', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['example/app:v1', 'docker.io/example/app:v1'],
    ['docker.io/example/app:v1', 'docker.io/example/app:v1'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['ghcr.io/o/app', 'ghcr.io/o/app:latest'],
    ['localhost/app:1', 'localhost/app:1'],
    ['registry:5000/app', 'registry:5000/app:latest'],
    [`app@sha256:${'a'.repeat(64)}`, `docker.io/library/app@sha256:${'a'.repeat(64)}`],
  ])('%s is %s', (ref, full) => {
    expect(normalizeReference(ref)).toBe(full)
  })

  it('refuses what is no reference', () => {
    for (const bad of ['', ':v1', 'app:', '/app', 'a//b', 'a b']) expect(normalizeReference(bad), bad).toBeUndefined()
  })

  it('compares normalised names, never a tag against another', () => {
    expect(sameReference('example/app:v1', 'docker.io/example/app:v1')).toBe(true)
    expect(sameReference('busybox', 'library/busybox:latest')).toBe(true)
    expect(sameReference('busybox', 'busybox:1')).toBe(false)
    expect(sameReference('quay.io/app', 'app')).toBe(false)
  })
})
