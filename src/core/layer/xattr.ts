import {onPath, start} from '../exec.js'

// Node cannot read xattrs; getfattr (the attr package) reads many in one
// process. Where it is missing, callers get null and do without.


/** Path (as given to getfattr, latin1) -> its xattrs as sorted `name=0xhex` lines, overlayfs' own left out. */
export type XattrIndex = Map<string, string>

async function getfattr(cwd: string, args: string[]): Promise<XattrIndex | null> {
  if (!onPath('getfattr')) return null
  const child = start('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', ...args], {cwd, stdout: true})
  const chunks: Buffer[] = []
  for await (const c of child.stdout as AsyncIterable<Buffer>) chunks.push(c)
  await child.done
  const index: XattrIndex = new Map()
  // Names come as raw bytes with control characters and backslashes as \ooo.
  for (const block of Buffer.concat(chunks).toString('latin1').split('\n\n')) {
    const lines = block.split('\n').filter(Boolean)
    if (!lines[0]?.startsWith('# file: ')) continue
    const name = lines[0].slice('# file: '.length).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    const attrs = lines.slice(1).filter(l => !l.startsWith('trusted.overlay.')).sort().join('\n')
    if (attrs) index.set(name, attrs)
  }
  return index
}

/** Every xattr under root, keyed by relative path ('' for root). */
export async function xattrIndex(root: string): Promise<XattrIndex | null> {
  const raw = await getfattr(root, ['-R', '.'])
  if (!raw) return null
  return new Map([...raw].map(([k, v]) => [k === '.' ? '' : k.replace(/^\.\//, ''), v]))
}

/** The xattrs of some paths relative to root (latin1 names), as name -> value. */
export async function xattrsOf(root: string, rels: string[]): Promise<Map<string, Map<string, Buffer>> | null> {
  const out = new Map<string, Map<string, Buffer>>()
  if (rels.length === 0) return out
  // getfattr prints names as given; ./-prefixed so none reads as an option.
  // argv is text: names that are not UTF-8 cannot be passed and are skipped.
  const text = rels.map(r => Buffer.from(r, 'latin1').toString('utf8')).filter((t, i) => Buffer.from(t).equals(Buffer.from(rels[i]!, 'latin1')))
  if (text.length === 0) return out
  const raw = await getfattr(root, ['--', ...text.map(t => `./${t}`)])
  if (!raw) return null
  for (const [k, v] of raw) {
    const m = new Map<string, Buffer>()
    for (const line of v.split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) m.set(line.slice(0, eq), line.startsWith('0x', eq + 1) ? Buffer.from(line.slice(eq + 3), 'hex') : Buffer.alloc(0))
    }
    out.set(k.replace(/^\.\//, ''), m)
  }
  return out
}
