// Where unpack's time goes: the same in-process unpack of the bench image with
// the verified layer stream handed to (null) a reader that discards it, (tar)
// plain `tar -x`, (real) the layer applier; metastore calls timed alongside.
// Usage (after npm run build): [JOBS=N] node bench/unpack/phases.mjs null|tar|real [IMAGE.tar] [ROOT]
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import {openSnapshotter} from '../../dist/core/open.js'
import {openImage} from '../../dist/core/image/source.js'
import {unpackImage} from '../../dist/core/image/unpack.js'
import {hostPlatform} from '../../dist/core/image/platform.js'
import {stageLayer} from '../../dist/core/layer/apply.js'

const [mode = 'real', image = '/tmp/ctrsnap-bench-h6/image.tar', root = '/tmp/ctrsnap-bench-h6/mnt/phases'] = process.argv.slice(2)
fs.rmSync(root, {recursive: true, force: true})
const sn = openSnapshotter({root, snapshotter: 'overlayfs'})
const T = {}
const time = (o, name, key = name) => {
  const f = o[name].bind(o)
  o[name] = async (...a) => {
    const t = performance.now()
    try {
      return await f(...a)
    } finally {
      T[key] = (T[key] ?? 0) + performance.now() - t
    }
  }
}
time(sn.store, 'write', 'metastore writes')
time(sn.store, 'read', 'metastore reads')
// (null) and (tar) stage nothing the snapshot keeps: finish() leaves the target empty.
const staged = o => ({dir: o.dir, finish: async () => {}, discard: () => fs.rmSync(o.dir, {recursive: true, force: true})})
const stages = {
  null: async (s, o) => {
    for await (const _ of s);
    return staged(o)
  },
  tar: (s, o) =>
    new Promise((resolve, reject) => {
      const p = spawn('tar', ['-x', '--numeric-owner', '-C', o.dir], {stdio: ['pipe', 'ignore', 'inherit']})
      p.stdin.on('error', () => {})
      s.pipe(p.stdin)
      p.on('close', c => (c === 0 ? resolve(staged(o)) : reject(new Error(`tar exit ${c}`))))
    }),
  real: stageLayer,
}
const t0 = performance.now()
const img = await openImage(image, {platform: hostPlatform(), tempDir: () => fs.mkdtempSync('/tmp/phases-')})
await unpackImage(sn, img, {stage: stages[mode], concurrency: Number(process.env.JOBS) || undefined})
T.total = performance.now() - t0
console.log(mode, Object.entries(T).map(([k, v]) => `${k}=${v.toFixed(0)}ms`).join(' '))
fs.rmSync(root, {recursive: true, force: true})
