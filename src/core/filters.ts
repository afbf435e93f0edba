import {InvalidArgumentError} from './errors.js'
import type {Info} from './snapshotter.js'

/**
 * containerd's filter language (containerd/filters), for snapshots:
 *
 *   filter    := selector ("," selector)*            every selector must match
 *   selector  := fieldpath [operator value]          no operator: the field is present
 *   fieldpath := field ("." field)*
 *   field     := [A-Za-z0-9_]+ | "double quoted"
 *   operator  := "==" | "!=" | "~="                  ~= is a regular expression search
 *   value     := [^\s,]+ (not starting with . , = ! ~) | "double quoted" | /slashed/ or |piped| (~= only)
 *
 * Quoted strings use Go's escapes (\n \t \\ \" \xHH \uHHHH \UHHHHHHHH \ooo).
 * Several filters (repeated --filter) match when any of them does.
 *
 * Fields are those of containerd's snapshot adaptor: name, parent, kind
 * (active, view, committed) and labels.KEY. Matching is containerd's: `!=`
 * and `~=` see an absent label as "", `parent` is present even when empty.
 * Where containerd would silently match nothing, we refuse instead: an
 * unknown field, a subfield of name/parent/kind, a bare `labels`, a kind that
 * does not exist (kinds match in any case: ctr prints "Active", containerd's
 * filter wants "active"), a regular
 * expression that does not compile. Whitespace around tokens is allowed.
 */

export type Operator = 'present' | '==' | '!=' | '~='

export interface Selector {
  fieldpath: string[]
  operator: Operator
  value: string
  /** Compiled once at parse time for `~=`. */
  re?: RegExp
}

/** Selectors that must all match (one --filter). */
export type Conjunction = Selector[]

export const KINDS = ['active', 'view', 'committed'] as const

const FIELDS = 'name, parent, kind or labels.KEY'

class Scanner {
  readonly chars: string[]
  pos = 0
  constructor(readonly input: string) {
    this.chars = [...input]
  }

  fail(at: number, msg: string): never {
    throw new InvalidArgumentError(`invalid filter ${JSON.stringify(this.input)}: ${msg} at position ${at + 1}`)
  }

  skipSpace(): void {
    while (this.pos < this.chars.length && /\s/u.test(this.chars[this.pos]!)) this.pos++
  }

  /** The next non-space character (undefined at the end), without consuming it. */
  peek(): string | undefined {
    this.skipSpace()
    return this.chars[this.pos]
  }

  run(pred: (c: string) => boolean): string {
    const start = this.pos
    while (this.pos < this.chars.length && pred(this.chars[this.pos]!)) this.pos++
    return this.chars.slice(start, this.pos).join('')
  }

  /** A quoted string starting at the current position; Go's escapes, `q` escapable as \q. */
  quoted(): string {
    const start = this.pos
    const q = this.chars[this.pos++]!
    let out = ''
    for (;;) {
      const c = this.chars[this.pos]
      if (c === undefined || c === '\n') this.fail(start, `quoted string ${q}… not terminated`)
      this.pos++
      if (c === q) return out
      if (c !== '\\') {
        out += c
        continue
      }
      out += this.escape(this.pos - 1, q)
    }
  }

  private escape(at: number, q: string): string {
    const c = this.chars[this.pos++]
    const simple: Record<string, string> = {a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\'}
    if (c === undefined) this.fail(at, 'quoted string not terminated')
    if (c in simple) return simple[c]!
    if (c === q) return q
    const digits = (n: number, base: number): number => {
      const s = this.chars.slice(this.pos, this.pos + n).join('')
      const re = base === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/
      if (s.length < n || !re.test(s)) this.fail(at, `invalid escape \\${c}${s}`)
      this.pos += n
      return parseInt(s, base)
    }
    let code: number
    if (c >= '0' && c <= '7') {
      this.pos--
      code = digits(3, 8)
      if (code > 255) this.fail(at, 'octal escape above \\377')
    } else if (c === 'x') code = digits(2, 16)
    else if (c === 'u') code = digits(4, 16)
    else if (c === 'U') code = digits(8, 16)
    else this.fail(at, `invalid escape \\${c}`)
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(at, 'escape is not a valid code point')
    return String.fromCodePoint(code)
  }
}

const isFieldChar = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c)
const isOperatorChar = (c: string): boolean => c === '=' || c === '!' || c === '~'
const isValueChar = (c: string): boolean => c !== ',' && !/[\s\p{Cc}]/u.test(c)

/** Parse one filter (one --filter value). The empty string matches everything. */
export function parseFilter(input: string): Conjunction {
  const s = new Scanner(input)
  if (s.peek() === undefined) return []
  const selectors: Conjunction = [selector(s)]
  for (;;) {
    const c = s.peek()
    if (c === undefined) return selectors
    if (c !== ',') s.fail(s.pos, `unexpected ${JSON.stringify(c)} (selectors are separated by commas)`)
    s.pos++
    selectors.push(selector(s))
  }
}

