import {describe, expect, it} from 'vitest'
import {InvalidArgumentError} from '../../src/core/errors.js'
import {compileFilters, parseFilter} from '../../src/core/filters.js'
import type {Info} from '../../src/core/snapshotter.js'

const T = '2026-01-01T00:00:00Z'
const snap = (name: string, kind: Info['kind'], parent = '', labels: Record<string, string> = {}): Info => ({name, kind, parent, labels, created: T, updated: T})

const SNAPS: Info[] = [
  snap('base', 'Committed', '', {team: 'infra', 'containerd.io/gc.root': 'x', 'a.b': 'dotted'}),
  snap('app', 'Committed', 'base', {team: 'web', 'more complex label': 'yes'}),
  snap('work', 'Active', 'app', {team: ''}),
  snap('work-2', 'Active', 'base'),
  snap('ro', 'View', 'app', {'q"uote': 'v,1'}),
]

const names = (exprs: string[]): string[] => SNAPS.filter(compileFilters(exprs)).map(s => s.name)

// Good expressions: what each one selects from SNAPS.
const GOOD: [string[], string[]][] = [
  [[], ['base', 'app', 'work', 'work-2', 'ro']],
  [[''], ['base', 'app', 'work', 'work-2', 'ro']],
  [['kind==active'], ['work', 'work-2']],
  [['kind==committed'], ['base', 'app']],
  [['kind==view'], ['ro']],
  [['kind==Active'], ['work', 'work-2']], // any case: the table prints Active
  [['kind!=COMMITTED'], ['work', 'work-2', 'ro']],
  [['kind~=^Act'], ['work', 'work-2']],
  [['kind!=active'], ['base', 'app', 'ro']],
  [['parent==app'], ['work', 'ro']],
  [['parent==base,kind==active'], ['work-2']],
  [['parent'], ['base', 'app', 'work', 'work-2', 'ro']], // containerd: parent is always present
  [['parent==""'], ['base']],
  [['name~=^work'], ['work', 'work-2']],
  [['name~=/^w.*2$/'], ['work-2']],
  [['name~=|^ro?$|'], ['ro']],
  [['name~=/^(base|ro)$/'], ['base', 'ro']],
  [['name~="o"'], ['work', 'work-2', 'ro']],
  [['name~=(?i)^BASE$'], ['base']],
  [['name==base'], ['base']],
  [['name!=base'], ['app', 'work', 'work-2', 'ro']],
  [['labels.team'], ['base', 'app', 'work']], // present, even with an empty value
  [['labels.team==infra'], ['base']],
  [['labels."team"==web'], ['app']],
  [['labels.team!=infra'], ['app', 'work', 'work-2', 'ro']], // absent reads as ""
  [['labels.team!=""'], ['base', 'app']],
  [['labels.team~=^$'], ['work', 'work-2', 'ro']],
  [['labels."containerd.io/gc.root"'], ['base']],
  [['labels.a.b==dotted'], ['base']], // path joined by dots, as containerd does
  [['labels."more complex label"==yes'], ['app']],
  [['labels."q\\"uote"=="v,1"'], ['ro']],
  [['labels."q\\x22uote"=="v\\u002c1"'], ['ro']],
  [['kind==active', 'kind==view'], ['work', 'work-2', 'ro']], // repeated flags: OR
  [['kind==active,name==work', 'name==base'], ['base', 'work']],
  [[' kind == active , parent == base '], ['work-2']], // whitespace around tokens
  [['name==work-2'], ['work-2']],
  [['name==a=b'], []],
  [['labels.nope'], []],
  [['labels.nope==x'], []],
]

describe('filters: containerd syntax', () => {
  it.each(GOOD)('%j selects %j', (exprs, want) => {
    expect(names(exprs)).toEqual(want)
  })

  it('parses the parts containerd does', () => {
    expect(parseFilter('labels."a b".c=="x"')).toEqual([{fieldpath: ['labels', 'a b', 'c'], operator: '==', value: 'x'}])
    expect(parseFilter('name')).toEqual([{fieldpath: ['name'], operator: 'present', value: ''}])
    const [sel] = parseFilter('name~=/a\\/b/')
    expect(sel!.value).toBe('a/b')
    expect(sel!.re!.test('xa/by')).toBe(true)
  })
})

// Malformed expressions: the message names the input and the 1-based character position.
const BAD: [string, string][] = [
  ['kind=active', 'invalid filter "kind=active": expected an operator (==, != or ~=), found "=" at position 5'],
  ['kind===active', 'found "===" at position 5'],
  ['kind:active', 'expected an operator (==, != or ~=), found ":" at position 5'],
  ['kind==', 'expected a value or a "quoted" value, found end of filter at position 7'],
  ['kind==,name', 'found "," at position 7'],
  ['name==.x', 'found "." at position 7'],
  ['name==foo,', 'expected a field (name, parent, kind or labels.KEY), found end of filter at position 11'],
  [',name', 'expected a field (name, parent, kind or labels.KEY), found "," at position 1'],
  ['labels.', 'found end of filter at position 8'],
  ['labels', 'labels needs a key: labels.KEY or labels."KEY" at position 1'],
  ['labels.ns/key==v', 'expected an operator (==, != or ~=), found "/" at position 10'],
  ['labels.key==/value', '/…/ quotes are only for ~= values; use "…" at position 13'],
  ['labels.|foo|==x', 'found "|" at position 8'],
  ['name=="abc', 'quoted string "… not terminated at position 7'],
  ['name~=/abc', 'quoted string /… not terminated at position 7'],
  ['name=="a\\qb"', 'invalid escape \\q at position 9'],
  ['name=="\\x4"', 'invalid escape \\x4" at position 8'],
  ['name=="\\400"', 'octal escape above \\377 at position 8'],
  ['name=="\\/"', 'invalid escape \\/ at position 8'],
  ['nmae==x', 'unknown field "nmae" (fields: name, parent, kind or labels.KEY) at position 1'],
  ['name.first==x', 'name has no subfields at position 1'],
  ['kind==Running', 'unknown kind "Running" (kinds are active, view, committed) at position 7'],
  ['kind!=running', 'unknown kind "running"'],
  ['name~=(', 'invalid regular expression: /(/: Unterminated group at position 7'],
  ['name==a b', 'unexpected "b" (selectors are separated by commas) at position 9'],
  ['name=="a"b', 'unexpected "b" (selectors are separated by commas) at position 10'],
  ['née==x', 'expected an operator (==, != or ~=), found "é" at position 2'],
  ['name==x,,', 'found "," at position 9'],
]

describe('filters: malformed expressions', () => {
  it.each(BAD)('%j is refused', (expr, message) => {
    let err: unknown
    try {
      parseFilter(expr)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toContain(message)
    expect((err as Error).message).toMatch(new RegExp(`^invalid filter ${JSON.stringify(expr).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .* at position \\d+$`))
  })

  it('a bad filter among good ones fails before anything matches', () => {
    expect(() => compileFilters(['kind==active', 'kind=view'])).toThrow(/position 5/)
  })
})
