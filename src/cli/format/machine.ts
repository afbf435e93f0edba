import type {Info, Mount, Usage} from '../../core/snapshotter.js'
import {sortedLabels} from './json.js'
import type {TreeNode} from './tree.js'

// The documented --json shapes: lower-camel keys, stable across releases.
// Text output stays ctr's; these are for programs. Each shape has a JSON
// Schema in schemas/ (test/cli/json.test.ts checks real output against it):
// ls, usage, tree and mounts print arrays; info prints one object, the same
// shape as an ls element; label prints the snapshot's labels as one object
// (key -> value, sorted), the labels of info's object.

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

/** usage --total: the last element; `name` null so no snapshot key can be mistaken for it. */
export interface UsageTotalJson {
  name: null
  total: true
  size: number
  inodes: number
}

export function usageTotalJson(u: Usage): UsageTotalJson {
  return {name: null, total: true, size: u.size, inodes: u.inodes}
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
  /** null for a parent that is referenced but not listed. */
  kind: Info['kind'] | null
  /** Only with --usage (null for an unlisted parent). */
  size?: number | null
  inodes?: number | null
  children: TreeJson[]
}

export function treeJson(n: TreeNode, usage?: ReadonlyMap<string, Usage>): TreeJson {
  const u = usage?.get(n.name)
  return {
    name: n.name,
    kind: n.kind || null,
    ...(usage ? {size: u?.size ?? null, inodes: u?.inodes ?? null} : {}),
    children: n.children.map(c => treeJson(c, usage)),
  }
}
