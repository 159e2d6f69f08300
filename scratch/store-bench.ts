import { run } from '../spec/bench/store.bench.ts'
await run()
