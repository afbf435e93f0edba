#!/usr/bin/env node
// Render hyperfine --export-json files (repeats of one set) as a markdown table:
// each command's median wall ms per repeat and its ratio to its own floor,
// measured in the same hyperfine run. LABELS: one per command, tab-separated,
// "ROW" for a floor or "ROW|FLOOR ROW" for a command measured against one.
// Usage: LABELS=... node table.mjs run1.json [run2.json ...]
import fs from 'node:fs'

const labels = process.env.LABELS.split('\t').map(l => l.split('|'))
const runs = process.argv.slice(2).map(f => JSON.parse(fs.readFileSync(f, 'utf8')).results)
const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
for (const [r, results] of runs.entries()) if (results.length !== labels.length) throw new Error(`run ${r + 1}: ${results.length} results for ${labels.length} labels`)
const med = (i, r) => median(runs[r][i].times)
const index = new Map(labels.map(([row], i) => [row, i]))
const reps = runs.map((_, r) => r + 1)
const fmt = x => (x >= 10 ? x.toFixed(0) : x.toFixed(1))
const head = ['command', ...reps.map(r => `median ms (run ${r})`), 'floor', ...reps.map(r => `× floor (run ${r})`), 'CPU ms (run 1)']
const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`]
labels.forEach(([row, floor], i) => {
  const f = floor === undefined ? undefined : index.get(floor)
  if (floor !== undefined && f === undefined) throw new Error(`no floor row "${floor}" for "${row}"`)
  lines.push(`| ${[
    floor === undefined ? `${row} (floor)` : row,
    ...reps.map(r => fmt(med(i, r - 1) * 1000)),
    floor ?? '',
    ...reps.map(r => (f === undefined ? '' : (med(i, r - 1) / med(f, r - 1)).toFixed(2))),
    fmt((runs[0][i].user + runs[0][i].system) * 1000),
  ].join(' | ')} |`)
})
console.log(lines.join('\n'))
console.log(`\n${runs.map(r => r[0].times.length).join(' / ')} runs per command and repeat (after warm-up); CPU = mean user+system of run 1.`)
