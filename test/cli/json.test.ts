import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EXIT_CODES} from '../../src/cli/exit-codes.js'
import {ctrsnap} from '../helpers/cli.js'
import {buildImage, ociLayoutFiles, writeFiles} from '../helpers/image.js'
import {canMount, tempRoot} from '../helpers/root.js'

const SCHEMAS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas')

type Schema = Record<string, unknown>

// A validator for the part of JSON Schema (2020-12) that schemas/ uses. A
// keyword it does not know is an error, so a schema cannot rely on a check
// that silently never runs.
const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs'])
const KNOWN = new Set([...ANNOTATIONS, '$ref', 'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'oneOf', 'minLength', 'minimum', 'maximum', 'pattern'])

function loadSchema(file: string): Schema {
  return JSON.parse(fs.readFileSync(path.join(SCHEMAS, file), 'utf8')) as Schema
}

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

/** Every violation, as `path: message`; [] when `value` is valid. */
function validate(value: unknown, schema: Schema, root: Schema, at = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} at ${at} is not supported by the test validator`)
  const errs: string[] = []
  if (typeof schema.$ref === 'string') {
    const [file, pointer] = schema.$ref.split('#') as [string, string | undefined]
    const base = file ? loadSchema(file) : root
    const target = pointer ? (pointer.split('/').slice(1).reduce<unknown>((s, p) => (s as Schema)[p], base) as Schema) : base
    if (!target) throw new Error(`unresolved $ref ${schema.$ref}`)
    errs.push(...validate(value, target, file ? base : root, at))
  }
  const t = typeOf(value)
  if (schema.type !== undefined) {
    const types = ([] as string[]).concat(schema.type as string | string[])
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [...errs, `${at}: ${t} is not ${types.join('|')}`]
  }
  if (schema.enum && !(schema.enum as unknown[]).some(e => e === value)) errs.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`)
  if ('const' in schema && schema.const !== value) errs.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`)
  if (t === 'string') {
    const s = value as string
    if (typeof schema.minLength === 'number' && [...s].length < schema.minLength) errs.push(`${at}: shorter than ${schema.minLength}`)
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(s)) errs.push(`${at}: ${JSON.stringify(s)} does not match ${schema.pattern}`)
  }
  if (t === 'integer' || t === 'number') {
    if (typeof schema.minimum === 'number' && (value as number) < schema.minimum) errs.push(`${at}: below ${schema.minimum}`)
    if (typeof schema.maximum === 'number' && (value as number) > schema.maximum) errs.push(`${at}: above ${schema.maximum}`)
  }
  if (t === 'object') {
    const obj = value as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, Schema>
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errs.push(`${at}: missing ${r}`)
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errs.push(...validate(v, props[k]!, root, `${at}.${k}`))
      else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property ${k}`)
      else if (typeof schema.additionalProperties === 'object') errs.push(...validate(v, schema.additionalProperties as Schema, root, `${at}.${k}`))
    }
  }
  if (t === 'array' && schema.items) (value as unknown[]).forEach((v, i) => errs.push(...validate(v, schema.items as Schema, root, `${at}[${i}]`)))
  if (schema.oneOf) {
    const passing = (schema.oneOf as Schema[]).filter(s => validate(value, s, root, at).length === 0).length
    if (passing !== 1) errs.push(`${at}: matches ${passing} of oneOf, not exactly 1`)
  }
  return errs
}

function check(doc: unknown, file: string): void {
  const schema = loadSchema(file)
  expect(validate(doc, schema, schema), `${file}: ${JSON.stringify(doc)}`).toEqual([])
}

/** Parse stdout as exactly one JSON document and check it against the command's schema. */
function checkOutput(r: {stdout: string; stderr: string; exitCode: number}, file: string): unknown {
  expect(r.stderr, r.stderr).toBe('')
  expect(r.exitCode).toBe(0)
  const doc = JSON.parse(r.stdout) as unknown
  check(doc, file)
  return doc
}

