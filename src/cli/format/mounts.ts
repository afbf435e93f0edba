import type {Mount} from '../../core/snapshotter.js'

/** ctr's `mount -t TYPE SOURCE TARGET -o OPTS` lines; `-o` is left out when there are no options (containerd#12190). */
export function mountLines(target: string, mounts: readonly Mount[]): string {
  return mounts.map(m => `mount -t ${m.type} ${m.source} ${target}${m.options.length > 0 ? ` -o ${m.options.join(',')}` : ''}\n`).join('')
}
