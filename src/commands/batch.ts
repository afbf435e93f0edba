import fs from 'node:fs'
import {keepCreatedDirs} from '../core/dirs.js'
import {Args, Command, Flags, type Config} from '@oclif/core'
import {BaseCommand, renderFailure} from '../cli/base-command.js'
import {errorText, normalizeArgv} from '../cli/argv.js'
import {inputLines, notUtf8} from '../cli/batch/input.js'
import {unknownCommand} from '../cli/not-found-hook.js'
import {LineSyntaxError, shellWords} from '../cli/batch/words.js'
import type {RenderedError} from '../cli/exit-codes.js'
import {errnoText, InvalidArgumentError} from '../core/errors.js'
import {interrupted} from '../core/interrupt.js'
import {atomically} from '../core/store/metastore.js'

/** Not run from a batch: a batch in a batch, and a script for a shell. */
const REFUSED = new Set(['batch', 'completion'])
/** Their disk work cannot be taken back, so an --atomic batch refuses them: an unmount, and cleanup's deletions. */
const NOT_ATOMIC = new Set(['unmount', 'cleanup'])

interface Failure {
  n: number
  error: RenderedError
  usage?: string
}

/** A command class as loaded from the config: concrete, as every command is. */
type Runnable = Pick<typeof Command, 'run'> & (new (argv: string[], config: Config) => Command)

/** Thrown out of atomically() to roll the batch back. */
class RolledBack extends Error {}

export default class Batch extends BaseCommand<typeof Batch> {
  static override summary = 'Run many commands, one per line, in one process.'
  static override description = `Reads commands from FILE, or from stdin when FILE is absent or -, and runs each line as ctrsnap would run it on the command line, without the program name (\`prepare --label a=b work base\`), printing what that command prints. Lines are split into words as a POSIX shell does, with no expansion: '...', "..." and backslash quote; # at the start of a word starts a comment; blank lines are skipped. --root and --snapshotter given to batch apply to every line; a line may give its own. Every command but batch and completion may be used.

Each line's writes are persisted before the next line runs, as separate commands would be: later lines see them. The first line that fails stops the batch with \`ctrsnap: line N: <error>\` and the exit code of that error; the lines before it stay done. --keep-going runs the remaining lines and exits with the code of the first failure.

--atomic makes the whole batch one transaction on one store: every line's metadata changes are committed together at the end, or, if a line fails, none of them, and the directories the batch created are removed. Disk work still follows the crash rules: a batch killed before its end changes no metadata and leaves at most directories that \`ctrsnap cleanup\` removes. unmount and cleanup, whose disk work cannot be taken back, are refused in an atomic batch.

--json prints one JSON object per command line (JSON Lines): {"line": N, "command": "...", "exitCode": 0, "result": ...}, where result is what the command prints with --json (null for a command without --json; text it prints is in "output"), or "error": {kind, message, exitCode} in place of result.`

  static override usage = 'batch [--atomic | --keep-going] [--json] [FILE]'
  static override enableJsonFlag = true
  static override examples = [
    `printf '%s\\n' 'prepare work base' 'label work team=infra' 'commit app work' | <%= config.bin %> batch`,
    '<%= config.bin %> batch --atomic --snapshotter native setup.txt',
  ]

  static override args = {file: Args.string({required: false, description: 'File of commands, one per line (- or absent: stdin).'})}
  static override flags = {
    atomic: Flags.boolean({summary: 'All lines in one transaction: all or nothing.', default: false, exclusive: ['keep-going']}),
    'keep-going': Flags.boolean({char: 'k', summary: 'Run every line, even after one failed; exit with the first failure\'s code.', default: false}),
  }

