#!/usr/bin/env node
// Man pages and README sections generated from what the code says: commands, flags and
// examples from oclif.manifest.json, exit codes from dist/cli/exit-codes.js, paths and
// defaults from dist/core. Run after `npm run build`.
//   node scripts/gen-man.js [--out DIR]           write DIR/ctrsnap.1 and DIR/ctrsnap-<command>.1 (default man/)
//   node scripts/gen-man.js --readme [--stdout]   rewrite README.md's generated sections (or print the result)
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = 'ctrsnap'

/**
 * The date on every page. SOURCE_DATE_EPOCH wins (reproducible builds); otherwise the
 * release date of the package version, so regenerating never changes the output.
 */
const RELEASE_DATES = {'0.1.0': '2026-11-23'}

export function pageDate(version, env = process.env) {
  if (env.SOURCE_DATE_EPOCH) {
    const s = Number(env.SOURCE_DATE_EPOCH)
    if (!Number.isInteger(s) || s < 0) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, not "${env.SOURCE_DATE_EPOCH}"`)
    return new Date(s * 1000).toISOString().slice(0, 10)
  }
  const d = RELEASE_DATES[version]
  if (!d) throw new Error(`no release date for version ${version}: add it to RELEASE_DATES in scripts/gen-man.js`)
  return d
}

async function dist(rel) {
  const file = path.join(root, 'dist', rel)
  if (!fs.existsSync(file)) throw new Error(`${path.relative(root, file)} is missing: run \`npm run build\` first`)
  return import(pathToFileURL(file).href)
}

/** Everything the generators read, from the manifest and the built code. */
export async function loadFacts() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
  // The lock timeout default is read from the environment at import: document the default, not this shell's value.
  const tunables = ['CTRSNAP_LOCK_TIMEOUT_MS', 'CTRSNAP_LOCK_STALE_MS']
  const saved = tunables.map(k => [k, process.env[k]])
  for (const k of tunables) delete process.env[k]
  const [{EXIT_CODES}, {LOCK_WAIT_MS, LOCK_STALE_MS, MIN_LOCK_STALE_MS}, {DB_FILE}, layout, {DEFAULT_ROOT}, {SNAPSHOTTERS}] = await Promise.all([
    dist('cli/exit-codes.js'),
    dist('core/store/lock.js'),
    dist('core/store/metastore.js'),
    dist('core/drivers/layout.js'),
    dist('core/open.js'),
    dist('core/snapshotter.js'),
  ])
  for (const [k, v] of saved) if (v !== undefined) process.env[k] = v
  const commands = Object.values(manifest.commands)
    .filter(c => !c.hidden)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return {
    pkg,
    commands,
    exitCodes: EXIT_CODES,
    lockWaitMs: LOCK_WAIT_MS,
    lockStaleMs: LOCK_STALE_MS,
    lockStaleMinMs: MIN_LOCK_STALE_MS,
    dbFile: DB_FILE,
    tempPrefix: layout.TEMP_PREFIX,
    removingPrefix: layout.REMOVING_PREFIX,
    defaultRoot: DEFAULT_ROOT,
    snapshotters: SNAPSHOTTERS,
  }
}

// ---------------------------------------------------------------- roff

