// Child process for the unpack kill tests: unpacks the OCI layout DIR with the
// built code (dist/) and SIGKILLs itself at STEP of layer LAYER (1-based).
// Every layer of the test image holds a file `f<index>` of its own, by which
// a staging directory is recognised.
//
//   ROOT SNAPSHOTTER DIR STEP LAYER
//   STEP: staged    the layer is extracted into its staging directory; no snapshot yet
//         prepared  its extract snapshot is recorded (with its owner), still empty
//         finished  its content is in the extract snapshot, not yet committed
//
// Exits 3 if the kill point was never reached: the test must fail then.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist')
const {openSnapshotter} = await import(`${dist}/core/open.js`)
const {openImage} = await import(`${dist}/core/image/source.js`)
const {unpackImage} = await import(`${dist}/core/image/unpack.js`)
const {stageLayer} = await import(`${dist}/core/layer/apply.js`)

const {chainIds} = await import(`${dist}/core/image/chain-id.js`)

const [root, snapshotter, dir, step, layerArg] = process.argv.slice(2)
const index = Number(layerArg) - 1
const die = () => process.kill(process.pid, 'SIGKILL')
if (!['staged', 'prepared', 'finished'].includes(step)) throw new Error(`unknown step ${step}`)

const sn = openSnapshotter({root, snapshotter})
const image = await openImage(dir, {platform: {os: 'linux', architecture: 'amd64'}, tempDir: () => fs.mkdtempSync(path.join(root, 'spool-'))})
const ours = chainIds(image.layers.map(l => l.diffId))[index]
const prepare = sn.prepare.bind(sn)
sn.prepare = async (key, parent, opts) => {
  const mounts = await prepare(key, parent, opts)
  if (step === 'prepared' && key.endsWith(` ${ours}`)) die()
  return mounts
}
const stage = async (tar, o) => {
  const staged = await stageLayer(tar, o)
  if (!fs.existsSync(path.join(o.dir, `f${index}`))) return staged
  if (step === 'staged') die()
  return {
    ...staged,
    finish: async (to, parents) => {
      await staged.finish(to, parents)
      if (step === 'finished') die()
    },
  }
}
await unpackImage(sn, image, {stage, concurrency: 2})
process.stdout.write(JSON.stringify({survived: true}) + '\n')
process.exit(3)
