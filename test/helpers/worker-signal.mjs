// Runs the built ctrsnap CLI (bin/run.js) in this process and sends this
// process a real SIGNAL at a known POINT of the command, instead of after a
// guessed delay:
//
//   SIGNAL POINT ARGS...
//   POINT: spawn:CMD  right after ctrsnap starts the program CMD (cp, tar); how
//                     that program ended is logged on stderr as `[worker] CMD ended by X`
//          rm:N       right after the Nth removal of a directory directly under snapshots/ (its final rmdir)
//
// The exit code is the CLI's; 3 if the point was never reached (the test must fail then).
import childProcess from 'node:child_process'
import fs from 'node:fs'
import {syncBuiltinESMExports} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
const [signal, point, ...args] = process.argv.slice(2)
const [what, arg] = point.split(':')
let reached = false
const hit = () => {
  reached = true
  process.kill(process.pid, signal)
}

if (what === 'spawn') {
  const spawn = childProcess.spawn
  childProcess.spawn = (cmd, ...rest) => {
    const child = spawn(cmd, ...rest)
    if (cmd === arg && !reached) {
      child.once('exit', (code, sig) => process.stderr.write(`[worker] ${cmd} ended by ${sig ?? `exit ${code}`}\n`))
      hit()
    }
    return child
  }
} else if (what === 'rm') {
  const rmdirSync = fs.rmdirSync
  let n = 0
  fs.rmdirSync = (p, ...rest) => {
    rmdirSync(p, ...rest)
    if (/\/snapshots\/[^/]+$/.test(String(p)) && ++n === Number(arg)) hit()
  }
} else {
  throw new Error(`unknown point ${point}`)
}
// Named imports of node builtins (execa's, the bundle's) see the patched functions too.
syncBuiltinESMExports()

process.argv = [process.argv[0], BIN, ...args]
await import(BIN)
if (!reached) {
  process.stderr.write(`[worker] ${point} never reached\n`)
  process.exitCode = 3
}
