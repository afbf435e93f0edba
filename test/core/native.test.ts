// containerd's snapshotter conformance suite against the native driver, with real mounts.
import {snapshotterSuite} from './snapshotter.suite.js'

snapshotterSuite('native')
