import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {bashScript, FLAG_VALUES, POSITIONALS, zshScript, type CompletionCommand} from '../cli/format/completion.js'

export default class Completion extends BaseCommand<typeof Completion> {
  static override summary = 'Print a bash or zsh completion script.'
  static override description = `Completes commands, flags, flag values, snapshot keys (listed by \`ctrsnap ls -q\` with the --root, --snapshotter and --namespace on the command line) and namespace names (\`ctrsnap namespaces ls -q\`). Install for everyone with \`ctrsnap completion bash > /etc/bash_completion.d/ctrsnap\`, or for zsh \`ctrsnap completion zsh > "\${fpath[1]}/_ctrsnap"\`; or load it into the current shell with \`source <(ctrsnap completion bash)\`.`
  static override usage = 'completion bash|zsh'
  static override examples = [
    '<%= config.bin %> completion bash > /etc/bash_completion.d/<%= config.bin %>',
    'source <(<%= config.bin %> completion zsh)',
  ]

  static override args = {shell: Args.string({required: true, options: ['bash', 'zsh'], description: 'Shell to complete in.'})}

  async run(): Promise<void> {
    const cmds: CompletionCommand[] = this.config.commands
      // oclif lists each alias as a command of its own, with itself among its aliases.
      .filter(c => !c.hidden && !c.aliases.includes(c.id))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map(c => ({
        id: c.id,
        aliases: c.aliases,
        summary: c.summary ?? '',
        flags: Object.entries(c.flags)
          .filter(([, f]) => !f.hidden)
          .map(([long, f]) => ({
            long,
            char: f.char,
            summary: f.summary ?? f.description ?? '',
            takesValue: f.type === 'option',
            options: f.type === 'option' ? f.options : undefined,
            value: FLAG_VALUES[long] ?? 'none',
          })),
        positionals: POSITIONALS[c.id]?.positionals ?? Object.values(c.args).map(a => (a.options ? {type: 'options' as const, values: a.options} : {type: 'none' as const})),
        rest: POSITIONALS[c.id]?.rest ?? {type: 'none'},
      }))
    this.out(this.args.shell === 'zsh' ? zshScript(this.config.bin, cmds) : bashScript(this.config.bin, cmds))
  }
}
