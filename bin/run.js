#!/usr/bin/env node
// Start-up matters here: every ctrsnap command pays for what this file loads
// (BENCHMARKS.md). The build bundles oclif and the commands into
// dist/ctrsnap.js (scripts/bundle.js); use it with oclif's `explicit` command
// discovery unless a file it was built from is newer (tsc was run without the
// bundler) or CTRSNAP_NO_BUNDLE is set, then load dist/ as compiled. Either
// way the behaviour is the same.
import fs from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

// ctr users write `ctr snapshots --snapshotter native ls`: src/cli/argv.ts
// turns what they type into what oclif parses.
{
  const {normalizeArgv, errorText, ROOT_USAGE} = await import('../dist/cli/argv.js')
  const n = normalizeArgv(process.argv.slice(2))
  if ('error' in n) {
    const {exitCodeFor} = await import('../dist/cli/exit-codes.js')
    process.stderr.write(errorText(n.error, ROOT_USAGE))
    process.exit(exitCodeFor('usage'))
  }
  process.argv.splice(2, Infinity, ...n.argv)
}

function freshBundle() {
  if (process.env.CTRSNAP_NO_BUNDLE) return false
  try {
    const built = fs.statSync(`${root}dist/ctrsnap.js`).mtimeMs
    const inputs = fs.readFileSync(`${root}dist/ctrsnap.inputs`, 'utf8').split('\n')
    // The directory too: a command added since would be missing from the bundle.
    inputs[inputs.length - 1] = 'dist/commands'
    return inputs.every(f => fs.statSync(root + f).mtimeMs <= built)
  } catch {
    return false
  }
}

if (freshBundle()) {
  const oclif = await import('../dist/ctrsnap.js')
  // This entry runs compiled code: never look for TypeScript sources or ts-node (NODE_ENV=test does).
  oclif.settings.enableAutoTranspile = false
  const pjson = JSON.parse(fs.readFileSync(`${root}package.json`, 'utf8'))
  pjson.oclif.commands = {strategy: 'explicit', target: './dist/ctrsnap.js', identifier: 'COMMANDS'}
  pjson.oclif.helpClass = {target: './dist/ctrsnap.js', identifier: 'Help'}
  await oclif.execute({loadOptions: {root, pjson}})
} else {
  const oclif = await import('@oclif/core')
  oclif.settings.enableAutoTranspile = false
  await oclif.execute({dir: import.meta.url})
}
