import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** A fresh temp directory for one test's snapshot root; removed by the returned cleanup. */
export function tempRoot(prefix = 'ctrsnap-test-'): {dir: string; cleanup: () => void} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {dir, cleanup: () => fs.rmSync(dir, {recursive: true, force: true})}
}

export const isRoot = process.getuid?.() === 0
export const isLinux = process.platform === 'linux'
/** Real mounts need root on Linux; on CI both hold, so nothing skips there. */
export const canMount = isRoot && isLinux
