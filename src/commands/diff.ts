import fs from 'node:fs'
import path from 'node:path'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {FailedPreconditionError, fsError, InvalidArgumentError, UnavailableError} from '../core/errors.js'
import {COMPRESSIONS, diffSnapshot, type Compression, type DiffResult} from '../core/layer/diff.js'

export default class Diff extends BaseCommand<typeof Diff> {
  static override summary = 'Write the changes of KEY against PARENT as an OCI layer tar.'
  static override description = `PARENT defaults to KEY's parent. Deletions become .wh.NAME entries and opaque directories .wh..wh..opq. The layer goes to stdout (never a terminal) or to -o FILE; its blob digest and diffID go to stderr, or with --json (and -o) to stdout as {digest, diffId, size, mediaType}.`
  static override usage = 'diff [-o FILE] [--compression gzip|zstd|none] [--json] KEY [PARENT]'
  static override enableJsonFlag = true
  static override examples = [
    '<%= config.bin %> diff -o layer.tar.gz work',
    '<%= config.bin %> diff --compression none work base > layer.tar',
  ]

  static override args = {
    key: Args.string({required: true, description: 'Snapshot whose changes to write.'}),
    parent: Args.string({required: false, description: "Snapshot to compare against (default: KEY's parent)."}),
  }

  static override flags = {
    output: Flags.string({char: 'o', summary: 'Write the layer to FILE instead of stdout.', helpValue: 'FILE'}),
    compression: Flags.string({summary: 'Compression of the layer.', options: [...COMPRESSIONS], default: 'gzip'}),
  }

  async run(): Promise<void> {
    const {output} = this.flags
    const compression = this.flags.compression as Compression
    if (output === undefined && this.jsonEnabled()) throw new InvalidArgumentError('--json prints to stdout, which carries the layer: use it with -o FILE')
    if (output === undefined && process.stdout.isTTY) throw new FailedPreconditionError('refusing to write a layer tar to a terminal: use -o FILE or redirect stdout')
    const s = this.snapshotter()
    const result = output === undefined ? await toStdout(() => diffSnapshot(s, this.args.key, this.args.parent, process.stdout, {compression})) : await toFile(output, out => diffSnapshot(s, this.args.key, this.args.parent, out, {compression}))
    if (this.jsonEnabled()) return this.json(result)
    process.stderr.write(`digest: ${result.digest}\ndiffID: ${result.diffId}\n`)
  }
}

async function toStdout(write: () => Promise<DiffResult>): Promise<DiffResult> {
  try {
    return await write()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') throw new UnavailableError('stdout was closed before the whole layer was written')
    throw err
  }
}

/** Write through a temp file beside FILE, renamed into place only when complete. */
async function toFile(file: string, write: (out: fs.WriteStream) => Promise<DiffResult>): Promise<DiffResult> {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.tmp-${process.pid}`)
  let out: fs.WriteStream
  try {
    out = fs.createWriteStream(tmp, {flags: 'wx'})
    await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject))
  } catch (err) {
    // The place the user named cannot take a file: their argument, not the store, is at fault.
    throw fsError('write', file, err, 'invalid-argument')
  }
  try {
    const result = await write(out)
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
    fs.renameSync(tmp, file)
    return result
  } catch (err) {
    out.destroy()
    fs.rmSync(tmp, {force: true})
    throw fsError('write', file, err)
  }
}