/** Escape text for roff: backslashes, minus signs, and control characters at line starts. */
function esc(s) {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map(l => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n')
}

/** Prose: escaped, with `code` set in bold. */
function prose(s) {
  return esc(s).replace(/`([^`]+)`/g, '\\fB$1\\fR')
}

/** A macro argument: escaped and quoted when it has spaces. */
function arg(s) {
  const e = esc(s).replace(/"/g, '\\(dq')
  return /\s/.test(e) ? `"${e}"` : e
}

/** A command's usage line; oclif's `<%= command.id %>` template (right for aliases too) as the command's name. */
const usageOf = c => (c.usage || c.id).replace(/<%= command\.id %>/g, c.id)
const example = e => (typeof e === 'string' ? {command: e} : e)
const fill = s => s.replace(/<%= config\.bin %>/g, BIN)
/** A summary as a NAME line: no final period, lower-case start unless it is an acronym. */
const sentence = s => s.replace(/\.$/, '').replace(/^([A-Z])(?![A-Z])/, c => c.toLowerCase())

/** A usage string with flags in bold and placeholders (KEY, DIR, K=V) in italics. */
function synopsis(usage) {
  return esc(usage).replace(/((?:\\-){1,2}[a-z][a-z\\-]*)|([A-Z][A-Z0-9_]*(?:=[A-Z]+)?)/g, (m, flag, ph) =>
    flag ? `\\fB${flag}\\fR` : `\\fI${ph}\\fR`,
  )
}

function flagLabel(f) {
  const long = `\\fB\\-\\-${f.allowNo ? '[no\\-]' : ''}${esc(f.name)}\\fR`
  const short = f.char ? `\\fB\\-${esc(f.char)}\\fR, ` : ''
  const value = f.type === 'option' ? `=\\fI${esc(f.helpValue ?? (f.options ? f.options.join('|') : 'VALUE'))}\\fR` : ''
  return short + long + value
}

function flagText(f) {
  const parts = [prose(f.summary ?? f.description ?? '')]
  if (f.options) parts.push(`One of: ${f.options.map(o => `\\fB${esc(o)}\\fR`).join(', ')}.`)
  if (f.multiple && !/repeatable/i.test(f.summary ?? '')) parts.push('May be given more than once.')
  if (f.type === 'option' && f.default !== undefined) parts.push(`Default: \\fB${esc(String(f.default))}\\fR.`)
  if (f.env) parts.push(`Environment: \\fB${esc(f.env)}\\fR.`)
  return parts.filter(Boolean).join(' ')
}

const isGlobal = f => f.helpGroup === 'GLOBAL'

/**
 * Flags every command has (--root, --snapshotter, --namespace), and global flags only some
 * have (--json). A command may redefine a global flag for itself (cleanup's --namespace has
 * no -n): the index describes the definition most commands share.
 */
function globalFlags(commands) {
  const names = new Set(commands.flatMap(c => Object.values(c.flags).filter(isGlobal).map(f => f.name)))
  return [...names].sort().map(name => {
    const users = commands.filter(c => c.flags[name])
    const count = f => users.filter(c => c.flags[name].summary === f.summary).length
    const flag = users.map(c => c.flags[name]).reduce((best, f) => (count(f) > count(best) ? f : best))
    return {flag, users: users.length === commands.length ? undefined : users.map(c => c.id)}
  })
}

function exitStatus(facts) {
  const lines = ['.SH EXIT STATUS', '.TP', '.B 0', 'Success.']
  for (const e of facts.exitCodes) lines.push('.TP', `.B ${e.code}`, `${prose(e.meaning)} (\\fB${esc(e.kind)}\\fR).`)
  return lines
}

/** Commands a page points to: those it names in `backticks`, plus the usual next steps. */
const RELATED = {
  prepare: ['commit', 'mounts', 'view', 'unmount'],
  view: ['prepare', 'mounts', 'unmount'],
  commit: ['prepare', 'info'],
  mounts: ['prepare', 'view', 'unmount'],
  unmount: ['mounts', 'rm'],
  rm: ['cleanup', 'unmount'],
  ls: ['tree', 'info', 'usage'],
  tree: ['ls'],
  info: ['ls', 'label'],
  label: ['info'],
  usage: ['ls'],
  cleanup: ['rm'],
  unpack: ['prepare', 'tree'],
}

function related(c, facts) {
  const ids = new Set(facts.commands.map(x => x.id))
  const text = [c.description ?? '', ...Object.values(c.flags).map(f => f.summary ?? '')].join(' ')
  const named = [...text.matchAll(/`([a-z]+)`/g)].map(m => m[1])
  return [...new Set([...(RELATED[c.id] ?? []), ...named])].filter(id => id !== c.id && ids.has(id)).sort()
}

function seeAlso(refs) {
  return ['.SH SEE ALSO', refs.map((r, i) => `.BR ${r[0]} (${r[1]})${i < refs.length - 1 ? ' ,' : ''}`).join('\n')]
}

/**
 * Text lines wrapped at 80 bytes (mandoc's style limit); macro lines and .EX blocks
 * as they are. A wrapped line never starts with a control character.
 */
function render(lines) {
  const out = []
  let literal = false
  for (const l of lines.join('\n').split('\n')) {
    if (l === '.EX') literal = true
    if (l === '.EE') literal = false
    if (literal || l.startsWith('.') || Buffer.byteLength(l) <= 80) {
      out.push(l)
      continue
    }
    let cur = ''
    for (const word of l.split(' ')) {
      if (cur && Buffer.byteLength(cur) + 1 + Buffer.byteLength(word) > 80) {
        out.push(cur)
        cur = ''
      }
      cur = cur ? `${cur} ${word}` : /^[.']/.test(word) ? `\\&${word}` : word
    }
    if (cur) out.push(cur)
  }
  return out.join('\n') + '\n'
}

function header(name, facts, title) {
  return [
    `.\\" Generated by scripts/gen-man.js from oclif.manifest.json and dist/: do not edit.`,
    `.TH ${name.toUpperCase()} 1 ${pageDate(facts.pkg.version)} ${arg(`${BIN} ${facts.pkg.version}`)} ${arg(title)}`,
  ]
}

