// containerd's snapshotter conformance suite against the btrfs driver, with real mounts, on a loop btrfs.
import {snapshotterSuite} from './snapshotter.suite.js'

snapshotterSuite('btrfs')
