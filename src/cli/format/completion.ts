/**
 * Shell completion scripts. Commands, flags and flag values are written into
 * the script (a TAB costs no Node start); snapshot keys come from
 * `ctrsnap ls -q`, run with the --root/--snapshotter/--namespace already on the
 * command line (and the environment's CTRSNAP_* otherwise); namespace names from
 * `ctrsnap namespaces ls -q`.
 */

import {CTR_PREFIXES, LEADING_FLAGS} from '../argv.js'

export type ValueKind = 'dir' | 'file' | 'filter' | 'namespace' | 'none'

export interface CompletionFlag {
  long: string
  char?: string
  summary: string
  takesValue: boolean
  options?: readonly string[]
  value: ValueKind
}

/** What a positional argument completes to: snapshot keys (through these ls filters), a path, or nothing. */
export type Positional = {type: 'snapshot'; filters: string[]} | {type: 'options'; values: readonly string[]} | {type: 'dir'} | {type: 'file'} | {type: 'none'}

export interface CompletionCommand {
  id: string
  aliases: string[]
  summary: string
  flags: CompletionFlag[]
  positionals: Positional[]
  /** For the arguments after `positionals` (commands that take a list). */
  rest: Positional
}

const ANY: Positional = {type: 'snapshot', filters: []}
const COMMITTED: Positional = {type: 'snapshot', filters: ['kind==committed']}
const NONE: Positional = {type: 'none'}
const MOUNTABLE: Positional = {type: 'snapshot', filters: ['kind==active', 'kind==view']}

/** Which positional arguments name existing snapshots, and of what kind; everything else completes to nothing. */
export const POSITIONALS: Record<string, {positionals: Positional[]; rest?: Positional}> = {
  batch: {positionals: [{type: 'file'}]},
  commit: {positionals: [NONE, {type: 'snapshot', filters: ['kind==active']}]},
  diff: {positionals: [ANY, COMMITTED]},
  info: {positionals: [ANY]},
  label: {positionals: [ANY]},
  mounts: {positionals: [{type: 'dir'}, MOUNTABLE]},
  prepare: {positionals: [NONE, COMMITTED]},
  view: {positionals: [NONE, COMMITTED]},
  rm: {positionals: [], rest: ANY},
  usage: {positionals: [], rest: ANY},
  unmount: {positionals: [{type: 'dir'}]},
  unpack: {positionals: [{type: 'file'}]},
}

/** Flag values that are paths or filter expressions, by flag name. */
export const FLAG_VALUES: Record<string, ValueKind> = {root: 'dir', target: 'dir', output: 'file', filter: 'filter', namespace: 'namespace'}

/** Starting points offered for --filter. */
export const FILTER_HINTS = ['kind==active', 'kind==view', 'kind==committed', 'name==', 'name~=', 'parent==', 'labels.']

/** What ctrsnap takes in place of a command. */
const TOP_FLAGS: [string, string][] = [['--help', 'show help'], ['-h', 'show help'], ['--version', 'show the version'], ['-v', 'show the version']]

/** Single-quote for both shells. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

function flagWords(f: CompletionFlag): string[] {
  return [`--${f.long}`, ...(f.char ? [`-${f.char}`] : [])]
}

function positionalSpec(p: Positional): string {
  if (p.type === 'snapshot') return `snapshot${p.filters.map(f => ` --filter ${f}`).join('')}`
  if (p.type === 'options') return `options ${p.values.join(' ')}`
  return p.type
}

/**
 * The flags that may stand before the command (src/cli/argv.ts), as the commands define them;
 * with its short name if any command has one (cleanup's --namespace has no -n, but before the
 * command -n is the namespace).
 */
function leadingFlags(cmds: readonly CompletionCommand[]): CompletionFlag[] {
  return LEADING_FLAGS.flatMap(name => {
    const defs = cmds.flatMap(c => c.flags).filter(f => f.long === name)
    return defs.find(f => f.char !== undefined) ?? defs[0] ?? []
  })
}

/** `case` arms shared by both scripts: their syntax is the same in bash and zsh. */
function caseArms(cmds: readonly CompletionCommand[], body: (c: CompletionCommand) => string): string {
  return cmds.map(c => `    ${[c.id, ...c.aliases].map(q).join('|')}) ${body(c)} ;;`).join('\n')
}

/** The function prefix (`_ctrsnap`) and the prefix of the variables the scan sets (`_ctrsnap_v`). */
function prefixes(bin: string): {fn: string; v: string} {
  const fn = `_${bin.replace(/\W/g, '_')}`
  return {fn, v: `${fn}_v`}
}

