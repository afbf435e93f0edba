import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {createProgress, unpackJson} from '../cli/format/progress.js'
import {makeTempDir} from '../core/drivers/layout.js'
import {hostPlatform, parsePlatform} from '../core/image/platform.js'
import {openImage} from '../core/image/source.js'
import {MAX_CONCURRENT, unpackImage} from '../core/image/unpack.js'
import {stageLayer} from '../core/layer/apply.js'
import {interruption} from '../core/interrupt.js'
import {FailedPreconditionError} from '../core/errors.js'

export default class Unpack extends BaseCommand<typeof Unpack> {
  static override summary = 'Unpack an image from disk into a chain of committed snapshots named by chainID.'
  static override description = `SOURCE is an OCI image layout directory (DIR, DIR:TAG by org.opencontainers.image.ref.name, DIR@sha256:... by manifest digest), an OCI archive (a tar of such a layout), a docker save archive (FILE:REPO:TAG picks by RepoTags), or - to read either archive from stdin. Names compare as docker normalises them: FILE:example/app:v1 finds docker.io/example/app:v1, FILE:busybox finds docker.io/library/busybox:latest. Needs root (layers set file owners and device nodes). Image indexes, also nested, are resolved by --platform (default: the host's).

Each layer becomes the committed snapshot named by its chainID, on the previous layer's, labelled ctrsnap.io/uncompressed=<diffID> and ctrsnap.io/digest=<blob digest>. Layers already unpacked are reused. Blob digests and sizes are checked against the manifest and uncompressed digests against the config's diff_ids while the layer streams; on any failure the snapshots this run made are removed.

Prints the top chainID on stdout (parent=$(ctrsnap unpack img.tar) works); progress goes to stderr.`
  static override usage = 'unpack [--platform OS/ARCH[/VARIANT]] [--jobs N] [--quiet] [--json] SOURCE'
  static override enableJsonFlag = true
  static override examples = [
    '<%= config.bin %> unpack ./layout:latest',
    'docker save alpine | <%= config.bin %> unpack -',
    'top=$(<%= config.bin %> unpack --platform linux/arm64 image.tar) && <%= config.bin %> prepare work "$top"',
  ]

  static override args = {
    source: Args.string({required: true, description: 'Image layout directory, OCI or docker save archive, or - for stdin.'}),
  }

  static override flags = {
    platform: Flags.string({summary: 'Platform to unpack from an image index, os/arch[/variant]; default: the host.', helpValue: 'OS/ARCH[/VARIANT]'}),
    quiet: Flags.boolean({char: 'q', summary: 'Print no progress on stderr.'}),
    jobs: Flags.integer({char: 'j', min: 1, max: MAX_CONCURRENT, summary: `Layers to stream at once; they still commit in order. Default: one per CPU, at most ${MAX_CONCURRENT}.`, helpValue: 'N'}),
  }

  async run(): Promise<void> {
    // Layers carry owners, modes and device nodes that only root can set: say so before reading anything.
    if (process.getuid?.() !== 0) throw new FailedPreconditionError('unpack needs root: image layers set file owners and device nodes; run it as root')
    const sn = this.snapshotter()
    const platform = this.flags.platform === undefined ? hostPlatform() : parsePlatform(this.flags.platform)
    const image = await openImage(this.args.source, {platform, explicit: this.flags.platform !== undefined, tempDir: () => makeTempDir(sn.root)})
    const progress = createProgress({quiet: this.flags.quiet, json: this.jsonEnabled()})
    try {
      // Interrupted: the layers in flight stop and what this run made is taken back (src/core/interrupt.ts).
      const res = await unpackImage(sn, image, {stage: stageLayer, concurrency: this.flags.jobs, events: progress, signal: interruption})
      progress.finish()
      if (this.jsonEnabled()) return this.json(unpackJson(res.layers))
      this.out(`${res.chainId}\n`)
    } finally {
      progress.finish()
      image.close()
    }
  }
}