describe('the test validator', () => {
  // The checks below are only worth something if the validator rejects bad documents.
  const schema = loadSchema('ls.schema.json')
  const good = {name: 'a', parent: null, kind: 'Active', labels: {}, created: '2026-01-01T00:00:00.5Z', updated: '2026-01-01T00:00:00Z'}
  it.each([
    ['a non-array', {}, /object is not array/],
    ['a missing key', [{...good, labels: undefined}].map(o => JSON.parse(JSON.stringify(o))), /missing labels/],
    ['an extra key', [{...good, extra: 1}], /unexpected property extra/],
    ['a bad kind', [{...good, kind: 'active'}], /not in/],
    ['a non-string label', [{...good, labels: {a: 1}}], /\$\[0\]\.labels\.a: integer is not string/],
    ['a bad time', [{...good, created: '2026-01-01 00:00:00'}], /does not match/],
    ['an empty parent', [{...good, parent: ''}], /shorter than 1/],
  ])('rejects %s', (_what, doc, message) => {
    expect(validate(doc, schema, schema).join('\n')).toMatch(message)
  })

  it('accepts a good document, and oneOf picks exactly one branch', () => {
    expect(validate([good], schema, schema)).toEqual([])
    const usage = loadSchema('usage.schema.json')
    expect(validate([{name: 'a', size: 1, inodes: 1}, {name: null, total: true, size: 1, inodes: 1}], usage, usage)).toEqual([])
    expect(validate([{name: null, size: 1, inodes: 1}], usage, usage).join()).toMatch(/matches 0 of oneOf/)
  })

  it('every schema parses and uses only what the validator checks', () => {
    const files = fs.readdirSync(SCHEMAS).filter(f => f.endsWith('.schema.json'))
    expect(files.length).toBeGreaterThanOrEqual(13)
    for (const f of files) {
      const s = loadSchema(f)
      expect(s.$id).toBe(f)
      validate(null, s, s) // throws on an unknown keyword or an unresolved $ref
    }
  })

  it("the error schema's kinds and exit codes are the exit-code table's", () => {
    const e = (loadSchema('error.schema.json').properties as Record<string, Schema>).error!.properties as Record<string, Schema>
    expect([...(e.kind!.enum as string[])].sort()).toEqual([...new Set(EXIT_CODES.map(c => c.kind))].sort())
    expect([e.exitCode!.minimum, e.exitCode!.maximum]).toEqual([Math.min(...EXIT_CODES.map(c => c.code)), Math.max(...EXIT_CODES.map(c => c.code))])
  })
})

