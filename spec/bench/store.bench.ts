import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../actors/peer.ts'
import type { Entity } from '../../codecs/event-codec.ts'
import { Query } from '../../codecs/query.ts'
import { measure, measureAsync, measureConcurrent, median, perSecond, report } from './measure.ts'

/**
 * The store's paths with the targets the store is held to: single-entity create transactions, batched creates,
 * an indexed equality query over 100,000 entities (beside the same query scanning), reopening a store of
 * 100,000 events, and rebuilding views from the logs alone; beside them, what a snapshot costs.
 */

const SCHEMA: Entity = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 }, email: { type: 'string' }, city: { type: 'string' } },
  required: ['name', 'age']
}
const CITIES = ['Lisbon', 'Oslo', 'Quito', 'Hanoi', 'Accra', 'Lima', 'Perth', 'Turku']

function person (n: number): Entity {
  return { name: `person ${n}`, age: n % 90, email: `p${n}@example.org`, city: CITIES[n % CITIES.length]!, bio: 'x'.repeat(120) }
}

function verdict (name: string, met: boolean, figure: string): void {
  console.log(`  ${name.padEnd(52)} ${figure.padStart(18)}  ${met ? 'met' : 'MISSED'}`)
}

export async function run (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'threads-store-bench-'))
  let peer: Peer | undefined
  try {
    peer = await createPeer({ path: join(root, 'peer'), snapshotEvery: 0 })
    const db = await peer.newStore()
    await db.registerSchema('Person', SCHEMA, { indexes: [{ path: 'email', unique: true }, { path: 'city' }] })
    const people = db.collection('Person')
    let n = 0

    const single = await measureConcurrent('create 1 entity per transaction, 64 in flight', () => people.create([person(n++)]), 4000)
    const singleAwaited = await measureAsync('create 1 entity per transaction, awaited', () => people.create([person(n++)]), 300, 3)
    const batch = await measureConcurrent('create 100 entities per transaction, 8 in flight', () =>
      people.create(Array.from({ length: 100 }, () => person(n++))), 150, 8)
    report('Writes (per transaction)', [single, singleAwaited, batch])

    while (n < 100_000) await Promise.all(Array.from({ length: 10 }, () => people.create(Array.from({ length: 100 }, () => person(n++)))))
    const events = n + 1
    const indexed = Query.parse(Query.where('email').eq('p4242@example.org'))
    const scanned = Query.parse(Query.where('name').eq('person 4242'))
    const engineFind = (query: typeof indexed) => (): unknown => people.find(query)
    const lookups: number[] = []
    for (let i = 0; i < 200; i++) {
      const query = Query.parse(Query.where('email').eq(`p${(i * 7919) % 100_000}@example.org`))
      const start = performance.now()
      await people.find(query)
      lookups.push((performance.now() - start) * 1000)
    }
    const scans: number[] = []
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      await engineFind(scanned)()
      scans.push((performance.now() - start) * 1000)
    }
    report(`Queries over ${n.toLocaleString('en')} entities (${people.plan(indexed).using} vs ${people.plan(scanned).using})`, [
      { name: 'indexed equality query (unique index), median of 200', micros: median(lookups) },
      { name: 'same shape of query, unindexed scan, median of 5', micros: median(scans) },
      measure('indexed equality on a non-unique index (1/8 of entities)', () => people.plan(Query.where('city').eq('Oslo')), 200, 3)
    ])

    const fullSnapshotStart = performance.now()
    await db.snapshot()
    const fullSnapshotMs = performance.now() - fullSnapshotStart
    await peer.close()
    peer = undefined
    const reopenStart = performance.now()
    peer = await createPeer({ path: join(root, 'peer'), snapshotEvery: 0 })
    const reopened = await peer.store(db.id)
    await reopened.collection('Person').find(indexed)
    const reopenMs = performance.now() - reopenStart

    const restoreStart = performance.now()
    const restoredEvents = await reopened.rebuild({ from: 'snapshot' })
    const restoreMs = performance.now() - restoreStart

    // Like every other figure here, the median of rounds: one rebuild alone reads whatever the machine did then.
    const rebuildRounds: number[] = []
    let rebuiltEvents = 0
    for (let round = 0; round < 3; round++) {
      const rebuildStart = performance.now()
      rebuiltEvents = await reopened.rebuild()
      rebuildRounds.push(performance.now() - rebuildStart)
    }
    const rebuildMs = median(rebuildRounds)

    const reopenedPeople = reopened.collection('Person')
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 10 }, () => reopenedPeople.create(Array.from({ length: 100 }, () => person(n++)))))
    const nextStart = performance.now()
    await reopened.snapshot()
    const nextSnapshotMs = performance.now() - nextStart

    report('Reopening and rebuilding', [
      { name: `reopen a store of ${events.toLocaleString('en')} events and query it`, micros: reopenMs * 1000 },
      { name: `restore views from the snapshot (+${restoredEvents} later events)`, micros: restoreMs * 1000 },
      { name: `rebuild views from the logs alone (${rebuiltEvents.toLocaleString('en')} events), median of 3`, micros: rebuildMs * 1000 },
      { name: 'first snapshot: every view copied', micros: fullSnapshotMs * 1000 },
      { name: 'next snapshot, 10,000 creates later: what they touched', micros: nextSnapshotMs * 1000 }
    ])

    console.log('\nTargets')
    verdict('single-entity create transactions ≥ 2,500/s', perSecond(single.micros) >= 2500, `${perSecond(single.micros)}/s`)
    verdict('100 entities per transaction ≥ 50,000 entities/s', perSecond(batch.micros) * 100 >= 50_000, `${perSecond(batch.micros) * 100}/s`)
    verdict('indexed equality over 100,000 entities ≤ 1 ms median', median(lookups) <= 1000, `${(median(lookups) / 1000).toFixed(3)} ms`)
    verdict('reopen a store of 100,000 events ≤ 1 s', reopenMs <= 1000, `${reopenMs.toFixed(0)} ms`)
    verdict('rebuild from the log ≥ 50,000 events/s', rebuiltEvents / (rebuildMs / 1000) >= 50_000, `${Math.round(rebuiltEvents / (rebuildMs / 1000))}/s`)
  } finally {
    await peer?.close()
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.main) await run()
