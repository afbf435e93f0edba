import {describe, expect, it} from 'vitest'
import {goJson, goString, labelLine} from '../../src/cli/format/json.js'

// Expected bytes are Go 1.19's encoding/json output (the Go ctr 1.6 is built with),
// from json.Marshal / json.MarshalIndent(v, "", "    ") on the same values.
describe('goString: Go 1.19 encodeState.string with HTML escaping', () => {
  const cases: [string, string, string][] = [
    ['a backslash before b and f stays a backslash', 'C:\\bin\\foo', '"C:\\\\bin\\\\foo"'],
    ['\\b \\f and other control bytes as \\u00XX, \\t \\n \\r short, DEL raw', '\b\f\x00\x01\x1f\x7f\t\n\r', '"\\u0008\\u000c\\u0000\\u0001\\u001f\x7f\\t\\n\\r"'],
    ['< > & as \\u003c \\u003e \\u0026', '<>&', '"\\u003c\\u003e\\u0026"'],
    ['U+2028 and U+2029 escaped', '\u2028\u2029', '"\\u2028\\u2029"'],
    ['other non-ASCII raw, a real U+FFFD included', 'é😀\ufffd\u0080', '"é😀\ufffd\u0080"'],
    ['quotes and backslashes', '"q\\', '"\\"q\\\\"'],
    // Go: "a\xffb" -> "a\ufffdb"; a lone surrogate is a JS string's stand-in for such bytes.
    ['a lone surrogate as \\ufffd, as Go writes bytes that are not UTF-8', 'a\udcffb\ud800', '"a\\ufffdb\\ufffd"'],
  ]
  for (const [what, input, want] of cases) it(what, () => expect(goString(input)).toBe(want))
})

describe('goJson: MarshalIndent layout and Go key order', () => {
  it('struct fields in order, map keys bytewise (integer-like keys too), empty array and map compact, nil as null', () => {
    const value = {
      Kind: 'A',
      Labels: new Map(Object.entries({'9': 'b', '10': 'a', 'a': 'x', 'B': 'y', 'é': 'e', 'z': 'z'})),
      List: ['x', 'y'],
      Empty: [],
      Nil: null,
      M0: new Map(),
    }
    expect(goJson(value)).toBe('{\n    "Kind": "A",\n    "Labels": {\n        "10": "a",\n        "9": "b",\n        "B": "y",\n        "a": "x",\n        "z": "z",\n        "é": "e"\n    },\n    "List": [\n        "x",\n        "y"\n    ],\n    "Empty": [],\n    "Nil": null,\n    "M0": {}\n}')
  })

  it('keys are escaped like values', () => {
    expect(goJson(new Map([['<k>', 'v\\b']]))).toBe('{\n    "\\u003ck\\u003e": "v\\\\b"\n}')
  })
})

describe('labelLine', () => {
  it('sorts keys bytewise, integer-like keys included', () => {
    expect(labelLine({'9': 'b', 'a': 'x', '10': 'a'})).toBe('10=a,9=b,a=x')
  })
})
