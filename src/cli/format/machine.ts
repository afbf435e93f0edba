import type {Info, Mount, Usage} from '../../core/snapshotter.js'
import {sortedLabels} from './json.js'
import type {TreeNode} from './tree.js'

// The documented --json shapes: lower-camel keys, stable across releases.
// Text output stays ctr's; these are for programs.

export interface SnapshotJson {
  name: string
  parent: string | null
  kind: Info['kind']
  labels: Record<string, string>
  created: string
  updated: string
}

export function infoJson(info: Info): SnapshotJson {
  return {name: info.name, parent: info.parent || null, kind: info.kind, labels: sortedLabels(info.labels), created: info.created, updated: info.updated}
}

export interface UsageJson {
  name: string
  size: number
  inodes: number
}

export function usageJson(name: string, u: Usage): UsageJson {
  return {name, size: u.size, inodes: u.inodes}
}

export interface MountJson {
  type: string
  source: string
  target: string | null
  options: string[]
}

export function mountJson(m: Mount, target: string | null): MountJson {
  return {type: m.type, source: m.source, target, options: m.options}
}

export interface TreeJson {
  name: string
  kind: Info['kind'] | null
  children: TreeJson[]
}

export function treeJson(n: TreeNode): TreeJson {
  return {name: n.name, kind: n.kind || null, children: n.children.map(treeJson)}
}
