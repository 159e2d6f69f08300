import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../actors/peer.ts'
const root = await mkdtemp(join(tmpdir(), 'lat-'))
const a = await createPeer({ path: join(root, 'a') })
const db = await a.newStore()
await db.registerSchema('Note', { type: 'object' })
const b = await createPeer({ path: join(root, 'b') })
const dbB = await b.openStore(db.address!, { key: db.key })
const commit: number[] = [], total: number[] = []
let resolveSeen: (() => void) | undefined
dbB.listen({ collection: 'Note' }, () => { resolveSeen?.() })
for (let i = 0; i < 200; i++) {
  const seen = new Promise<void>(r => { resolveSeen = r })
  const t0 = performance.now()
  await db.collection('Note').create([{ i }])
  const t1 = performance.now()
  await seen
  const t2 = performance.now()
  commit.push(t1 - t0); total.push(t2 - t0)
}
const p = (xs: number[], q: number) => xs.sort((x, y) => x - y)[Math.floor(xs.length * q)]!.toFixed(2)
console.log('commit p50', p(commit, 0.5), 'total p50', p(total, 0.5), 'p99', p(total, 0.99))
await a.close(); await b.close()
