// The least a design with Node in the data path can do, as a second floor:
// per layer, `pigz -dc` reads the blob, Node hashes the blob and the
// uncompressed stream and passes it to `tar -x`, one layer after another. No
// header checks, no whiteouts, no metadata store, no oclif: what is left
// between this and ctrsnap is ctrsnap's own work; between this and floor.sh,
// the cost of carrying and hashing every byte in Node.
// Usage: node bench/unpack/pump.mjs LAYERS_FILE DEST
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'

const [list, dest] = process.argv.slice(2)
const layers = fs.readFileSync(list, 'utf8').trim().split('\n')
for (const [i, blob] of layers.entries()) {
  const dir = `${dest}/${i + 1}`
  fs.mkdirSync(dir, {recursive: true})
  const compressed = createHash('sha256')
  const fd = fs.openSync(blob, 'r')
  const buf = Buffer.allocUnsafe(1 << 20)
  for (let n; (n = fs.readSync(fd, buf)) > 0; ) compressed.update(buf.subarray(0, n))
  fs.closeSync(fd)
  const pigz = spawn('pigz', ['-dc'], {stdio: [fs.openSync(blob, 'r'), 'pipe', 'inherit']})
  const tar = spawn('tar', ['-x', '-f', '-', '-C', dir, '--numeric-owner'], {stdio: ['pipe', 'ignore', 'inherit']})
  const diff = createHash('sha256')
  pigz.stdout.on('data', c => {
    diff.update(c)
    if (!tar.stdin.write(c)) {
      pigz.stdout.pause()
      tar.stdin.once('drain', () => pigz.stdout.resume())
    }
  })
  pigz.stdout.on('end', () => tar.stdin.end())
  await new Promise((resolve, reject) => tar.on('close', code => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`)))))
  compressed.digest()
  diff.digest()
}