function selector(s: Scanner): Selector {
  s.peek()
  const fieldAt = s.pos
  const fieldpath = [field(s)]
  while (s.peek() === '.') {
    s.pos++
    fieldpath.push(field(s))
  }
  const next = s.peek()
  if (next === undefined || next === ',') {
    checkFieldpath(s, fieldpath, fieldAt)
    return {fieldpath, operator: 'present', value: ''}
  }

  const opAt = s.pos
  const op = isOperatorChar(next) ? s.run(isOperatorChar) : ''
  if (op !== '==' && op !== '!=' && op !== '~=') {
    s.fail(opAt, `expected an operator (==, != or ~=), found ${op ? JSON.stringify(op) : describe(next)}`)
  }
  checkFieldpath(s, fieldpath, fieldAt)

  const c = s.peek()
  const valueAt = s.pos
  let value: string
  if (c === '"' || c === '/' || c === '|') {
    if (c !== '"' && op !== '~=') s.fail(valueAt, `${c}…${c} quotes are only for ~= values; use "…"`)
    value = s.quoted()
  } else if (c === undefined || c === ',' || c === '.' || isOperatorChar(c)) {
    s.fail(valueAt, `expected a value or a "quoted" value, found ${describe(c)}`)
  } else {
    value = s.run(isValueChar)
  }

  // Kinds in any case: the table prints `Active`, containerd's filter wants `active`.
  const kind = fieldpath[0] === 'kind'
  const sel: Selector = {fieldpath, operator: op, value: kind && op !== '~=' ? value.toLowerCase() : value}
  if (kind && op !== '~=' && !(KINDS as readonly string[]).includes(sel.value)) {
    s.fail(valueAt, `unknown kind ${JSON.stringify(value)} (kinds are ${KINDS.join(', ')})`)
  }
  if (op === '~=') sel.re = compileRegexp(s, value, valueAt, kind ? 'i' : '')
  return sel
}

function field(s: Scanner): string {
  const c = s.peek()
  if (c === '"') return s.quoted()
  if (c !== undefined && isFieldChar(c)) return s.run(isFieldChar)
  return s.fail(s.pos, `expected a field (${FIELDS}), found ${describe(c)}`)
}

function checkFieldpath(s: Scanner, path: string[], at: number): void {
  const [head] = path
  if (head === 'labels') {
    if (path.length === 1) s.fail(at, 'labels needs a key: labels.KEY or labels."KEY"')
    return
  }
  if (head !== 'name' && head !== 'parent' && head !== 'kind') s.fail(at, `unknown field ${JSON.stringify(head)} (fields: ${FIELDS})`)
  if (path.length > 1) s.fail(at, `${head} has no subfields`)
}

function describe(c: string | undefined): string {
  return c === undefined ? 'end of filter' : JSON.stringify(c)
}

/**
 * Go's RE2 syntax mostly reads the same in JavaScript; a leading (?flags)
 * group, common in Go, becomes JavaScript flags.
 */
function compileRegexp(s: Scanner, source: string, at: number, extra: string): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(source)
  try {
    return m ? new RegExp(source.slice(m[0].length), [...new Set(m[1]! + extra)].join('')) : new RegExp(source, extra)
  } catch (err) {
    return s.fail(at, `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`)
  }
}

/** The value of a field of a snapshot, as containerd's adaptor gives it; undefined when absent. */
function fieldValue(info: Info, path: readonly string[]): string | undefined {
  switch (path[0]) {
    case 'name':
      return info.name
    case 'parent':
      return info.parent
    case 'kind':
      return info.kind.toLowerCase()
    default: {
      const key = path.slice(1).join('.')
      return Object.hasOwn(info.labels, key) ? info.labels[key] : undefined
    }
  }
}

export function matchSelector(sel: Selector, info: Info): boolean {
  const v = fieldValue(info, sel.fieldpath)
  switch (sel.operator) {
    case 'present':
      return v !== undefined
    case '==':
      return v === sel.value
    case '!=':
      return (v ?? '') !== sel.value
    case '~=':
      return sel.re!.test(v ?? '')
  }
}

/**
 * A predicate for several filters (repeated --filter flags): true when any
 * filter has all its selectors match. No filters: everything matches.
 * Every filter is parsed first, so a malformed one fails before any output.
 */
export function compileFilters(exprs: readonly string[]): (info: Info) => boolean {
  const parsed = exprs.map(parseFilter)
  if (parsed.length === 0) return () => true
  return info => parsed.some(conj => conj.every(sel => matchSelector(sel, info)))
}
