#!/usr/bin/env node
// Bundle the compiled CLI (dist/commands, dist/cli, dist/core) and @oclif/core
// into one ESM file, dist/ctrsnap.js, that bin/run.js loads with oclif's
// `explicit` command discovery. One file instead of ~130 modules saves oclif's
// module resolution and compilation on every start (BENCHMARKS.md). Libraries
// that commands load lazily (sql.js with its wasm, execa, proper-lockfile) stay
// external so they still cost nothing until used. Next to the bundle,
// dist/ctrsnap.inputs lists the files it was built from, so bin/run.js can
// tell a stale bundle (someone ran tsc alone) and fall back to dist/.
// Run after tsc: `node scripts/bundle.js`.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dist = path.join(root, 'dist')
const commands = fs.readdirSync(path.join(dist, 'commands')).filter(f => f.endsWith('.js')).sort()
if (commands.length === 0) throw new Error('no compiled commands in dist/commands: run tsc first')

// Command ids are file names, as oclif's pattern discovery (and the manifest) has them.
const entry = [
  // Named: `export *` of a CommonJS module leaves nothing to import in ESM.
  `export {Config, execute, settings} from '@oclif/core'`,
  // The help class (package.json oclif.helpClass), against the bundle's own oclif.
  `export {default as Help} from './dist/cli/help.js'`,
  ...commands.map((f, i) => `import C${i} from './dist/commands/${f}'`),
  `export const COMMANDS = {${commands.map((f, i) => `${JSON.stringify(f.slice(0, -3))}: C${i}`).join(', ')}}`,
].join('\n')

const out = path.join(dist, 'ctrsnap.js')
const tmp = `${out}.${process.pid}.tmp`
const result = await build({
  stdin: {contents: entry, resolveDir: root, sourcefile: 'ctrsnap-entry.js', loader: 'js'},
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: tmp,
  external: ['cli-table3', 'sql.js', 'execa', 'proper-lockfile', '@oclif/plugin-help', 'typescript', 'ts-node', 'tsx'],
  // oclif is CommonJS: give its require() calls (node builtins, package.json) a real require.
  banner: {js: `import {createRequire as __ctrsnapRequire} from 'node:module'; const require = __ctrsnapRequire(import.meta.url);`},
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
})
const inputs = Object.keys(result.metafile.inputs)
  .filter(f => f.startsWith('dist/'))
  .sort()
// Write the list before the bundle: a reader that sees the new bundle sees its list.
fs.writeFileSync(path.join(dist, 'ctrsnap.inputs'), inputs.join('\n') + '\n')
// Rename so parallel builds and running CLIs never see a half-written bundle.
fs.renameSync(tmp, out)
console.log(`dist/ctrsnap.js: ${commands.length} commands, ${inputs.length} files from dist/, ${(fs.statSync(out).size / 1024).toFixed(0)} KiB`)