function paragraphs(text) {
  return text
    .split(/\n\s*\n/)
    .map(p => p.trim().replace(/\s*\n\s*/g, ' '))
    .filter(Boolean)
    .flatMap((p, i) => (i === 0 ? [prose(p)] : ['.PP', prose(p)]))
}

export function commandPage(c, facts) {
  const lines = [...header(`${BIN}-${c.id}`, facts, 'ctrsnap Manual')]
  lines.push('.SH NAME', `${BIN}\\-${esc(c.id)} \\- ${prose(sentence(c.summary))}`)
  lines.push('.SH SYNOPSIS', `.B ${BIN}`, synopsis(usageOf(c)))
  lines.push('.SH DESCRIPTION', ...paragraphs([c.summary, c.description].filter(Boolean).join('\n\n')))
  const args = Object.values(c.args)
  if (args.length > 0) {
    lines.push('.SH ARGUMENTS')
    for (const a of args) {
      lines.push('.TP', `.I ${a.name.toUpperCase()}`, `${prose(a.description ?? '')}${a.required ? '' : ' Optional.'}`)
    }
  }
  const own = Object.values(c.flags).filter(f => !f.hidden && !isGlobal(f))
  const glob = Object.values(c.flags).filter(f => !f.hidden && isGlobal(f))
  lines.push('.SH OPTIONS')
  for (const f of [...own, ...glob]) lines.push('.TP', flagLabel(f), flagText(f))
  lines.push('.TP', '\\fB\\-h\\fR, \\fB\\-\\-help\\fR', 'Print help for this command and exit.')
  if (c.aliases.length > 0) {
    lines.push('.SH ALIASES', `${c.aliases.map(a => `\\fB${BIN} ${esc(a)}\\fR`).join(', ')} \\(em the same command.`)
  }
  if (c.examples?.length > 0) {
    lines.push('.SH EXAMPLES')
    c.examples.map(example).forEach((e, i) => {
      if (i > 0) lines.push('.PP')
      if (e.description) lines.push(prose(fill(e.description)), '.PP')
      lines.push('.EX', `$ ${esc(fill(e.command))}`, '.EE')
    })
  }
  lines.push(...exitStatus(facts))
  lines.push(...seeAlso([[BIN, 1], ...related(c, facts).map(id => [`${BIN}\\-${id}`, 1])]))
  return render(lines)
}

