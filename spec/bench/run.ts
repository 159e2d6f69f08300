import { cpus } from 'node:os'
import { run as runLog } from './log.bench.ts'
import { run as runStore } from './store.bench.ts'
import { run as runSync } from './sync.bench.ts'
import { run as runAccess } from './access.bench.ts'

/** `npm run bench`: every benchmark, one after another, with the machine it ran on. */
console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}`)
console.log('\n== Log ==')
await runLog()
console.log('\n== Store ==')
await runStore()
console.log('\n== Sync ==')
await runSync()
console.log('\n== Invites and access control ==')
await runAccess()
