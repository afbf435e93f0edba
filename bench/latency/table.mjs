#!/usr/bin/env node
// Render hyperfine --export-json files (repeats of one benchmark set) as one
// markdown table: median wall ms of each repeat, its ratio to the floor
// (`node -e 0`) measured in the same hyperfine run, and to the ctr command of
// the same row when there is one. Labels come from LABELS (one per command,
// "ctrsnap|<row>", "ctr|<row>", "floor|<row>" or "other|<row>", tab-separated).
// Usage: LABELS=... node table.mjs run1.json [run2.json ...]
import fs from 'node:fs'

const labels = process.env.LABELS.split('\t')
const runs = process.argv.slice(2).map(f => JSON.parse(fs.readFileSync(f, 'utf8')).results)
const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const ms = x => (x * 1000).toFixed(0)
const rows = new Map()
for (const [r, results] of runs.entries()) {
  if (results.length !== labels.length) throw new Error(`run ${r + 1}: ${results.length} results for ${labels.length} labels`)
  results.forEach((res, i) => {
    const [who, row] = labels[i].split('|')
    if (!rows.has(row)) rows.set(row, {})
    ;(rows.get(row)[who] ??= [])[r] = {median: median(res.times), cpu: res.user + res.system, n: res.times.length, cmd: res.command}
  })
}
const floor = rows.get('node -e 0').floor
const hasCtr = [...rows.values()].some(v => v.ctr)
const reps = runs.map((_, r) => r + 1)
const head = ['command', ...reps.map(r => `median ms (run ${r})`), ...reps.map(r => `× node (run ${r})`), 'CPU ms (run 1)']
if (hasCtr) head.push(...reps.map(r => `ctr median ms (run ${r})`), ...reps.map(r => `× ctr (run ${r})`))
const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`]
for (const [row, v] of rows) {
  const m = v.ctrsnap ?? v.floor ?? v.other
  if (!m) continue
  const cells = [v.floor ? `\`${row}\` (floor)` : v.other ? row : `\`ctrsnap ${row}\``]
  cells.push(...m.map(x => ms(x.median)))
  cells.push(...m.map((x, r) => (x.median / floor[r].median).toFixed(2)))
  cells.push(ms(m[0].cpu))
  if (hasCtr) {
    cells.push(...reps.map((_, r) => (v.ctr ? ms(v.ctr[r].median) : '')))
    cells.push(...reps.map((_, r) => (v.ctr && v.ctrsnap ? (m[r].median / v.ctr[r].median).toFixed(2) : '')))
  }
  lines.push(`| ${cells.join(' | ')} |`)
}
console.log(lines.join('\n'))
console.log(`\n${runs[0][0].times.length} runs per command and repeat (after warm-up); CPU = mean user+system of run 1.`)