function sharedFunctions(bin: string, cmds: readonly CompletionCommand[]): string {
  const {fn, v} = prefixes(bin)
  const canon = caseArms(cmds, c => `printf '%s\\n' ${q(c.id)}`)
  const flagList = (fs: readonly CompletionFlag[]): string => q(fs.flatMap(f => flagWords(f).map(w => w + (f.takesValue ? '=' : ''))).join(' '))
  // Before the command (the '' arm): the flags that may lead, as in `ctrsnap --root DIR rm`.
  const flags = [`    '') printf '%s\\n' ${flagList(leadingFlags(cmds))} ;;`, caseArms(cmds, c => `printf '%s\\n' ${flagList(c.flags)}`)].join('\n')
  const valueArms = [{id: '', flags: leadingFlags(cmds)}, ...cmds]
    .flatMap(c =>
      c.flags
        .filter(f => f.takesValue)
        .flatMap(f => flagWords(f).map(w => `    ${q(`${c.id}:${w}`)}) printf '%s\\n' ${q(f.options ? `options ${f.options.join(' ')}` : f.value)} ;;`)),
    )
    .join('\n')
  const argArms = cmds
    .map(c => {
      const arms = c.positionals.map((p, i) => `${i}) printf '%s\\n' ${q(positionalSpec(p))} ;;`)
      return `    ${q(c.id)}) case $2 in ${arms.join(' ')} *) printf '%s\\n' ${q(positionalSpec(c.rest))} ;; esac ;;`
    })
    .join('\n')
  return `# Canonical command id for a name or alias.
${fn}_cmd() {
  case $1 in
${canon}
  esac
}

# The flags of a command; a trailing = marks a flag that takes a value.
${fn}_flags() {
  case $1 in
${flags}
  esac
}

# What the value of a flag completes to: "options A B", dir, file, filter or none.
${fn}_value() {
  case "$1:$2" in
${valueArms}
    *) printf '%s\\n' none ;;
  esac
}

# What positional argument number $2 (from 0) of command $1 completes to.
${fn}_arg() {
  case $1 in
${argArms}
    *) printf '%s\\n' none ;;
  esac
}

# Snapshot keys, with the --root/--snapshotter/--namespace of the command line and any ls flags given;
# with --namespaces first, the namespaces of the store instead.
${fn}_keys() {
  local bin=$1
  local -a opts list
  shift
  list=(ls -q)
  [[ $1 == --namespaces ]] && { list=(namespaces ls -q); shift; }
  [[ $bin == "~/"* ]] && bin=$HOME/\${bin#"~/"}
  [[ -n $${v}_root ]] && opts+=(--root "$${v}_root")
  [[ -n $${v}_snapshotter ]] && opts+=(--snapshotter "$${v}_snapshotter")
  [[ -n $${v}_namespace ]] && opts+=(--namespace "$${v}_namespace")
  "$bin" "\${list[@]}" "\${opts[@]}" "$@" 2>/dev/null
}
`
}

/**
 * Walk the words before the cursor: the command, the number of positionals
 * given, --root/--snapshotter, and whether the word at the cursor is a flag's
 * value. Written once in the subset of shell that bash and zsh read alike
 * (the caller supplies words as a 0-based list through "$@").
 */
function scanner(bin: string): string {
  const {fn, v} = prefixes(bin)
  return `# Sets ${v}_cmd, ${v}_pos, ${v}_root, ${v}_snapshotter, ${v}_namespace and ${v}_expect (the flag whose value the last word awaits).
${fn}_scan() {
  ${v}_cmd= ${v}_pos=0 ${v}_root= ${v}_snapshotter= ${v}_namespace= ${v}_expect=
  local w name flags dashdash=
  shift
  for w in "$@"; do
    if [[ -n $${v}_expect ]]; then
      [[ $w == = ]] && continue
      case $${v}_expect in
        --root) ${v}_root=$w ;;
        --snapshotter) ${v}_snapshotter=$w ;;
        --namespace|-n) ${v}_namespace=$w ;;
      esac
      ${v}_expect=
      continue
    fi
    if [[ -z $dashdash && $w == -* && $w != - ]]; then
      [[ $w == -- ]] && { dashdash=1; continue; }
      name=\${w%%=*}
      if [[ $w == *=* ]]; then
        case $name in
          --root) ${v}_root=\${w#*=} ;;
          --snapshotter) ${v}_snapshotter=\${w#*=} ;;
          --namespace|-n) ${v}_namespace=\${w#*=} ;;
        esac
      else
        flags=" $(${fn}_flags "$${v}_cmd") "
        [[ $flags == *" $name= "* ]] && ${v}_expect=$name
      fi
    elif [[ -z $${v}_cmd ]]; then
      # ctr's prefix, as in a pasted \`ctr snapshots ls\`.
      case $w in ${CTR_PREFIXES.join('|')}) continue ;; esac
      ${v}_cmd=$(${fn}_cmd "$w")
      [[ -z $${v}_cmd ]] && ${v}_cmd=-
    else
      ${v}_pos=$(( ${v}_pos + 1 ))
    fi
  done
}
`
}

