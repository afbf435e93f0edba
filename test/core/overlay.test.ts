// containerd's snapshotter conformance suite against the overlayfs driver, with real mounts.
import {snapshotterSuite} from './snapshotter.suite.js'

snapshotterSuite('overlayfs')