/** The environment variables ctrsnap reads, for the man page and the README. Text uses `code`. */
export function environment(facts) {
  const fromFlags = globalFlags(facts.commands)
    .filter(g => g.flag.env && !g.users)
    .map(({flag}) => ({name: flag.env, text: `Default for \`--${flag.name}\` (default \`${flag.default}\`)${flag.options ? `: ${flag.options.map(o => `\`${o}\``).join(', ')}` : ''}.`}))
  const unavailable = facts.exitCodes.find(e => e.kind === 'unavailable').code
  return [
    ...fromFlags,
    {name: 'DEBUG', text: 'When set to a non-empty value, errors also print their stack trace on standard error.'},
    {name: 'CTRSNAP_LOCK_TIMEOUT_MS', text: `How long, in milliseconds, a command waits for another process's lock on the store before failing with exit status ${unavailable} (default \`${facts.lockWaitMs}\`).`},
    {name: 'CTRSNAP_LOCK_STALE_MS', text: `After how many milliseconds without a refresh a lock counts as left by a dead process and is taken over (default \`${facts.lockStaleMs}\`, at least \`${facts.lockStaleMinMs}\`).`},
    {name: 'NO_COLOR', text: 'Any non-empty value: no colour in `tree` output.'},
    {name: 'FORCE_COLOR', text: 'Colour `tree` output even on a pipe; `0` or `false` turns colour off even on a terminal.'},
    {name: 'TERM', text: '`dumb`: no colour, and plain progress lines instead of bars from `unpack`.'},
    {name: 'CI', text: 'Any non-empty value: plain progress lines instead of bars from `unpack`.'},
  ]
}