export function bashScript(bin: string, cmds: readonly CompletionCommand[]): string {
  const {fn, v} = prefixes(bin)
  const names = cmds.flatMap(c => [c.id, ...c.aliases])
  return `# bash completion for ${bin}; install with:
#   ${bin} completion bash > /etc/bash_completion.d/${bin}
# or for one shell: source <(${bin} completion bash)
# Generated by \`${bin} completion bash\`: regenerate after upgrading.

${sharedFunctions(bin, cmds)}
${scanner(bin)}
# Add the words of $1 (newline-separated) that start with $2, quoted for the command line.
${fn}_reply() {
  local w
  while IFS= read -r w; do
    [[ -n $w && $w == "$2"* ]] && COMPREPLY+=("$(printf '%q' "$w")")
  done <<<"$1"
}

${fn}() {
  COMPREPLY=()
  local cur=\${COMP_WORDS[COMP_CWORD]} value=
  # COMP_WORDBREAKS splits --flag=value into --flag, =, value.
  [[ $cur == = ]] && cur=
  ${fn}_scan "\${COMP_WORDS[@]:0:COMP_CWORD}"
  if [[ -n $${v}_expect ]]; then
    value=$(${fn}_value "$${v}_cmd" "$${v}_expect")
  elif [[ $cur == -* ]]; then
    [[ -z $${v}_cmd ]] && { ${fn}_reply ${q([...TOP_FLAGS.map(([w]) => w), ...leadingFlags(cmds).flatMap(flagWords)].join('\n'))} "$cur"; return; }
    local f
    for f in $(${fn}_flags "$${v}_cmd"); do
      [[ $f == "$cur"* ]] && COMPREPLY+=("\${f%=}")
    done
    return
  elif [[ -z $${v}_cmd ]]; then
    ${fn}_reply ${q(names.join('\n'))} "$cur"
    return
  else
    value=$(${fn}_arg "$${v}_cmd" "$${v}_pos")
  fi
  case $value in
    options\\ *) ${fn}_reply "$(printf '%s\\n' \${value#options })" "$cur" ;;
    dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); compopt -o filenames 2>/dev/null ;;
    file) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); compopt -o filenames 2>/dev/null ;;
    filter) ${fn}_reply ${q(FILTER_HINTS.join('\n'))} "$cur"; compopt -o nospace 2>/dev/null ;;
    snapshot*) ${fn}_reply "$(${fn}_keys "\${COMP_WORDS[0]}" \${value#snapshot})" "$cur" ;;
    namespace) ${fn}_reply "$(${fn}_keys "\${COMP_WORDS[0]}" --namespaces)" "$cur" ;;
  esac
}

complete -F ${fn} ${bin}
`
}

export function zshScript(bin: string, cmds: readonly CompletionCommand[]): string {
  const {fn, v} = prefixes(bin)
  const described = (pairs: [string, string][]): string => pairs.map(([w, d]) => q(`${w.replace(/:/g, '\\:')}:${d}`)).join(' ')
  const commandPairs: [string, string][] = cmds.flatMap(c => [[c.id, c.summary] as [string, string], ...c.aliases.map(a => [a, `alias of ${c.id}`] as [string, string])])
  const flagDescs = cmds
    .map(c => `    ${q(c.id)}) descs=(${described(c.flags.flatMap(f => flagWords(f).map(w => [w, f.summary] as [string, string])))}) ;;`)
    .join('\n')
  return `#compdef ${bin}
# zsh completion for ${bin}; install with:
#   ${bin} completion zsh > "\${fpath[1]}/_${bin}"     (then restart zsh)
# or for one shell: source <(${bin} completion zsh)
# Generated by \`${bin} completion zsh\`: regenerate after upgrading.

${sharedFunctions(bin, cmds)}
${scanner(bin)}
${fn}_flagdescs() {
  case $1 in
${flagDescs}
  esac
}

${fn}() {
  local cur=\${words[CURRENT]} value= expect
  local -a descs keys
  ${fn}_scan "\${(@)words[1,CURRENT-1]}"
  expect=$${v}_expect
  if [[ -z $expect && $cur == --*=* ]]; then
    # --flag=value in one word: complete the value after the =.
    expect=\${cur%%=*}
    [[ " $(${fn}_flags "$${v}_cmd") " == *" $expect= "* ]] || expect=
    [[ -n $expect ]] && compset -P '*='
    cur=\${cur#*=}
  fi
  if [[ -n $expect ]]; then
    value=$(${fn}_value "$${v}_cmd" "$expect")
  elif [[ $cur == -* ]]; then
    if [[ -z $${v}_cmd ]]; then
      descs=(${described([...TOP_FLAGS, ...leadingFlags(cmds).flatMap(f => flagWords(f).map(w => [w, f.summary] as [string, string]))])})
    else
      ${fn}_flagdescs "$${v}_cmd"
    fi
    _describe -t flags flag descs
    return
  elif [[ -z $${v}_cmd ]]; then
    descs=(${described(commandPairs)})
    _describe -t commands command descs
    return
  else
    value=$(${fn}_arg "$${v}_cmd" "$${v}_pos")
  fi
  case $value in
    options\\ *) compadd -- \${=value#options } ;;
    dir) _files -/ ;;
    file) _files ;;
    filter) compadd -S '' -- ${FILTER_HINTS.map(q).join(' ')} ;;
    snapshot*) keys=("\${(@f)$(${fn}_keys "\${words[1]}" \${=value#snapshot})}"); compadd -- "\${keys[@]}" ;;
    namespace) keys=("\${(@f)$(${fn}_keys "\${words[1]}" --namespaces)}"); compadd -- "\${keys[@]}" ;;
  esac
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${bin}
fi
`
}
