import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../actors/peer.ts'

/**
 * Sync over TCP on 127.0.0.1: a cold peer catching up on 10,000 records (each verified, decrypted, folded and
 * committed on arrival), the live latency from a create on one peer to a listener firing on the other, and ten
 * writers of 1,000 records each converging on all ten peers.
 */

const CATCH_UP_RECORDS = 10_000
const LATENCY_SAMPLES = 300
const WRITERS = 10
const RECORDS_PER_WRITER = 1000

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

export async function run (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'threads-sync-bench-'))
  const peers: Peer[] = []
  try {
    const writer = await createPeer({ path: join(root, 'writer'), snapshotEvery: 0 })
    peers.push(writer)
    const db = await writer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    const notes = db.collection('Note')
    for (let n = 0; n < CATCH_UP_RECORDS; n += 64) {
      await Promise.all(Array.from({ length: Math.min(64, CATCH_UP_RECORDS - n) }, (_, i) => notes.create([{ n: n + i, text: 'x'.repeat(200) }])))
    }

    const cold = await createPeer({ path: join(root, 'cold'), snapshotEvery: 0 })
    peers.push(cold)
    const started = performance.now()
    const coldDb = await cold.openStore(db.address!, { key: db.key })
    const took = performance.now() - started
    const caught = (await coldDb.collection('Note').find()).length
    console.log('\nCatch-up over TCP loopback')
    console.log(`  ${caught.toLocaleString('en')} records pulled, verified, folded and committed by a cold peer in ${took.toFixed(0)} ms: ${Math.round(caught / (took / 1000))} records/s`)

    const latencies: number[] = []
    const sentAt = new Map<number, number>()
    const stop = coldDb.listen({ collection: 'Note' }, change => {
      const n = change.entity?.probe as number | undefined
      const at = n === undefined ? undefined : sentAt.get(n)
      if (at !== undefined) latencies.push(performance.now() - at)
    })
    for (let n = 0; n < LATENCY_SAMPLES; n++) {
      sentAt.set(n, performance.now())
      await notes.create([{ probe: n }])
      const deadline = Date.now() + 5000
      while (latencies.length <= n && Date.now() < deadline) await new Promise(resolve => setImmediate(resolve))
    }
    stop()
    latencies.sort((a, b) => a - b)
    console.log(`  live latency, create on one peer to the listener on the other (${latencies.length} samples): ` +
      `p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms`)

    const writers: Peer[] = []
    for (let i = 0; i < WRITERS; i++) writers.push(await createPeer({ path: join(root, `writer-${i}`), snapshotEvery: 0 }))
    peers.push(...writers)
    const origin = await writers[0]!.newStore()
    await origin.registerSchema('Item', { type: 'object' })
    const stores = [origin]
    for (const peer of writers.slice(1)) stores.push(await peer.openStore(origin.address!, { key: origin.key }))
    for (const store of stores) await store.sync()
    const total = WRITERS * RECORDS_PER_WRITER
    const writing = performance.now()
    await Promise.all(stores.map(async (store, who) => {
      for (let n = 0; n < RECORDS_PER_WRITER; n += 16) {
        await Promise.all(Array.from({ length: Math.min(16, RECORDS_PER_WRITER - n) }, async (_, i) => await store.collection('Item').create([{ who, n: n + i }])))
      }
    }))
    const written = performance.now() - writing
    const deadline = Date.now() + 600_000
    let counts: number[] = []
    while (Date.now() < deadline) {
      // Reading 10,000 items from ten stores is itself work: look twice a second.
      counts = await Promise.all(stores.map(async store => (await store.collection('Item').find()).length))
      if (counts.every(count => count === total)) break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const convergence = performance.now() - writing
    const views = await Promise.all(stores.map(async store => JSON.stringify(await store.collection('Item').find())))
    const agree = counts.every(count => count === total) && views.every(view => view === views[0])
    console.log(`  ${WRITERS} writers × ${RECORDS_PER_WRITER.toLocaleString('en')} records each: written in ${written.toFixed(0)} ms, ${agree ? 'every peer holds the same' : 'NOT converged:'} ${total.toLocaleString('en')} items ${(convergence).toFixed(0)} ms after the first write${agree ? '' : ` (${counts.join(', ')})`}`)

    console.log('\nTargets')
    const rate = caught / (took / 1000)
    console.log(`  catch-up of 10,000 records ≥ 2,000 records/s        ${String(Math.round(rate)).padStart(8)}/s   ${rate >= 2000 ? 'met' : 'MISSED'}`)
    console.log(`  live latency p50 ≤ 5 ms                             ${percentile(latencies, 0.5).toFixed(2).padStart(8)} ms  ${percentile(latencies, 0.5) <= 5 ? 'met' : 'MISSED'}`)
    console.log(`  live latency p99 ≤ 25 ms                            ${percentile(latencies, 0.99).toFixed(2).padStart(8)} ms  ${percentile(latencies, 0.99) <= 25 ? 'met' : 'MISSED'}`)
  } finally {
    for (const peer of peers) await peer.close()
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.main) await run()