export function indexPage(facts) {
  const {commands} = facts
  const lines = [...header(BIN, facts, 'ctrsnap Manual')]
  lines.push('.SH NAME', `${BIN} \\- ${prose(sentence(facts.pkg.description))}`)
  lines.push(
    '.SH SYNOPSIS',
    `.B ${BIN}`,
    `\\fICOMMAND\\fR [\\fB\\-\\-root\\fR=\\fIDIR\\fR] [\\fB\\-\\-snapshotter\\fR=${facts.snapshotters.map(n => `\\fB${esc(n)}\\fR`).join('|')}] [\\fB\\-n\\fR \\fINAMESPACE\\fR] [\\fIARG\\fR ...]`,
    '.br',
    `.B ${BIN}`,
    `\\fICOMMAND\\fR \\fB\\-\\-help\\fR`,
  )
  lines.push(
    '.SH DESCRIPTION',
    `${BIN} keeps container filesystem snapshots in a local directory, the way containerd 1.6's \\fBctr snapshots\\fR does, without a daemon.`,
    'An \\fIactive\\fR snapshot (\\fBprepare\\fR) is writable; a \\fIview\\fR (\\fBview\\fR) is read\\-only;',
    '\\fBcommit\\fR turns an active snapshot into a \\fIcommitted\\fR one, the only kind that can be a parent.',
    'A snapshot with children cannot be removed.',
    'Each command prints the mounts to use, or performs them with \\fB\\-\\-mount\\fR.',
    'As in containerd, every snapshot is in a namespace (\\fB\\-n\\fR, default \\fBdefault\\fR), a key is unique within its namespace, and a command sees only the snapshots of its own;',
    'a namespace exists while it has snapshots (\\fBnamespaces ls\\fR lists them). \\fBcleanup\\fR works on all of them at once.',
    '.PP',
    `The snapshotters (\\fB\\-\\-snapshotter\\fR): ${facts.snapshotters.map(n => `\\fB${esc(n)}\\fR`).join(', ')}, as containerd's.`,
    '\\fBoverlayfs\\fR keeps each layer in a directory and mounts a child as an overlay of its layers;',
    '\\fBnative\\fR gives each active snapshot a full copy of its parent and bind-mounts it;',
    '\\fBbtrfs\\fR makes each snapshot a btrfs subvolume, a child a snapshot of its parent\'s (nothing is copied), and mounts it by subvolume id.',
    `For \\fBbtrfs\\fR the root must be on a btrfs file system: anywhere else every command fails with \\fBctrsnap: \\fIROOT\\fB is not on a btrfs file system\\fR and exit status ${facts.exitCodes.find(e => e.kind === 'unsupported-filesystem').code}; it runs \\fBbtrfs\\fR(8) for subvolumes.`,
  )
  lines.push('.SH COMMANDS')
  for (const c of commands) {
    const aka = c.aliases.length > 0 ? ` Aliases: ${c.aliases.map(a => `\\fB${esc(a)}\\fR`).join(', ')}.` : ''
    lines.push('.TP', `.B ${esc(c.id)}`, `${prose(c.summary)}${aka} See \\fB${BIN}\\-${esc(c.id)}\\fR(1).`)
  }
  lines.push(
    '.SH OPTIONS',
    'These flags are accepted after any command name; \\fB\\-\\-root\\fR, \\fB\\-\\-snapshotter\\fR and \\fB\\-n\\fR, \\fB\\-\\-namespace\\fR also before it, as ctr takes its global flags.',
    "A command pasted from ctr runs too: \\fBctrsnap snapshots \\-\\-snapshotter native ls\\fR is \\fBctrsnap ls \\-\\-snapshotter native\\fR (the \\fBsnapshots\\fR or \\fBsnapshot\\fR prefix is dropped).",
    'A mistyped command or flag is a usage error that names the closest one.',
  )
  for (const {flag, users} of globalFlags(commands)) {
    lines.push('.TP', flagLabel(flag), flagText(flag) + (users ? ` Accepted by ${users.map(u => `\\fB${esc(u)}\\fR`).join(', ')}.` : ''))
  }
  lines.push('.TP', '\\fB\\-h\\fR, \\fB\\-\\-help\\fR', 'Print help and exit.')
  lines.push('.TP', '\\fB\\-v\\fR, \\fB\\-\\-version\\fR', 'Print \\fBctrsnap\\fR \\fIVERSION\\fR and exit (\\fBctrsnap version\\fR prints the longer form).')
  lines.push('.SH ENVIRONMENT')
  for (const e of environment(facts)) lines.push('.TP', `.B ${esc(e.name)}`, prose(e.text))
  lines.push(...exitStatus(facts))
  lines.push('.SH FILES', `Everything lives under \\fIROOT\\fB/\\fISNAPSHOTTER\\fR, where \\fIROOT\\fR is \\fB\\-\\-root\\fR (default \\fI${esc(facts.defaultRoot)}\\fR) and \\fISNAPSHOTTER\\fR is one of ${facts.snapshotters.map(s => `\\fB${esc(s)}\\fR`).join(', ')}.`)
  lines.push(
    'The first command that writes creates the directories with mode 0700; commands that only read never create anything, and a command that fails removes the empty directories it made.',
  )
  const files = [
    [facts.dbFile, 'The metadata: every snapshot, its parent chain, kind, labels, times, sizes and recorded mounts (an SQLite database, replaced atomically on each change).'],
    [`${facts.dbFile}.lock`, 'A directory held while a command changes the store; one left by a killed process goes stale and is taken over.'],
    ['snapshots/\\fIID\\fB/fs', 'overlayfs: the layer of snapshot \\fIID\\fR (its upper directory while active).'],
    ['snapshots/\\fIID\\fB/work', "overlayfs: the work directory of an active snapshot's overlay mount."],
    ['snapshots/\\fIID', 'native: the full copy of the snapshot\'s tree.'],
    ['active/\\fIID', 'btrfs: the writable subvolume of active snapshot \\fIID\\fR (new, or a snapshot of its parent\'s).'],
    ['view/\\fIID', 'btrfs: the read\\-only snapshot of its parent a view is (without a parent: a new subvolume, mounted read\\-only).'],
    ['snapshots/\\fIID', 'btrfs: the read\\-only snapshot commit made of what was \\fBactive/\\fIID\\fR.'],
    [`snapshots/${facts.tempPrefix}*`, 'A snapshot or layer being built by a command still running; removed by the command, or by \\fBcleanup\\fR once its process is gone (btrfs: in the kind\'s own directory, \\fBactive/\\fR, \\fBview/\\fR or \\fBsnapshots/\\fR).'],
    [`snapshots/${facts.removingPrefix}*`, 'A snapshot being removed; its record is already gone. \\fBcleanup\\fR finishes the job if the command was killed (btrfs: in the kind\'s own directory, deleted with \\fBbtrfs subvolume delete\\fR).'],
  ]
  for (const [f, d] of files) lines.push('.TP', `.I ${f.includes('\\f') ? `"${f}"` : esc(f)}`, d)
  lines.push(...seeAlso([...commands.map(c => [`${BIN}\\-${esc(c.id)}`, 1]), ['ctr', 8], ['mount', 8]]))
  return render(lines)
}

