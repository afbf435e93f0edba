import fs from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {renderError} from '../../src/cli/exit-codes.js'
import {makeDirs, takeBackCreatedDirs} from '../../src/core/dirs.js'
import {errnoText, fsError, SnapshotError} from '../../src/core/errors.js'
import {openSnapshotter} from '../../src/core/open.js'
import {isLinux, tempRoot} from '../helpers/root.js'

let tmp: ReturnType<typeof tempRoot>
beforeEach(() => {
  tmp = tempRoot('ctrsnap-dirs-')
})
afterEach(() => tmp.cleanup())

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

/** What Node throws for a failed system call, with a message that disagrees with its code (as recursive mkdir's does). */
function sysErr(code: string, syscall: string, p?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall}`), {code, syscall, ...(p ? {path: p} : {})})
}

describe('makeDirs', () => {
  it('makes every missing level with the mode, and takes back only the empty ones it made', () => {
    const deep = path.join(tmp.dir, 'a', 'b', 'c')
    makeDirs(deep, 0o700)
    expect(fs.statSync(deep).isDirectory()).toBe(true)
    expect(fs.statSync(path.join(tmp.dir, 'a')).mode & 0o777).toBe(0o700)
    makeDirs(deep) // there already: nothing to do
    makeDirs(path.join(tmp.dir, 'a', 'other'))
    fs.writeFileSync(path.join(tmp.dir, 'a', 'b', 'keep'), '')
    takeBackCreatedDirs()
    // c and other were empty; b holds a file, so b and a stay.
    expect(fs.readdirSync(path.join(tmp.dir, 'a'))).toEqual(['b'])
    expect(fs.readdirSync(path.join(tmp.dir, 'a', 'b'))).toEqual(['keep'])
    expect(fs.existsSync(tmp.dir)).toBe(true)
  })

  it.skipIf(!isLinux)('under /proc, where mkdir says ENOENT forever: one error at once naming the directory', () => {
    const t0 = performance.now()
    const err = thrown(() => makeDirs(`/proc/ctrsnap-test-${process.pid}/a/b`))
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(err).toBeInstanceOf(SnapshotError)
    expect(err).toMatchObject({kind: 'unavailable', message: `cannot create /proc/ctrsnap-test-${process.pid}: no such file or directory (ENOENT)`})
  })

  it('below a regular file: names the file; through a symlink loop: ELOOP', () => {
    const file = path.join(tmp.dir, 'f')
    fs.writeFileSync(file, '')
    expect(thrown(() => makeDirs(path.join(file, 'x', 'y')))).toMatchObject({kind: 'unavailable', message: `cannot create ${file}/x/y: ${file} is not a directory (ENOTDIR)`})
    expect(thrown(() => makeDirs(file))).toMatchObject({message: `cannot create ${file}: ${file} is not a directory (ENOTDIR)`})
    const loop = path.join(tmp.dir, 'loop')
    fs.symlinkSync(loop, loop)
    expect(thrown(() => makeDirs(path.join(loop, 'x')))).toMatchObject({message: `cannot create ${loop}/x: too many symbolic links encountered (ELOOP)`})
  })
})

describe('errno errors', () => {
  it('the reason comes from the code, never from the message', () => {
    expect(errnoText(sysErr('EROFS', 'mkdir'))).toBe('read-only file system (EROFS)')
    expect(errnoText(sysErr('EDQUOT', 'write'))).toBe('disk quota exceeded (EDQUOT)')
    expect(errnoText(new Error('plain'))).toBe('plain')
  })

  it('fsError: a system error becomes one SnapshotError line; anything else passes through', () => {
    expect(fsError('create', '/r', sysErr('EROFS', 'mkdir', '/r'))).toMatchObject({kind: 'unavailable', message: 'cannot create /r: read-only file system (EROFS)'})
    expect(fsError('write', '/o', sysErr('ENOTDIR', 'open'), 'invalid-argument')).toMatchObject({kind: 'invalid-argument'})
    const bug = new TypeError('x is undefined')
    expect(fsError('create', '/r', bug)).toBe(bug)
  })

  it('renderError: a system error nobody put in context is still one line with the kernel\'s reason; a misused call is internal', () => {
    expect(renderError(Object.assign(sysErr('ENOSPC', 'rename', '/a'), {dest: '/b'}))).toEqual({kind: 'unavailable', exitCode: 8, message: 'rename /a to /b failed: no space left on device (ENOSPC)'})
    expect(renderError(sysErr('ELOOP', 'open', '/l'))).toEqual({kind: 'unavailable', exitCode: 8, message: 'open /l failed: too many symbolic links encountered (ELOOP)'})
    expect(renderError(sysErr('EBADF', 'close'))).toEqual({kind: 'internal', exitCode: 1, message: 'close failed: bad file descriptor (EBADF)'})
  })
})

describe('writes on a store that does not exist', () => {
  it('unmount, rm, label and commit fail as not found and create nothing', async () => {
    const root = path.join(tmp.dir, 'root')
    const s = openSnapshotter({root, snapshotter: 'overlayfs'})
    await expect(s.unmount('/nonexist')).rejects.toMatchObject({kind: 'not-found'})
    await expect(s.remove('k')).rejects.toMatchObject({kind: 'not-found'})
    await expect(s.updateLabels('k', {a: 'b'})).rejects.toMatchObject({kind: 'not-found'})
    await expect(s.commit('c', 'k')).rejects.toMatchObject({kind: 'not-found'})
    expect(fs.existsSync(root)).toBe(false)
  })
})
