import type {Info} from '../../core/snapshotter.js'

export interface TreeNode {
  name: string
  /** '' for a parent that is referenced but not listed. */
  kind: Info['kind'] | ''
  children: TreeNode[]
}

/**
 * ctr's snapshot tree: nodes in order of first appearance, where a parent
 * appears when its first child is walked; roots are the nodes without a
 * parent, in that order; children in walk order.
 */
export function buildTree(infos: readonly Info[]): TreeNode[] {
  const nodes: {node: TreeNode; parent: string}[] = []
  const index = new Map<string, {node: TreeNode; parent: string}>()
  const add = (name: string, parent: string, kind: TreeNode['kind']): {node: TreeNode; parent: string} => {
    let entry = index.get(name)
    if (!entry) {
      entry = {node: {name, kind, children: []}, parent}
      nodes.push(entry)
      index.set(name, entry)
    } else {
      entry.parent = parent
      entry.node.kind = kind
    }
    if (parent !== '') (index.get(parent) ?? add(parent, '', '')).node.children.push(entry.node)
    return entry
  }
  for (const info of infos) add(info.name, info.parent, info.kind)
  return nodes.filter(e => e.parent === '').map(e => e.node)
}

/** Two spaces per level, `\_` before every non-root name, one space before the name. */
export function renderTree(roots: readonly TreeNode[], decorate: (n: TreeNode) => string = n => n.name): string {
  let out = ''
  const walk = (n: TreeNode, level: number): void => {
    out += `${'  '.repeat(level)}${level > 0 ? '\\_' : ''} ${decorate(n)}\n`
    for (const c of n.children) walk(c, level + 1)
  }
  for (const r of roots) walk(r, 0)
  return out
}
