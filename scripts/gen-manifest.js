#!/usr/bin/env node
// Writes oclif.manifest.json from the built commands in dist/ with @oclif/core's own
// Plugin loader (what `oclif manifest` does, without that CLI's ~190 dev packages).
//   node scripts/gen-manifest.js           write oclif.manifest.json
//   node scripts/gen-manifest.js --stdout  print it instead (the drift test compares)
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Plugin, settings} from '@oclif/core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Commands compiled from sources that no longer exist would ship silently: refuse them. */
function staleCommands() {
  const dist = path.join(root, 'dist/commands')
  const src = path.join(root, 'src/commands')
  if (!fs.existsSync(dist)) throw new Error('dist/commands is missing: run `npm run build` first')
  return fs
    .readdirSync(dist)
    .filter(f => f.endsWith('.js'))
    .filter(f => !fs.existsSync(path.join(src, f.replace(/\.js$/, '.ts'))))
}

export async function buildManifest() {
  const stale = staleCommands()
  if (stale.length > 0) {
    throw new Error(`dist/commands has ${stale.join(', ')} with no source in src/commands: delete ${stale.length > 1 ? 'them' : 'it'} and rebuild`)
  }
  // Under NODE_ENV=test|development oclif would look for src/*.ts; the manifest describes dist.
  settings.enableAutoTranspile = false
  const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true})
  await plugin.load()
  return JSON.stringify(plugin.manifest, null, 2) + '\n'
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    const text = await buildManifest()
    if (process.argv.includes('--stdout')) process.stdout.write(text)
    else fs.writeFileSync(path.join(root, 'oclif.manifest.json'), text)
  } catch (err) {
    process.stderr.write(`gen-manifest: ${err.detail ?? err.message ?? err}\n`)
    process.exit(1)
  }
}
