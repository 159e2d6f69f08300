import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPeer, type Peer } from '../../actors/peer.ts'
import { oneStoreOn, viewsAgree } from '../helpers/shared-store.ts'

/**
 * Sync over TCP on 127.0.0.1: a cold peer catching up on 10,000 records (each verified, decrypted, folded and
 * committed on arrival), the live latency from a create on one peer to a listener firing on the other, and ten
 * writers of 1,000 records each converging on all ten peers.
 */

const CATCH_UP_RECORDS = 10_000
const LATENCY_SAMPLES = 300
const LATENCY_WARM_UP = 700
const WRITERS = 10
const RECORDS_PER_WRITER = 1000

/**
 * Creates probes one at a time and measures from just before each create to the moment a peer in a child process
 * hears it; both ends read the same wall clock. A probe not heard within 5 s is counted as missed. The receiver is a
 * fresh process, so its first few hundred probes run code the JIT has not compiled yet: the first LATENCY_SAMPLES
 * are reported apart (`cold`), then LATENCY_WARM_UP more warm it, and the LATENCY_SAMPLES after them are a running
 * peer's latency (`warm`), which the targets are held to. The writer sleeps until the receiver's report comes: a
 * writer polling for it would keep a core busy that the receiver needs.
 */
async function liveLatency (address: string, key: string, create: (probe: number) => Promise<void>): Promise<{ cold: number[], warm: number[], missed: number }> {
  const receiver = fork(fileURLToPath(new URL('./latency-receiver.ts', import.meta.url)), [address, key], { stdio: 'inherit' })
  let gone = false
  const exited = new Promise<void>(resolve => receiver.once('exit', () => { gone = true; resolve() }))
  const heard = new Map<number, number>()
  let ready = false
  let wake: (() => void) | undefined
  receiver.on('message', (message: { ready?: true, probe?: number, at?: number }) => {
    if (message.ready === true) ready = true
    if (message.probe !== undefined && message.at !== undefined) {
      heard.set(message.probe, message.at)
      wake?.()
    }
  })
  /** When the receiver heard `probe`, waiting up to `withinMs` for its report; undefined if it never came. */
  const hearOf = async (probe: number, withinMs: number): Promise<number | undefined> => {
    const waitUntil = Date.now() + withinMs
    while (!heard.has(probe) && Date.now() < waitUntil) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, waitUntil - Date.now())
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    wake = undefined
    return heard.get(probe)
  }
  try {
    const deadline = Date.now() + 30_000
    while (!ready && !gone && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    if (!ready) throw new Error(`the latency receiver never opened the store${gone ? ': it exited' : ''}`)
    const cold: number[] = []
    const warm: number[] = []
    let missed = 0
    const probes = LATENCY_SAMPLES + LATENCY_WARM_UP + LATENCY_SAMPLES
    // Two minutes for every probe at most: the probes left unsent then are counted as missed.
    const stopAt = Date.now() + 120_000
    for (let probe = 0; probe < probes; probe++) {
      if (Date.now() > stopAt) {
        missed += probes - probe
        break
      }
      const sent = performance.timeOrigin + performance.now()
      await create(probe)
      const at = await hearOf(probe, 5000)
      if (at === undefined) missed++
      else if (probe < LATENCY_SAMPLES) cold.push(at - sent)
      else if (probe >= probes - LATENCY_SAMPLES) warm.push(at - sent)
    }
    return { cold: cold.sort((a, b) => a - b), warm: warm.sort((a, b) => a - b), missed }
  } finally {
    // The receiver stops when its parent disconnects; one that does not within 10 s is killed.
    if (receiver.connected) receiver.disconnect()
    const killing = setTimeout(() => { receiver.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(killing)
  }
}

/** The value at `p` of `sorted`; NaN for no values, which meets no target. */
function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
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

    // The floor of the read side: the same records verified, decrypted, decoded, folded and committed by a peer
    // that takes them from memory instead of the network, a page at a time as a pull hands them over.
    const local = await createPeer({ path: join(root, 'local'), snapshotEvery: 0, network: false })
    peers.push(local)
    const localDb = await local.openStore(db.id, { key: db.key })
    const held = writer.logs.records(db.id, db.logId!, { limit: Number.MAX_SAFE_INTEGER }).map(record => record.blocks)
    const floorStarted = performance.now()
    for (let page = 0; page < held.length; page += 1000) {
      await Promise.all(held.slice(page, page + 1000).map(async blocks => { await localDb.ingest(db.logId!, blocks) }))
    }
    const floorRate = held.length / ((performance.now() - floorStarted) / 1000)
    console.log(`  the read side's floor in the same run: ${held.length.toLocaleString('en')} records verified, decrypted, folded and committed from memory at ${Math.round(floorRate)} records/s`)
    const rate = caught / (took / 1000)
    console.log(`  catch-up over the network runs at ${((rate / floorRate) * 100).toFixed(0)} % of that floor`)

    // The receiver runs in a process of its own, as a real peer does: in this one it would share the event loop
    // with the writer, and each would wait on the other. The probes go on a thread of their own, which the peers
    // of the catch-up (in this process) do not hold: the writer and the receiver are its only peers.
    const probed = await writer.newStore()
    await probed.registerSchema('Note', { type: 'object' })
    const probes = probed.collection('Note')
    const { cold: coldLatencies, warm: latencies, missed } = await liveLatency(probed.address!, probed.key.toString(), async probe => { await probes.create([{ probe }]) })
    console.log(`  live latency, create on one peer to the listener on another, in its own process (${missed} probes missed):`)
    console.log(`    its first ${coldLatencies.length} probes, the receiver's code cold: p50 ${percentile(coldLatencies, 0.5).toFixed(2)} ms, p99 ${percentile(coldLatencies, 0.99).toFixed(2)} ms`)
    console.log(`    ${latencies.length} probes after ${LATENCY_WARM_UP} more, warm: p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms`)

    const writers: Peer[] = []
    for (let i = 0; i < WRITERS; i++) writers.push(await createPeer({ path: join(root, `writer-${i}`), snapshotEvery: 0 }))
    peers.push(...writers)
    const stores = await oneStoreOn(writers, 'Item')
    const total = WRITERS * RECORDS_PER_WRITER
    const writing = performance.now()
    await Promise.all(stores.map(async (store, who) => {
      for (let n = 0; n < RECORDS_PER_WRITER; n += 16) {
        await Promise.all(Array.from({ length: Math.min(16, RECORDS_PER_WRITER - n) }, async (_, i) => await store.collection('Item').create([{ who, n: n + i }])))
      }
    }))
    const written = performance.now() - writing
    const deadline = Date.now() + 600_000
    let agree = await viewsAgree(stores, 'Item', total)
    while (!agree && Date.now() < deadline) {
      // Reading 10,000 items from ten stores is itself work: look twice a second.
      await new Promise(resolve => setTimeout(resolve, 500))
      agree = await viewsAgree(stores, 'Item', total)
    }
    const convergence = performance.now() - writing
    const counts = agree ? [] : await Promise.all(stores.map(async store => (await store.collection('Item').find()).length))
    console.log(`  ${WRITERS} writers × ${RECORDS_PER_WRITER.toLocaleString('en')} records each: written in ${written.toFixed(0)} ms, ${agree ? 'every peer holds the same' : 'NOT converged:'} ${total.toLocaleString('en')} items ${(convergence).toFixed(0)} ms after the first write${agree ? '' : ` (${counts.join(', ')})`}`)

    console.log('\nTargets')
    // A catch-up that did not bring every record, or a probe never heard, meets nothing.
    const whole = caught === CATCH_UP_RECORDS
    const heardAll = missed === 0
    console.log(`  catch-up of 10,000 records ≥ 2,000 records/s        ${String(Math.round(rate)).padStart(8)}/s   ${whole && rate >= 2000 ? 'met' : 'MISSED'}`)
    console.log(`  catch-up ≥ 60 % of the read-side floor              ${`${((rate / floorRate) * 100).toFixed(0)} %`.padStart(8)}     ${whole && rate >= 0.6 * floorRate ? 'met' : 'MISSED'}`)
    console.log(`  live latency p50 ≤ 5 ms (warm)                      ${percentile(latencies, 0.5).toFixed(2).padStart(8)} ms  ${heardAll && percentile(latencies, 0.5) <= 5 ? 'met' : 'MISSED'}`)
    console.log(`  live latency p99 ≤ 25 ms (warm)                     ${percentile(latencies, 0.99).toFixed(2).padStart(8)} ms  ${heardAll && percentile(latencies, 0.99) <= 25 ? 'met' : 'MISSED'}`)
  } finally {
    for (const peer of peers) await peer.close()
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.main) await run()
