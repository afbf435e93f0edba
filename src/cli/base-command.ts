import fs from 'node:fs'
import {Command, Flags, type Interfaces} from '@oclif/core'
import {takeBackCreatedDirs} from '../core/dirs.js'
import {DEFAULT_ROOT, openSnapshotter} from '../core/open.js'
import type {LocalSnapshotter} from '../core/local.js'
import {SNAPSHOTTERS} from '../core/snapshotter.js'
import {DEFAULT_NAMESPACE, namespaceProblem} from '../core/namespaces.js'
import {refuseNonUtf8Args} from './utf8-args.js'
import {renderError, type RenderedError} from './exit-codes.js'
import {InterruptedError, NotFoundError} from '../core/errors.js'
import {exitCodeOfSignal, interrupted, trapInterrupts} from '../core/interrupt.js'
import {errorText} from './argv.js'
import {mountLines} from './format/mounts.js'
import {MAX_MOUNT_DATA, optionBytes} from '../core/mount.js'
import type {Mount} from '../core/snapshotter.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** -n/--namespace, as ctr's; a name containerd would refuse is a usage error (a plain Error: oclif makes it one). */
export const namespaceFlag = Flags.string({
  char: 'n',
  summary: 'Namespace of the snapshots.',
  env: 'CTRSNAP_NAMESPACE',
  default: DEFAULT_NAMESPACE,
  helpGroup: 'GLOBAL',
  helpValue: 'NAME',
  parse: async input => {
    const problem = namespaceProblem(input)
    if (problem !== undefined) throw new Error(problem)
    return input
  },
})

