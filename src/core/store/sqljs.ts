import v8 from 'node:v8'
import type {SqlJsStatic} from 'sql.js'

let loading: Promise<SqlJsStatic> | undefined

/**
 * sql.js, initialised once per process. Liftoff-only keeps V8 from tiering the
 * wasm module up in the background, which otherwise delays process exit by
 * ~70 ms for a CLI that runs a handful of statements.
 */
export function loadSqlJs(): Promise<SqlJsStatic> {
  if (!loading) {
    v8.setFlagsFromString('--liftoff-only')
    loading = import('sql.js').then(m => m.default())
  }
  return loading
}
