// The least any sql.js-backed command can cost: import sql.js, initialise its
// wasm (liftoff only, as src/core/store/sqljs.ts does), open an empty database
// and run one statement. No oclif.
import v8 from 'node:v8'
v8.setFlagsFromString('--liftoff-only')
const {default: init} = await import('sql.js')
const SQL = await init()
new SQL.Database().exec('SELECT 1')
