/** `ctr --version` is `ctr <module> <version>`; ctrsnap is its own module. */
export function versionLine(version: string): string {
  return `ctrsnap ${version}\n`
}

/** The Client block of `ctr version`, with Node.js where ctr names its Go. */
export function versionBlock(version: string, node: string): string {
  return `Client:\n  Version:  ${version}\n  Node version: ${node}\n`
}