/** Every page, by file name. */
export async function manPages(facts) {
  facts ??= await loadFacts()
  const pages = new Map([[`${BIN}.1`, indexPage(facts)]])
  for (const c of facts.commands) pages.set(`${BIN}-${c.id}.1`, commandPage(c, facts))
  return pages
}

// ---------------------------------------------------------------- README

const mdCell = s => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ')

/** The README's generated sections, by marker name. */
export function readmeSections(facts) {
  const commands = [
    '| command | aliases | what it does |',
    '|---|---|---|',
    ...facts.commands.map(c => `| \`${BIN} ${mdCell(usageOf(c))}\` | ${c.aliases.map(a => `\`${a}\``).join(' ') || ''} | ${mdCell(c.summary)} |`),
  ]
  const exit = [
    '| code | kind | meaning |',
    '|---|---|---|',
    '| 0 | | success |',
    ...facts.exitCodes.map(e => `| ${e.code} | \`${e.kind}\` | ${mdCell(e.meaning)} |`),
  ]
  const env = ['| variable | effect |', '|---|---|', ...environment(facts).map(e => `| \`${e.name}\` | ${mdCell(e.text)} |`)]
  return {commands: commands.join('\n'), 'exit-codes': exit.join('\n'), environment: env.join('\n')}
}

/** README text with each `<!-- NAME:start -->...<!-- NAME:end -->` section replaced. */
export function applySections(text, sections) {
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`)
    if (!re.test(text)) throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers`)
    text = text.replace(re, (_, start, end) => `${start}${body}\n${end}`)
  }
  return text
}

// ---------------------------------------------------------------- main

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const argv = process.argv.slice(2)
  try {
    const facts = await loadFacts()
    if (argv.includes('--readme')) {
      const file = path.join(root, 'README.md')
      const text = applySections(fs.readFileSync(file, 'utf8'), readmeSections(facts))
      if (argv.includes('--stdout')) process.stdout.write(text)
      else fs.writeFileSync(file, text)
    } else {
      const i = argv.indexOf('--out')
      const out = i >= 0 ? path.resolve(argv[i + 1]) : path.join(root, 'man')
      fs.mkdirSync(out, {recursive: true})
      const pages = await manPages(facts)
      // Pages of commands that no longer exist would linger and ship.
      for (const f of fs.readdirSync(out)) if (/^ctrsnap.*\.1$/.test(f) && !pages.has(f)) fs.rmSync(path.join(out, f))
      for (const [name, text] of pages) fs.writeFileSync(path.join(out, name), text)
    }
  } catch (err) {
    process.stderr.write(`gen-man: ${err.message ?? err}\n`)
    process.exit(1)
  }
}
