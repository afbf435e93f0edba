import fs from 'node:fs'

/**
 * Who owns an unpack's `extract-<unique> <chainID>` snapshot while it is
 * being built: containerd's garbage collector removes the ones a killed
 * unpack leaves, ctrsnap has none, so the snapshot records its owner and
 * `cleanup` (or a later unpack of the layer) removes it once the owner is
 * gone. The value is `<pid>:<start time>`, the start time being clock ticks
 * since boot (/proc/<pid>/stat field 22): a pid reused by another process
 * has another start time, so it is not mistaken for the owner. Commit
 * replaces the labels, so a committed layer does not keep it.
 */
export const LABEL_EXTRACT_OWNER = 'ctrsnap.io/extract.owner'

/** containerd's key for a layer being unpacked (snapshots.UnpackKeyFormat, `extract-%s %s`), and the chainID in one. */
export const extractKey = (unique: string, chainId: string): string => `extract-${unique} ${chainId}`
const EXTRACT_KEY = /^extract-\S+ (sha256:[a-f0-9]{64})$/
export const extractChainId = (key: string): string | undefined => EXTRACT_KEY.exec(key)?.[1]

/** Clock ticks since boot when `pid` started; undefined when /proc has no such process. */
export function processStartTime(pid: number): string | undefined {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // Field 2, the command name, is in parentheses and may hold spaces and parentheses: count from the last ')'.
  // After it come fields 3, 4, ...: field 22 is the 20th.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

let self: string | undefined

/** This process as an owner value. */
export function selfOwner(): string {
  self ??= `${process.pid}:${processStartTime(process.pid) ?? ''}`
  return self
}

/**
 * Whether the process an owner value names still runs: the same pid started
 * at the same time. Undefined for a value that is not an owner.
 */
export function ownerAlive(owner: string): boolean | undefined {
  const m = /^(\d+):(\d*)$/.exec(owner)
  if (!m) return undefined
  const pid = Number(m[1])
  const start = processStartTime(pid)
  if (start !== undefined && m[2] !== '') return start === m[2]
  // /proc hides it (hidepid) or recorded no start time: the pid alone decides, erring towards alive.
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
