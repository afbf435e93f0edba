// Generate the unpack benchmark image: 7 gzip layers, ~150 MiB uncompressed,
// ~8,000 files (text and incompressible data, some whiteouts), as an OCI
// layout directory and an OCI archive. Deterministic: same bytes every time.
// Usage: node gen.mjs OUTDIR
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const out = path.resolve(process.argv[2] ?? '/tmp/ctrsnap-bench-h6/image')
const work = `${out}.work`
fs.rmSync(work, {recursive: true, force: true})
fs.rmSync(out, {recursive: true, force: true})

let counter = 0
/** Deterministic incompressible bytes (sha256 in counter mode). */
function noise(n) {
  const buf = Buffer.alloc(n)
  for (let o = 0; o < n; o += 32) createHash('sha256').update(`noise-${counter++}`).digest().copy(buf, o)
  return buf
}
const words = 'const let function return import export from async await class extends static module value result error stream layer snapshot parent commit'.split(' ')
function text(n, seed) {
  let s = ''
  let x = seed * 2654435761 >>> 0
  while (s.length < n) {
    x = (x ^ (x << 13)) >>> 0; x = (x ^ (x >>> 17)) >>> 0; x = (x ^ (x << 5)) >>> 0
    s += words[x % words.length] + (x % 7 === 0 ? ';\n' : ' ')
  }
  return s.slice(0, n)
}
function put(root, rel, data, mode = 0o644) {
  const p = path.join(root, rel)
  fs.mkdirSync(path.dirname(p), {recursive: true})
  fs.writeFileSync(p, data, {mode})
}

const layers = [
  // base system: many small text files
  d => { for (let i = 0; i < 3000; i++) put(d, `usr/share/base/${i % 60}/f${i}.txt`, text(1000 + (i * 37) % 6000, i)) ; put(d, 'bin/sh', noise(900_000), 0o755); fs.symlinkSync('sh', path.join(d, 'bin/bash')) },
  // big binaries
  d => { for (let i = 0; i < 20; i++) put(d, `usr/lib/big/lib${i}.so`, noise(2 << 20), 0o755) },
  // node_modules-like tree
  d => { for (let i = 0; i < 2000; i++) put(d, `app/node_modules/pkg${i % 200}/lib/m${i}.js`, text(2000 + (i * 91) % 16000, i + 7)) },
  // compressible data
  d => { for (let i = 0; i < 6; i++) put(d, `var/data/table${i}.csv`, text(5 << 20, 100 + i)) },
  // an update: new files, whiteouts of old ones, an opaque directory
  d => {
    for (let i = 0; i < 1500; i++) put(d, `app/src/${i % 50}/s${i}.ts`, text(1000 + (i * 13) % 9000, i + 11))
    for (let i = 0; i < 100; i++) put(d, `usr/share/base/${i % 60}/.wh.f${i}.txt`, '')
    put(d, 'usr/share/base/59/.wh..wh..opq', '')
    put(d, 'usr/share/base/59/new.txt', 'replaced\n')
  },
  // more binaries
  d => { for (let i = 0; i < 3; i++) put(d, `opt/tool/bin${i}`, noise(10 << 20), 0o755) },
  // config churn
  d => { for (let i = 0; i < 1000; i++) put(d, `etc/conf.d/c${i}.conf`, text(500 + (i * 7) % 4000, i + 3)) },
]

const sha = b => `sha256:${createHash('sha256').update(b).digest('hex')}`
const blobs = path.join(out, 'blobs/sha256')
fs.mkdirSync(blobs, {recursive: true})
const writeBlob = b => { const d = sha(b); fs.writeFileSync(path.join(blobs, d.slice(7)), b); return d }
const descs = []
const diffIds = []
let files = 0
let bytes = 0
layers.forEach((fill, i) => {
  const dir = path.join(work, `l${i}`)
  fs.mkdirSync(dir, {recursive: true})
  fill(dir)
  const tar = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', dir, '-cf', '-', '.'], {maxBuffer: 1 << 30})
  files += Number(execFileSync('sh', ['-c', `find "${dir}" | wc -l`]).toString().trim())
  bytes += tar.length
  const gz = execFileSync('pigz', ['-6', '-n', '-c'], {input: tar, maxBuffer: 1 << 30})
  diffIds.push(sha(tar))
  descs.push({mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: writeBlob(gz), size: gz.length})
})
const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', config: {}, rootfs: {type: 'layers', diff_ids: diffIds}}))
const manifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: writeBlob(config), size: config.length}, layers: descs}))
const md = writeBlob(manifest)
fs.writeFileSync(path.join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
fs.writeFileSync(path.join(out, 'index.json'), JSON.stringify({schemaVersion: 2, manifests: [{mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, platform: {architecture: 'amd64', os: 'linux'}, annotations: {'org.opencontainers.image.ref.name': 'latest', 'io.containerd.image.name': 'docker.io/library/ctrsnap-bench:latest'}}]}))
execFileSync('tar', ['-C', out, '-cf', `${out}.tar`, 'oci-layout', 'index.json', 'blobs'])
fs.writeFileSync(`${out}.layers`, descs.map(d => path.join(blobs, d.digest.slice(7))).join('\n') + '\n')
fs.rmSync(work, {recursive: true, force: true})
console.log(`${out}: ${layers.length} layers, ${files} files and dirs, ${(bytes / 2 ** 20).toFixed(1)} MiB uncompressed, ${(descs.reduce((a, d) => a + d.size, 0) / 2 ** 20).toFixed(1)} MiB gzip`)
