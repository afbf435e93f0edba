import {Flags} from '@oclif/core'
import {BaseCommand, namespaceFlag} from '../cli/base-command.js'
import {cleanupJson, cleanupTable, cleanupText} from '../cli/format/cleanup.js'

export default class Cleanup extends BaseCommand<typeof Cleanup> {
  static override summary = 'Make disk and metadata agree again after crashes, kills and hand edits.'
  static override description = `Removes snapshot directories no record points to, temp directories of interrupted commands, mount records whose mount is gone, temp files of interrupted writes, layer locks left by killed unpacks, and the extract-<time>-<rand> sha256:<chainID> snapshots of killed unpacks (with their directories; an extract snapshot names its unpack in the label ctrsnap.io/extract.owner, pid and start time, and is removed only once that process is gone). Never touches a mounted directory or one with anything mounted inside it (it says which mount), one a live process is still building, or any other snapshot that has a record. With --dry-run, lists each with its size, and what it skips and why: on a terminal as a table, otherwise one line per item (the form scripts read). Safe to run at any time; interrupted (SIGINT, SIGTERM), it stops between two removals and leaves the rest to the next run.

Works on every namespace of the store at once: a directory is an orphan only when no snapshot of any namespace has its id, and extract snapshots of killed unpacks are found in every namespace.`
  static override usage = 'cleanup [--dry-run] [--json]'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> cleanup --dry-run', '<%= config.bin %> cleanup']
  static override flags = {
    'dry-run': Flags.boolean({char: 'n', summary: 'List what would be removed, with sizes; change nothing.', default: false}),
    // Here -n is --dry-run, as it always was; before the command (`ctrsnap -n NS cleanup`) it is still the namespace.
    namespace: {...namespaceFlag, char: undefined, summary: 'Accepted and ignored: cleanup works on every namespace of the store.'},
  }

  async run(): Promise<void> {
    const dryRun = this.flags['dry-run']
    const plan = await this.snapshotter().cleanup({dryRun})
    if (this.jsonEnabled()) return this.json(cleanupJson(plan, dryRun))
    this.out(process.stdout.isTTY && process.env.TERM !== 'dumb' ? await cleanupTable(plan, dryRun) : cleanupText(plan, dryRun))
  }
}
