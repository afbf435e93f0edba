#!/usr/bin/env node
// Where a metadata command's start-up goes. Repeats, step by step and with a
// timestamp after each, what `bin/run.js ls --root ROOT` does: load oclif, load
// the config (package.json, manifest, plugins), import the command, initialise
// sql.js, load the store and run the first query, then run the command for
// real (output), then exit. Times are ms since the process started
// (performance.now()); the exit tax is measured by the parent from outside.
// Usage: node bench/latency/profile.mjs ROOT [runs]   (prints a markdown table)
// CTRSNAP_NO_BUNDLE=1 profiles the unbundled path.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

if (process.env.PROFILE_CHILD) {
  const marks = [['node ready (bootstrap done)', performance.nodeTiming.bootstrapComplete]]
  const mark = name => marks.push([name, performance.now()])
  const root = process.env.PROFILE_CHILD
  // As bin/run.js: the bundle with explicit discovery, or (CTRSNAP_NO_BUNDLE) dist/ as compiled.
  const bundled = !process.env.CTRSNAP_NO_BUNDLE
  mark('user code starts')
  const oclif = bundled ? await import(pathToFileURL(path.join(repo, 'dist/ctrsnap.js')).href) : await import('@oclif/core')
  oclif.settings.enableAutoTranspile = false
  mark(bundled ? 'bundle imported (oclif + commands)' : '@oclif/core imported')
  const pjson = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'))
  if (bundled) pjson.oclif.commands = {strategy: 'explicit', target: './dist/ctrsnap.js', identifier: 'COMMANDS'}
  const config = await oclif.Config.load({root: repo, pjson})
  mark('oclif config loaded (package.json, manifest, plugin-help)')
  const cmd = config.findCommand('ls')
  const Ls = await cmd.load()
  mark('command module imported')
  const {loadSqlJs} = await import(pathToFileURL(path.join(repo, 'dist/core/store/sqljs.js')).href)
  await loadSqlJs()
  mark('sql.js initialised')
  const {Metastore} = await import(pathToFileURL(path.join(repo, 'dist/core/store/metastore.js')).href)
  const db = await new Metastore(path.join(root, 'overlayfs')).read()
  mark('store loaded (file read, schema checked)')
  db.values('SELECT count(*) FROM snapshots')
  mark('first query')
  const out = process.stdout.write.bind(process.stdout)
  process.stdout.write = () => true // the command's output is not the profile's
  await Ls.run(['--root', root], config)
  process.stdout.write = out
  mark('command ran (output written)')
  process.on('exit', () => {
    mark('exit event')
    process.stderr.write(JSON.stringify(marks) + '\n')
  })
} else {
  const root = process.argv[2]
  const runs = Number(process.argv[3] ?? 15)
  const rows = []
  const walls = []
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint()
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {env: {...process.env, PROFILE_CHILD: root}, encoding: 'utf8'})
    walls.push(Number(process.hrtime.bigint() - t) / 1e6)
    if (r.status !== 0) throw new Error(r.stderr)
    rows.push(JSON.parse(r.stderr.trim().split('\n').pop()))
  }
  const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`| step | at (ms, median) | step cost (ms) |\n|---|---:|---:|`)
  let prev = 0
  for (let j = 0; j < rows[0].length; j++) {
    const at = median(rows.map(r => r[j][1]))
    console.log(`| ${rows[0][j][0]} | ${at.toFixed(1)} | ${(at - prev).toFixed(1)} |`)
    prev = at
  }
  const wall = median(walls)
  console.log(`| process gone (wall, measured by the parent) | ${wall.toFixed(1)} | ${(wall - prev).toFixed(1)} |`)
}