describe('--json output matches schemas/', () => {
  let root: ReturnType<typeof tempRoot>
  const o = (): {root: string} => ({root: root.dir})
  beforeAll(async () => {
    root = tempRoot()
    for (const args of [['prepare', 'a'], ['commit', 'base', 'a'], ['prepare', 'w', 'base'], ['view', 'v', 'base'], ['label', 'w', 'team=web', 'containerd.io/gc.root=x']]) {
      expect((await ctrsnap(args, o())).exitCode, args.join(' ')).toBe(0)
    }
  })
  afterAll(() => root.cleanup())

  it('ls', async () => {
    const all = checkOutput(await ctrsnap(['ls', '--json'], o()), 'ls.schema.json') as {name: string; parent: string | null}[]
    expect(all.map(s => [s.name, s.parent])).toEqual([['base', null], ['v', 'base'], ['w', 'base']])
    const some = checkOutput(await ctrsnap(['ls', '--json', '--filter', 'labels.team==web'], o()), 'ls.schema.json') as {name: string}[]
    expect(some.map(s => s.name)).toEqual(['w'])
    expect(checkOutput(await ctrsnap(['ls', '--json', '--filter', 'name==none'], o()), 'ls.schema.json')).toEqual([])
  })

  it('info', async () => {
    const w = checkOutput(await ctrsnap(['info', '--json', 'w'], o()), 'info.schema.json') as Record<string, unknown>
    expect(w).toMatchObject({name: 'w', parent: 'base', kind: 'Active', labels: {'containerd.io/gc.root': 'x', team: 'web'}})
    checkOutput(await ctrsnap(['info', '--json', 'base'], o()), 'info.schema.json')
  })

  it('label', async () => {
    expect(checkOutput(await ctrsnap(['label', '--json', 'v', 'x=1', 'y'], o()), 'label.schema.json')).toEqual({x: '1', y: 'true'})
    expect(checkOutput(await ctrsnap(['label', '--json', 'base'], o()), 'label.schema.json')).toEqual({})
  })

  it('usage, with and without --total', async () => {
    const rows = checkOutput(await ctrsnap(['usage', '--json'], o()), 'usage.schema.json') as {name: string}[]
    expect(rows.map(r => r.name)).toEqual(['base', 'v', 'w'])
    // A key given twice is listed twice and counted once.
    const withTotal = checkOutput(await ctrsnap(['usage', '--json', '--total', 'base', 'w', 'w'], o()), 'usage.schema.json') as {name: string | null; size: number; inodes: number}[]
    expect(withTotal.map(r => r.name)).toEqual(['base', 'w', 'w', null])
    expect(withTotal[0]!.size).toBeGreaterThan(0)
    expect(withTotal[1]!.size).toBeGreaterThan(0)
    expect(withTotal[3]).toEqual({name: null, total: true, size: withTotal[0]!.size + withTotal[1]!.size, inodes: withTotal[0]!.inodes + withTotal[1]!.inodes})
  })

  it('tree, with and without --usage', async () => {
    const plain = checkOutput(await ctrsnap(['tree', '--json'], o()), 'tree.schema.json') as {name: string; children: {name: string}[]}[]
    expect(plain.map(n => [n.name, n.children.map(c => c.name)])).toEqual([['base', ['v', 'w']]])
    const sized = checkOutput(await ctrsnap(['tree', '--json', '--usage'], o()), 'tree.schema.json') as {size: number}[]
    expect(typeof sized[0]!.size).toBe('number')
  })

  it('mounts', async () => {
    const m = checkOutput(await ctrsnap(['mounts', '--json', '/tmp/target', 'w'], o()), 'mounts.schema.json') as {type: string; target: string}[]
    expect(m.map(x => [x.type, x.target])).toEqual([['overlay', '/tmp/target']])
    checkOutput(await ctrsnap(['mounts', '--json', '/tmp/target', 'v'], o()), 'mounts.schema.json')
  })

  it('cleanup --dry-run and cleanup', async () => {
    fs.mkdirSync(path.join(root.dir, 'overlayfs/snapshots/999'))
    const plan = checkOutput(await ctrsnap(['cleanup', '--json', '--dry-run'], o()), 'cleanup.schema.json') as {action: string; path: string}[]
    expect(plan.some(i => i.action === 'would-remove' && i.path.endsWith('/999'))).toBe(true)
    const done = checkOutput(await ctrsnap(['cleanup', '--json'], o()), 'cleanup.schema.json') as {action: string}[]
    expect(done.some(i => i.action === 'removed')).toBe(true)
  })

  it.skipIf(!canMount)('unmount (needs root)', async () => {
    const target = path.join(root.dir, 'mnt')
    expect((await ctrsnap(['mounts', '--mount', target, 'w'], o())).exitCode).toBe(0)
    const r = checkOutput(await ctrsnap(['unmount', '--json', target], o()), 'unmount.schema.json')
    expect(r).toEqual([{target, key: 'w', wasMounted: true, removed: false}])
  })

  it('unpack and diff', async () => {
    const img = buildImage([{entries: [{name: 'etc', type: 'dir'}, {name: 'etc/os', content: 'base\n'}]}, {entries: [{name: 'app', content: 'app\n'}], compression: 'zstd'}])
    const layout = writeFiles(path.join(root.dir, 'image'), ociLayoutFiles([{image: img, tag: 'v1'}]))
    const layers = checkOutput(await ctrsnap(['unpack', '--json', layout], o()), 'unpack.schema.json') as {chainId: string; status: string}[]
    expect(layers.map(l => l.status)).toEqual(['extracted', 'extracted'])
    const again = checkOutput(await ctrsnap(['unpack', '--json', layout], o()), 'unpack.schema.json') as {status: string}[]
    expect(again.map(l => l.status)).toEqual(['reused', 'reused'])
    const out = path.join(root.dir, 'layer.tar.gz')
    const d = checkOutput(await ctrsnap(['diff', '--json', '-o', out, layers[1]!.chainId], o()), 'diff.schema.json') as {size: number}
    expect(d.size).toBe(fs.statSync(out).size)
  })

  it.each([
    [['info', '--json', 'nope'], 'not-found'],
    [['ls', '--json', '--filter', 'kind=active'], 'invalid-argument'],
    [['ls', '--json', '--bogus'], 'usage'],
    [['label', '--json'], 'usage'],
    [['usage', '--json', 'nope'], 'not-found'],
    [['tree', '--json', '--format', 'dot'], 'usage'],
    [['mounts', '--json', '/tmp/target', 'base'], 'failed-precondition'],
    [['label', '--json', 'w', '=x'], 'invalid-argument'],
  ])('errors: %j prints an error document with the exit code', async (args, kind) => {
    const r = await ctrsnap(args, o())
    const doc = JSON.parse(r.stdout) as {error: {kind: string; exitCode: number; message: string}}
    check(doc, 'error.schema.json')
    expect(doc.error.kind).toBe(kind)
    expect(r.exitCode).toBe(doc.error.exitCode)
    expect(r.exitCode).toBe(EXIT_CODES.find(c => c.kind === kind)!.code)
  })
})
