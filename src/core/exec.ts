import {ExternalCommandError} from './errors.js'

export interface RunOptions {
  cwd?: string
}

/**
 * The one place ctrsnap runs another program (mount, umount, cp, tar).
 * Failures become ExternalCommandError carrying the tool's own stderr.
 */
export async function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const {execa} = await import('execa')
  try {
    const result = await execa(command, args, {cwd: opts.cwd, stdin: 'ignore', env: {LC_ALL: 'C'}})
    return result.stdout
  } catch (err) {
    const e = err as {code?: string; stderr?: string; exitCode?: number; shortMessage?: string}
    if (e.code === 'ENOENT') throw new ExternalCommandError(command, args, `${command} is not installed or not on PATH`)
    throw new ExternalCommandError(command, args, e.stderr || e.shortMessage || String(err), e.exitCode)
  }
}
