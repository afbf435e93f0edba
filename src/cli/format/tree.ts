import {Chalk} from 'chalk'
import type {Info, Usage} from '../../core/snapshotter.js'
import {humanSize} from './table.js'

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

/**
 * Whether to colour output for a stream: FORCE_COLOR forces it on (or off
 * with 0/false), as in Node and chalk, even on a pipe; otherwise only on a
 * TTY, and not with NO_COLOR (any non-empty value) or TERM=dumb.
 */
export function colorWanted(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined) return force !== '0' && force !== 'false'
  if (env.NO_COLOR) return false
  return isTTY === true && env.TERM !== 'dumb'
}

/** One colour per kind; a parent that is referenced but not listed is dim. */
export function kindColorizer(enabled: boolean): (n: TreeNode, text: string) => string {
  if (!enabled) return (_n, text) => text
  const c = new Chalk({level: 1})
  const paint: Record<TreeNode['kind'], (s: string) => string> = {Committed: c.blue, Active: c.green, View: c.yellow, '': c.dim}
  return (n, text) => paint[n.kind](text)
}

/** ` (4.0 KiB)`: a node's own size, shown beside its name; nothing for an unlisted parent. */
export function sizeSuffix(usage: Usage | undefined): string {
  return usage ? ` (${humanSize(usage.size)})` : ''
}

const DOT_FILL: Record<TreeNode['kind'], string> = {Committed: '#c6dbef', Active: '#c7e9c0', View: '#fdd0a2', '': 'white'}

/**
 * A Graphviz digraph of the chains: an edge from each parent to each child.
 * Node ids are generated (n0, n1, ...) and names go in HTML labels, with
 * entities for & < > ", so no snapshot name can break the syntax (DOT's
 * quoted strings cannot end in a backslash).
 */
export function renderDot(roots: readonly TreeNode[], usage?: ReadonlyMap<string, Usage>): string {
  const html = (s: string): string => s.replace(/[&<>"]/g, ch => `&#${ch.charCodeAt(0)};`)
  const ids = new Map<TreeNode, string>()
  const nodes: string[] = []
  const edges: string[] = []
  const walk = (n: TreeNode): string => {
    let id = ids.get(n)
    if (id) return id
    id = `n${ids.size}`
    ids.set(n, id)
    const u = usage?.get(n.name)
    const detail = [n.kind || 'not listed', ...(u ? [humanSize(u.size)] : [])].map(html).join(' · ')
    const style = n.kind ? 'filled' : 'dashed'
    nodes.push(`  ${id} [label=<<b>${html(n.name)}</b><br/>${detail}>, style="${style}", fillcolor="${DOT_FILL[n.kind]}"];`)
    for (const c of n.children) edges.push(`  ${id} -> ${walk(c)};`)
    return id
  }
  roots.forEach(walk)
  return ['digraph snapshots {', '  node [shape=box, fontname="monospace"];', ...nodes, ...edges, '}', ''].join('\n')
}
