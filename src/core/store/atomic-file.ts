import fs from 'node:fs'
import path from 'node:path'

/**
 * Replace `file` with `data` so that a crash or kill at any point leaves either
 * the old or the new content: temp file in the same directory, fsync, rename,
 * fsync the directory.
 */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  const dir = path.dirname(file)
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`)
  let fd = fs.openSync(tmp, 'wx', 0o600)
  try {
    let off = 0
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off)
    fs.fsyncSync(fd)
  } catch (err) {
    fs.closeSync(fd)
    fs.rmSync(tmp, {force: true})
    throw err
  }
  fs.closeSync(fd)
  try {
    fs.renameSync(tmp, file)
  } catch (err) {
    fs.rmSync(tmp, {force: true})
    throw err
  }
  // The rename is the commit point: every reader now sees the new file. A failed
  // directory fsync only weakens durability across power loss; reporting it as a
  // failed write would make callers undo disk work for a record that exists.
  try {
    fd = fs.openSync(dir, 'r')
    try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
  } catch {
    // best effort, see above
  }
}

/** Temp files of writeFileAtomic that a killed writer left behind. */
export function isAtomicTemp(name: string, base: string): boolean {
  return name.startsWith(`.${base}.tmp-`)
}