/**
 * Every ctrsnap command: global --root/--snapshotter/--namespace, exact-byte output, and
 * one error path (one line on stderr, the exit code of the error's class).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    root: Flags.string({
      summary: 'Root directory of the snapshot store.',
      env: 'CTRSNAP_ROOT',
      default: DEFAULT_ROOT,
      helpGroup: 'GLOBAL',
      helpValue: 'DIR',
    }),
    snapshotter: Flags.string({
      summary: 'Snapshotter to use (btrfs: the root must be on a btrfs file system).',
      env: 'CTRSNAP_SNAPSHOTTER',
      default: 'overlayfs',
      options: [...SNAPSHOTTERS],
      helpGroup: 'GLOBAL',
    }),
    namespace: namespaceFlag,
  }

  /**
   * Set by `batch` (src/commands/batch.ts) while it runs one of its lines:
   * the line's error is thrown back to it rather than printed, and with
   * `capture` (batch --json) so is its output.
   */
  static batchLine: {capture: boolean; text: string; json?: {value: unknown}} | undefined

  /** oclif's usage line is rebuilt from this; keep it in ctr's words. */
  static override usage: string | string[] = ''

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  /** Every positional argument, for commands that take a list (strict = false). */
  protected positional!: string[]

  override async init(): Promise<void> {
    trapInterrupts()
    await super.init()
    refuseNonUtf8Args()
    const ctor = this.ctor as typeof BaseCommand
    refuseBooleanValues(this.argv, {...(super.ctor as typeof BaseCommand).baseFlags, ...ctor.flags}, ctor.enableJsonFlag)
    const {args, flags, raw} = await this.parse({
      flags: ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      // oclif would fill an omitted argument from piped stdin (`echo x | ctrsnap prepare a` made x the parent); no argument is read from stdin.
      args: Object.fromEntries(Object.entries(ctor.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}])),
      strict: ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    // From raw tokens: oclif's argv regroups repeated values, and `usage a b a` must keep its order.
    this.positional = raw.filter(t => t.type === 'arg').map(t => t.input)
  }

  protected snapshotter(): LocalSnapshotter {
    const s = openSnapshotter({root: this.flags.root, snapshotter: this.flags.snapshotter, namespace: this.flags.namespace})
    if (this.missingRoot === undefined && !fs.existsSync(this.flags.root)) this.missingRoot = this.flags.root
    return s
  }

  /** --root as given, when it did not exist as the command opened it (a mistyped --root reads as empty). */
  private missingRoot?: string

  /** Once: a root that did not exist and still does not is worth a note, on stderr, whatever stdout says. */
  private noteMissingRoot(): void {
    if (this.missingRoot === undefined || fs.existsSync(this.missingRoot)) return
    process.stderr.write(`ctrsnap: note: root ${this.missingRoot} does not exist\n`)
    this.missingRoot = undefined
  }

  /** Where a command looked, for messages that should say so; one place, so more (a namespace) can join. */
  protected where(): string {
    return `(root ${this.flags.root}, snapshotter ${this.flags.snapshotter}, namespace ${this.flags.namespace})`
  }

  /** Write exact bytes: ctr-compatible output must not pass through oclif's formatting. */
  protected out(text: string): void {
    if (BaseCommand.batchLine?.capture) BaseCommand.batchLine.text += text
    else process.stdout.write(text)
  }

  /**
   * ctr's mount lines for `target`. A line whose options exceed what mount(2)
   * accepts is still printed as ctr prints it, with a warning naming the flag
   * that mounts it properly (from relative paths).
   */
  protected printMountLines(target: string, mounts: readonly Mount[], mounted: boolean): void {
    this.out(mountLines(target, mounts))
    const long = mounts.find(m => optionBytes(m) > MAX_MOUNT_DATA)
    if (long && !mounted) {
      process.stderr.write(`ctrsnap: warning: the mount options above are ${optionBytes(long)} bytes, more than the kernel accepts (${MAX_MOUNT_DATA}): the line will not mount as printed; use --mount to have ctrsnap mount it\n`)
    }
  }

  protected json(value: unknown): void {
    if (BaseCommand.batchLine?.capture) BaseCommand.batchLine.json = {value}
    else process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  override async catch(err: Error & {exitCode?: number}): Promise<void> {
    takeBackCreatedDirs()
    if (BaseCommand.batchLine) {
      this.parsed = true
      throw err
    }
    const r = renderFailure(err)
    // A lookup in the store that found nothing may be a mistyped --root: say so. Any other failure is its own one line.
    if (err instanceof NotFoundError && err.inStore) this.noteMissingRoot()
    else this.missingRoot = undefined
    if (process.env.DEBUG) process.stderr.write(`${err.stack ?? err}\n`)
    if (this.jsonEnabled()) {
      this.json({error: {kind: r.kind, message: r.message, exitCode: r.exitCode}})
    } else {
      const usage = r.kind === 'usage' ? String((this.ctor as typeof BaseCommand).usage).replace('<%= command.id %>', this.id ?? '') : undefined
      process.stderr.write(errorText(r.message, usage))
    }
    process.exitCode = r.exitCode
    // A failed parse is reported above; oclif would otherwise add a dev-mode "did not parse" warning.
    this.parsed = true
  }

  /** A signal that came too late to stop anything still exits as interrupted (a shell stops its script), saying so. */
  override async finally(err: Error | undefined): Promise<unknown> {
    this.noteMissingRoot()
    const i = interrupted()
    // In a batch, the batch stops before its next line and says so.
    if (!err && i && !BaseCommand.batchLine) {
      process.stderr.write(errorText(`${i.message}, after the command had completed`))
      process.exitCode = exitCodeOfSignal(i.signal)
    }
    return super.finally(err)
  }
}

/**
 * oclif reads `--recursive=yes` as --recursive and an argument "yes" (to `rm`,
 * a key to remove): refuse a value given to a flag that takes none.
 */
function refuseBooleanValues(argv: readonly string[], flags: Record<string, {type: string; aliases?: string[]}>, json: boolean | undefined): void {
  const bools = new Set(Object.entries(flags).flatMap(([name, f]) => (f.type === 'boolean' ? [name, ...(f.aliases ?? [])] : [])))
  if (json) bools.add('json')
  for (const a of argv) {
    if (a === '--') return
    const name = /^--([^=]+)=/.exec(a)?.[1]
    if (name !== undefined && bools.has(name)) throw Object.assign(new Error(`flag --${name} takes no value`), {oclif: {exit: 2}})
  }
}

/** What the user is told of a failure. Interrupted, whatever the failure it caused looks like (a killed cp, a closed pipe): the signal is the reason. */
export function renderFailure(err: unknown): RenderedError {
  return renderError(err instanceof InterruptedError ? err : interrupted() ?? err)
}
