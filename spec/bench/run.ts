import { cpus } from 'node:os'
import { run as runLog } from './log.bench.ts'

/** `npm run bench`: every benchmark, one after another, with the machine it ran on. */
console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}`)
await runLog()