  async run(): Promise<void> {
    const json = this.jsonEnabled()
    this.shareGlobals()
    let first: Failure | undefined

    const runLines = async () => {
      const file = this.args.file ?? '-'
      let input: AsyncIterable<Buffer> = process.stdin
      if (file !== '-') {
        try {
          input = fs.createReadStream('', {fd: fs.openSync(file, 'r')})
        } catch (err) {
          throw new InvalidArgumentError(`cannot read ${file}: ${errnoText(err)}`)
        }
      }
      for await (const {n, text} of inputLines(input)) {
        const done = await this.runLine(n, text, json)
        if (done === 'skip') continue
        if (done !== 'ok') {
          first ??= done
          if (!json) this.printFailure(done)
          if (this.flags.atomic) throw new RolledBack()
          if (!this.flags['keep-going'] || done.error.kind === 'interrupted') break
        }
        // A signal that came as a line's work was already done: stop before the next.
        const i = interrupted()
        if (i) {
          process.stderr.write(errorText(`${i.message}, after line ${n} had completed`))
          first ??= {n, error: renderFailure(i)}
          if (this.flags.atomic) throw new RolledBack()
          break
        }
      }
    }

    try {
      await (this.flags.atomic ? atomically(runLines) : runLines())
    } catch (err) {
      if (!(err instanceof RolledBack)) throw err
      if (!json) process.stderr.write('ctrsnap: --atomic: nothing was changed\n')
    }
    if (first) process.exitCode = first.error.exitCode
    this.interruptedLine = interrupted() !== undefined
  }

  private interruptedLine = false

  /** An interrupt that stopped a line was reported with the line's number: not again as one that came after the command. */
  override async finally(err: Error | undefined): Promise<unknown> {
    return this.interruptedLine ? (Command.prototype as unknown as {finally(e?: Error): Promise<unknown>}).finally.call(this, err) : super.finally(err)
  }

  /** The global flags (--root, --snapshotter, ...) given to batch: handed to every line through their environment variables, which a line's own flags override. */
  private shareGlobals(): void {
    const base = (this.ctor as typeof BaseCommand).baseFlags as Record<string, {env?: string}>
    const flags = this.flags as Record<string, unknown>
    for (const [name, f] of Object.entries(base)) {
      if (f.env !== undefined && flags[name] !== undefined) process.env[f.env] = String(flags[name])
    }
  }

  private async runLine(n: number, text: string | undefined, json: boolean): Promise<'ok' | 'skip' | Failure> {
    let words: string[]
    let cmd: typeof Command | undefined
    const report = (body: Record<string, unknown>) => {
      if (json) process.stdout.write(JSON.stringify({line: n, command: text?.trim() ?? null, ...body}) + '\n')
    }
    const fail = (err: unknown): Failure => {
      if (process.env.DEBUG) process.stderr.write(`${(err as Error)?.stack ?? err}\n`)
      const error = renderFailure(err)
      report({exitCode: error.exitCode, error: {kind: error.kind, message: error.message, exitCode: error.exitCode}})
      const usage = error.kind === 'usage' && cmd ? String((cmd as typeof BaseCommand).usage).replace('<%= command.id %>', cmd.id ?? '') : undefined
      return {n, error, usage}
    }
    try {
      if (text === undefined) throw notUtf8()
      words = shellWords(text)
      if (words.length === 0) return 'skip'
      // The command line's own forms: leading global flags, a pasted `snapshots` prefix.
      const normal = normalizeArgv(words)
      if ('error' in normal) throw new LineSyntaxError(normal.error)
      words = normal.argv
      if (words.length === 0) throw new LineSyntaxError('no command')
      const [id, ...argv] = words as [string, ...string[]]
      const found = this.config.findCommand(id)
      if (!found || REFUSED.has(found.id)) throw new LineSyntaxError(found ? `${found.id} cannot run in a batch` : unknownCommand(id, this.config))
      if (this.flags.atomic && NOT_ATOMIC.has(found.id)) throw new LineSyntaxError(`${found.id} cannot be undone, so it cannot run in an --atomic batch`)
      cmd = await found.load()
      // Results as JSON values: the command's --json, where it has one.
      if (json && cmd.enableJsonFlag && !argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).includes('--json')) argv.unshift('--json')
      const line: NonNullable<typeof BaseCommand.batchLine> = {capture: json, text: ''}
      BaseCommand.batchLine = line
      try {
        await (cmd as unknown as Runnable).run(argv, this.config)
      } finally {
        BaseCommand.batchLine = undefined
      }
      keepCreatedDirs()
      report({exitCode: 0, result: line.json ? line.json.value : null, ...(line.text ? {output: line.text} : {})})
      return 'ok'
    } catch (err) {
      return fail(err)
    }
  }

  private printFailure(f: Failure): void {
    process.stderr.write(errorText(`line ${f.n}: ${f.error.message}`, f.usage))
  }
}
