import {execa} from 'execa'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')

export interface CliResult {
  stdout: string
  stderr: string
  exitCode: number
}

/** Run the built CLI as a user would, with exact stdout/stderr bytes and the exit code. */
export async function ctrsnap(args: string[], opts: {root?: string; snapshotter?: string; env?: Record<string, string>; input?: string} = {}): Promise<CliResult> {
  const env: Record<string, string> = {...opts.env}
  if (opts.root) env.CTRSNAP_ROOT = opts.root
  if (opts.snapshotter) env.CTRSNAP_SNAPSHOTTER = opts.snapshotter
  const r = await execa('node', [BIN, ...args], {env: {NODE_ENV: '', DEBUG: '', ...env}, reject: false, stripFinalNewline: false, input: opts.input ?? ''})
  return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1}
}
