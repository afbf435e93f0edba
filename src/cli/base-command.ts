import {Command, Flags, type Interfaces} from '@oclif/core'
import {DEFAULT_ROOT, openSnapshotter} from '../core/open.js'
import type {LocalSnapshotter} from '../core/local.js'
import {SNAPSHOTTERS} from '../core/snapshotter.js'
import {refuseNonUtf8Args} from './argv.js'
import {renderError, type RenderedError} from './exit-codes.js'
import {InterruptedError} from '../core/errors.js'
import {exitCodeOfSignal, interrupted, trapInterrupts} from '../core/interrupt.js'
import {mountLines} from './format/mounts.js'
import {MAX_MOUNT_DATA, optionBytes} from '../core/mount.js'
import type {Mount} from '../core/snapshotter.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every ctrsnap command: global --root/--snapshotter, exact-byte output, and
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
      summary: 'Snapshotter to use.',
      env: 'CTRSNAP_SNAPSHOTTER',
      default: 'overlayfs',
      options: [...SNAPSHOTTERS],
      helpGroup: 'GLOBAL',
    }),
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
    return openSnapshotter({root: this.flags.root, snapshotter: this.flags.snapshotter})
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
    if (BaseCommand.batchLine) {
      this.parsed = true
      throw err
    }
    const r = renderFailure(err)
    if (process.env.DEBUG) process.stderr.write(`${err.stack ?? err}\n`)
    if (this.jsonEnabled()) {
      this.json({error: {kind: r.kind, message: r.message, exitCode: r.exitCode}})
    } else {
      process.stderr.write(`ctrsnap: ${r.message}\n`)
      if (r.kind === 'usage') process.stderr.write(`usage: ctrsnap ${String((this.ctor as typeof BaseCommand).usage).replace('<%= command.id %>', this.id ?? '')}\n`)
    }
    process.exitCode = r.exitCode
    // A failed parse is reported above; oclif would otherwise add a dev-mode "did not parse" warning.
    this.parsed = true
  }

  /** A signal that came too late to stop anything still exits as interrupted (a shell stops its script), saying so. */
  override async finally(err: Error | undefined): Promise<void> {
    const i = interrupted()
    // In a batch, the batch stops before its next line and says so.
    if (err || !i || BaseCommand.batchLine) return
    process.stderr.write(`ctrsnap: ${i.message}, after the command had completed\n`)
    process.exitCode = exitCodeOfSignal(i.signal)
  }
}

/** What the user is told of a failure. Interrupted, whatever the failure it caused looks like (a killed cp, a closed pipe): the signal is the reason. */
export function renderFailure(err: unknown): RenderedError {
  return renderError(err instanceof InterruptedError ? err : interrupted() ?? err)
}
