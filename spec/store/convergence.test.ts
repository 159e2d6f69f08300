import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { jsonPatchCodec, parseRecordBody, type Entity, type EntityEvent, type JsonValue } from '../../codecs/event-codec.ts'
import type { ThreadId } from '../../codecs/thread-id.ts'
import type { ThreadKey } from '../../codecs/thread-key.ts'
import { compareEventKeys, type EventKey } from '../../storage/event-store.ts'
import { createLogStore, type LogStore, type StoredRecord } from '../../storage/log-store.ts'
import { createStoreEngine, type Change, type StoreEngine } from '../../storage/store-engine.ts'
import { UniqueViolationError } from '../../storage/errors.ts'
import type { Storage } from '../../storage/storage.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { seededRandom } from '../helpers/seeded-random.ts'
import { tempStorage, type TempStorage } from '../helpers/temp-storage.ts'

/**
 * Convergence, as a property: peers that hold the same records show byte-identical views, whatever order the
 * records arrived in, and those views are the fold of every event in key (HLC) order.
 */

const COLLECTION = 'Item'
const IDS = Array.from({ length: 10 }, (_, i) => `item-${i}`)
const SCHEMA: Entity = { type: 'object', properties: { _id: { type: 'string' }, n: { type: 'number' } } }
// Names are unique: writers that have not heard of each other can take the same one, and every peer must then
// list both holders the same way.
const INDEXES = [{ path: 'n' }, { path: 'name', unique: true }]
/** Enough names that most commits take a free one, few enough that writers unaware of each other share some. */
const NAMES = Array.from({ length: 24 }, (_, i) => `name-${i}`)

interface Rng {
  next (): number
  int (n: number): number
  pick<T> (items: readonly T[]): T
}

function rngOf (seed: number): Rng {
  const next = seededRandom(seed)
  return {
    next,
    int: n => Math.floor(next() * n),
    pick: items => items[Math.floor(next() * items.length)]!
  }
}

interface TestPeer {
  readonly temp: TempStorage
  readonly storage: Storage
  readonly logs: LogStore
  readonly engine: StoreEngine
  /** The peer's own log, for writers. */
  logId: string
}

const temps: TempStorage[] = []
after(async () => {
  for (const temp of temps) await temp.dispose()
})

async function openPeer (now?: () => number): Promise<TestPeer> {
  const temp = await tempStorage('threads-convergence-')
  temps.push(temp)
  const logs = createLogStore({ storage: temp.storage, now })
  const engine = createStoreEngine({ storage: temp.storage, logs })
  return { temp, storage: temp.storage, logs, engine, logId: '' }
}

async function disposePeers (peers: readonly TestPeer[]): Promise<void> {
  for (const peer of peers) {
    const at = temps.indexOf(peer.temp)
    if (at !== -1) temps.splice(at, 1)
    await peer.temp.dispose()
  }
}

/** Every entry under `[kind, tid]` of the views database, for kinds v (views), c (definitions), x and u (indexes). */
function dumpViews (storage: Storage, threadId: ThreadId, kinds: readonly string[] = ['v', 'c', 'x', 'u']): string {
  const thread = createThreadNumbers(storage).of(threadId)
  const db = storage.valueDatabase<unknown>('views')
  const out: unknown[] = []
  for (const kind of kinds) {
    for (const { key, value } of db.getRange({ start: [kind, thread] })) {
      const parts = key as unknown[]
      if (parts[0] !== kind || parts[1] !== thread) break
      out.push([parts, value])
    }
  }
  return JSON.stringify(out)
}

/** The fold of every event of every given log, sorted by key, per entity: what every peer must show. */
function expectedFold (writers: readonly TestPeer[], threadId: ThreadId): Map<string, { doc?: Entity, at: EventKey }> {
  const all: Array<{ key: EventKey, event: EntityEvent }> = []
  for (const { logs: source, logId } of writers) {
    for (const record of source.records(threadId, logId)) {
      const content = source.content(record)
      parseRecordBody(content.body).events.forEach((event, index) => {
        if (event.type !== 'collection') all.push({ key: [content.time!.wall, content.time!.counter, logId, index], event })
      })
    }
  }
  all.sort((a, b) => compareEventKeys(a.key, b.key))
  const out = new Map<string, { doc?: Entity, at: EventKey }>()
  for (const { key, event } of all) {
    const doc = jsonPatchCodec.apply(out.get(event.id)?.doc, event)
    out.set(event.id, doc === undefined ? { at: key } : { doc, at: key })
  }
  return out
}

function assertMatchesFold (peer: TestPeer, threadId: ThreadId, expected: Map<string, { doc?: Entity, at: EventKey }>, label: string): void {
  const db = peer.storage.valueDatabase<unknown>('views')
  for (const id of new Set([...IDS, ...expected.keys()])) {
    const want = expected.get(id)
    const stored = db.get(['v', createThreadNumbers(peer.storage).of(threadId), COLLECTION, id]) as { doc?: Entity, at: EventKey } | undefined
    if (want === undefined) {
      assert.equal(stored, undefined, `${label}: ${id} was never written`)
      continue
    }
    assert.deepEqual(stored?.doc, want.doc, `${label}: ${id} is the key-order fold`)
    assert.deepEqual(stored?.at, want.at, `${label}: ${id} was folded up to its latest event`)
  }
}

/** Delivers records to a peer: each log stays in order, the logs interleave at random. */
async function deliver (peer: TestPeer, threadId: ThreadId, perLog: ReadonlyArray<readonly StoredRecord[]>, rng: Rng): Promise<void> {
  const cursors = perLog.map(() => 0)
  for (;;) {
    const open = perLog.map((_, i) => i).filter(i => cursors[i]! < perLog[i]!.length)
    if (open.length === 0) return
    const log = rng.pick(open)
    const record = perLog[log]![cursors[log]!++]!
    const checked = await peer.logs.check(threadId, record.logId, record.blocks)
    await peer.storage.transaction(() => peer.engine.ingestWithin(checked))
  }
}

async function shareThread (peers: readonly TestPeer[], threadId: ThreadId, key: ThreadKey, writers: readonly TestPeer[]): Promise<void> {
  for (const peer of peers) {
    if (!peer.logs.hasThread(threadId)) await peer.logs.addThread(threadId, key)
    for (const writer of writers) {
      if (writer === peer) continue
      await peer.logs.addLog(threadId, writer.logs.getLog(threadId, writer.logId).publicKey)
    }
  }
}

function randomValue (rng: Rng, depth = 0): JsonValue {
  switch (rng.int(depth > 1 ? 4 : 6)) {
    case 0: return rng.int(100)
    case 1: return rng.pick(['a', 'b', 'c', 'déjà', ''])
    case 2: return rng.next() < 0.5
    case 3: return rng.int(8) / 4
    case 4: return Array.from({ length: rng.int(3) }, () => randomValue(rng, depth + 1))
    default: return { z: randomValue(rng, depth + 1), a: randomValue(rng, depth + 1) }
  }
}

function randomEntity (rng: Rng, id: string): Entity {
  const entity: Entity = { _id: id, n: rng.int(20) }
  // Keys in no particular order: views must store them canonically whatever order a writer used.
  for (const field of ['zeta', 'name', 'tags', 'nested', 'alpha']) {
    if (rng.next() < 0.5) entity[field] = field === 'name' ? rng.pick(NAMES) : randomValue(rng)
  }
  return entity
}

/** A random change to `id` that is valid against the writer's current view of it. */
function randomChange (rng: Rng, current: Entity | undefined, id: string): Change {
  if (current === undefined) return { type: 'create', collection: COLLECTION, entity: randomEntity(rng, id) }
  const roll = rng.int(10)
  if (roll < 3) return { type: 'save', collection: COLLECTION, entity: randomEntity(rng, id) }
  if (roll < 4) return { type: 'delete', collection: COLLECTION, id }
  if (roll < 5) return { type: 'put', collection: COLLECTION, entity: { ...current, n: rng.int(20) } }
  const bump = rng.int(5) + 1
  const tag = rng.pick(['x', 'y', 'z'])
  const field = rng.pick(['zeta', 'alpha', 'name'])
  const drop = rng.next() < 0.3
  return {
    type: 'update',
    collection: COLLECTION,
    id,
    recipe: draft => {
      draft.n = (typeof draft.n === 'number' ? draft.n : 0) + bump
      if (Array.isArray(draft.tags)) {
        if (drop && draft.tags.length > 0) draft.tags.pop()
        else draft.tags.push(tag)
      } else {
        draft.tags = [tag]
      }
      if (drop) delete draft[field]
      else draft[field] = field === 'name' ? rng.pick(NAMES) : tag
    }
  }
}

interface Scenario {
  threadId: ThreadId
  writers: TestPeer[]
  /** Each writer's own log, in order. */
  perLog: StoredRecord[][]
  /** How many records of writer j's log writer i already ingested. */
  seen: number[][]
  /** Commits refused for a name the writer saw taken, out of `commits`. */
  refused: number
  commits: number
}

/** Three writers commit random changes, on clocks that interleave and collide, syncing with each other now and then. */
async function writeScenario (seed: number, commits: number): Promise<Scenario> {
  const rng = rngOf(seed)
  let tick = 1_000_000
  const skews = [0, 1, 2].map(() => rng.int(7) - 3)
  const writers = await Promise.all(skews.map(skew => openPeer(() => tick + skew)))
  const thread = await writers[0]!.logs.createThread()
  const threadId = thread.id
  for (const writer of writers.slice(1)) await writer.logs.addThread(threadId, thread.key)
  for (const writer of writers) writer.logId = (await writer.logs.createLog(threadId)).id
  await shareThread(writers, threadId, thread.key, writers)

  const seen = writers.map(() => writers.map(() => 0))
  const syncFrom = async (to: number, from: number, upTo: number): Promise<void> => {
    const source = writers[from]!
    for (const record of source.logs.records(threadId, source.logId, { from: seen[to]![from]! + 1, limit: upTo })) {
      const checked = await writers[to]!.logs.check(threadId, record.logId, record.blocks)
      await writers[to]!.storage.transaction(() => writers[to]!.engine.ingestWithin(checked))
      seen[to]![from]!++
    }
  }

  const first = writers[0]!
  await first.storage.transaction(() => first.engine.commitWithin(threadId, first.logId, [
    { type: 'collection', collection: COLLECTION, schema: SCHEMA, indexes: INDEXES }
  ]))
  for (let w = 1; w < writers.length; w++) await syncFrom(w, 0, 1)

  let made = 0
  let refused = 0
  for (let step = 0; step < commits; step++) {
    tick += rng.int(3)
    const w = rng.int(writers.length)
    const writer = writers[w]!
    if (rng.next() < 0.25) {
      // A partial sync: some records of another writer's log, in order.
      const from = (w + 1 + rng.int(writers.length - 1)) % writers.length
      await syncFrom(w, from, 1 + rng.int(3))
      continue
    }
    const ids = [...IDS].sort(() => rng.next() - 0.5).slice(0, 1 + rng.int(3))
    const changes = ids.map(id => randomChange(rng, writer.engine.get(threadId, COLLECTION, id), id))
    // A name this writer already sees taken is refused, and the commit changes nothing.
    made++
    await writer.storage.transaction(() => writer.engine.commitWithin(threadId, writer.logId, changes)).catch((error: unknown) => {
      if (!(error instanceof UniqueViolationError)) throw error
      refused++
    })
  }
  const perLog = writers.map(writer => writer.logs.records(threadId, writer.logId))
  return { threadId, writers, perLog, seen, refused, commits: made }
}

describe('convergence', () => {
  const SEEDS = Array.from({ length: 20 }, (_, i) => 0x5eed + i * 7919)

  for (const seed of SEEDS) {
    it(`seed ${seed}: fresh peers, writers and rebuilds all show the key-order fold`, async () => {
      const rng = rngOf(seed ^ 0xa5a5)
      const { threadId, writers, perLog, seen, refused, commits } = await writeScenario(seed, 36)
      assert.ok(refused <= commits / 4, `${refused} of ${commits} commits refused for a taken name: too few changes left to test`)
      const thread = writers[0]!.logs.getThread(threadId)
      const expected = expectedFold(writers, threadId)

      const fresh = [await openPeer(), await openPeer()]
      await shareThread(fresh, threadId, thread.key, writers)
      for (const peer of fresh) await deliver(peer, threadId, perLog, rng)
      const reference = dumpViews(fresh[0]!.storage, threadId)
      assert.equal(dumpViews(fresh[1]!.storage, threadId), reference, 'the fresh peers agree byte for byte')
      assertMatchesFold(fresh[0]!, threadId, expected, 'fresh peer')

      // Each writer takes in what it has not seen yet of the others' logs.
      for (let w = 0; w < writers.length; w++) {
        const missing = perLog.map((records, from) => from === w ? [] : records.slice(seen[w]![from]!))
        await deliver(writers[w]!, threadId, missing, rng)
        assert.equal(dumpViews(writers[w]!.storage, threadId), reference, `writer ${w} agrees with the fresh peers`)
      }

      // A rebuild from the logs alone changes nothing anywhere.
      for (const peer of [...fresh, ...writers]) {
        await peer.engine.rebuild(threadId)
        assert.equal(dumpViews(peer.storage, threadId), reference, 'a rebuild reproduces the views')
      }
      await disposePeers([...fresh, ...writers])
    })
  }

  it('re-folds an entity when an event arrives in the past of what it already folded', async () => {
    let wallA = 1_000
    let wallB = 5_000
    const a = await openPeer(() => wallA)
    const b = await openPeer(() => wallB)
    const thread = await a.logs.createThread()
    const threadId = thread.id
    await b.logs.addThread(threadId, thread.key)
    a.logId = (await a.logs.createLog(threadId)).id
    b.logId = (await b.logs.createLog(threadId)).id
    await shareThread([a, b], threadId, thread.key, [a, b])
    const commit = async (peer: TestPeer, changes: Change[]): Promise<void> => {
      await peer.storage.transaction(() => peer.engine.commitWithin(threadId, peer.logId, changes))
    }
    const sync = async (to: TestPeer, from: TestPeer, fromCounter: number): Promise<void> => {
      for (const record of from.logs.records(threadId, from.logId, { from: fromCounter })) {
        const checked = await to.logs.check(threadId, record.logId, record.blocks)
        await to.storage.transaction(() => to.engine.ingestWithin(checked))
      }
    }

    await commit(a, [{ type: 'collection', collection: COLLECTION, schema: SCHEMA, indexes: INDEXES }])
    wallA++
    await commit(a, [{ type: 'create', collection: COLLECTION, entity: { _id: 'x', name: 'a', n: 1, tags: ['t'] } }])
    await sync(b, a, 1)
    // B, far ahead in time, renames x; A, which has not heard of it, bumps n and later deletes y it made meanwhile.
    await commit(b, [{ type: 'save', collection: COLLECTION, entity: { _id: 'x', name: 'b', n: 1, tags: ['t'] } }])
    wallA++
    await commit(a, [{ type: 'update', collection: COLLECTION, id: 'x', recipe: draft => { draft.n = 2; (draft.tags as string[]).push('u') } }])
    wallA++
    await commit(a, [{ type: 'create', collection: COLLECTION, entity: { _id: 'y', name: 'ann', n: 7 } }])
    wallB++
    await commit(b, [{ type: 'create', collection: COLLECTION, entity: { _id: 'z', n: 3 } }])
    wallA++
    await commit(a, [{ type: 'delete', collection: COLLECTION, id: 'y' }])
    // Each takes a unique name the other has not heard of: every peer ends listing both holders of it.
    wallA++
    await commit(a, [{ type: 'create', collection: COLLECTION, entity: { _id: 'p', name: 'same', n: 4 } }])
    wallB++
    await commit(b, [{ type: 'create', collection: COLLECTION, entity: { _id: 'q', name: 'same', n: 5 } }])

    const expected = expectedFold([a, b], threadId)
    assert.deepEqual(expected.get('x')?.doc, { n: 2, _id: 'x', name: 'b', tags: ['t', 'u'] }, 'the key order puts B\'s rename last')

    // Later clock first: every A event lands in the past of what B's log left behind.
    const lateFirst = await openPeer()
    const earlyFirst = await openPeer()
    await shareThread([lateFirst, earlyFirst], threadId, thread.key, [a, b])
    await sync(lateFirst, b, 1)
    assert.equal(lateFirst.engine.get(threadId, COLLECTION, 'x'), undefined, 'a save of an entity not yet created leaves nothing')
    await sync(lateFirst, a, 1)
    await sync(earlyFirst, a, 1)
    await sync(earlyFirst, b, 1)
    await sync(a, b, 1)

    for (const [label, peer] of [['late first', lateFirst], ['early first', earlyFirst], ['writer A', a], ['writer B after sync', b]] as const) {
      if (peer === b) await sync(b, a, 3)
      assertMatchesFold(peer, threadId, expected, label)
    }
    const reference = dumpViews(lateFirst.storage, threadId)
    for (const peer of [earlyFirst, a, b]) assert.equal(dumpViews(peer.storage, threadId), reference)
    for (const peer of [lateFirst, earlyFirst, a, b]) {
      assert.deepEqual(peer.engine.find(threadId, COLLECTION, { ands: [{ path: 'name', op: 'eq', value: 'same' }], ors: [] }).map(e => e._id), ['p', 'q'],
        'both holders of the name, on every peer')
    }
    assert.deepEqual(lateFirst.engine.find(threadId, COLLECTION, { ands: [{ path: 'name', op: 'eq', value: 'b' }], ors: [] }).map(e => e._id), ['x'],
      'the index follows the re-fold')
    assert.deepEqual(lateFirst.engine.find(threadId, COLLECTION, { ands: [{ path: 'name', op: 'eq', value: 'ann' }], ors: [] }), [],
      'a deleted entity leaves the index')
    await lateFirst.engine.rebuild(threadId)
    assert.equal(dumpViews(lateFirst.storage, threadId), reference)
    // Holding the name already, each holder keeps it through its own edits; taking it anew is still refused.
    wallA++
    await commit(a, [{ type: 'update', collection: COLLECTION, id: 'p', recipe: draft => { draft.n = 6 } }])
    wallB++
    await commit(b, [{ type: 'save', collection: COLLECTION, entity: { _id: 'q', name: 'same', n: 8 } }])
    await assert.rejects(commit(a, [{ type: 'update', collection: COLLECTION, id: 'z', recipe: draft => { draft.name = 'same' } }]),
      (e: unknown) => e instanceof UniqueViolationError)
    await disposePeers([a, b, lateFirst, earlyFirst])
  })

  it('restores from a snapshot taken mid-way through out-of-order deliveries', async () => {
    const rng = rngOf(4242)
    const { threadId, writers, perLog } = await writeScenario(4242, 30)
    const thread = writers[0]!.logs.getThread(threadId)
    const peer = await openPeer()
    const straight = await openPeer()
    await shareThread([peer, straight], threadId, thread.key, writers)
    await deliver(straight, threadId, perLog, rng)
    // Half of every log, a snapshot, then the rest: later deliveries land in the past of the snapshot's views.
    await deliver(peer, threadId, perLog.map(records => records.slice(0, Math.ceil(records.length / 2))), rng)
    const position = await peer.engine.snapshot(threadId)
    assert.equal(peer.engine.snapshotPosition(threadId), position)
    await deliver(peer, threadId, perLog.map(records => records.slice(Math.ceil(records.length / 2))), rng)
    const reference = dumpViews(straight.storage, threadId)
    assert.equal(dumpViews(peer.storage, threadId), reference)
    await peer.engine.restore(threadId)
    assert.equal(dumpViews(peer.storage, threadId), reference, 'snapshot + later events reproduce the views')
    await peer.engine.compact(threadId)
    await peer.engine.restore(threadId)
    assert.equal(dumpViews(peer.storage, threadId), reference, 'and still do after compaction')
    await disposePeers([peer, straight, ...writers])
  })

  it('restores a snapshot whose later events re-fold an entity, folding each event once', async () => {
    let wallA = 1_000
    const a = await openPeer(() => wallA)
    const b = await openPeer(() => 5_000)
    const peer = await openPeer()
    const thread = await a.logs.createThread()
    const threadId = thread.id
    await b.logs.addThread(threadId, thread.key)
    a.logId = (await a.logs.createLog(threadId)).id
    b.logId = (await b.logs.createLog(threadId)).id
    await shareThread([a, b], threadId, thread.key, [a, b])
    await shareThread([peer], threadId, thread.key, [a, b])
    const commit = async (writer: TestPeer, changes: Change[]): Promise<void> => {
      const { record } = (await writer.storage.transaction(() => writer.engine.commitWithin(threadId, writer.logId, changes)))!
      for (const to of [peer, a, b]) {
        // B hears of A's first two records only, and A never of B: A's later updates land in B's past.
        if (to !== writer && to !== a && !(writer === a && to === b && record.counter > 2)) {
          const checked = await to.logs.check(threadId, record.logId, record.blocks)
          await to.storage.transaction(() => to.engine.ingestWithin(checked))
        }
      }
    }
    await commit(a, [{ type: 'collection', collection: COLLECTION, schema: SCHEMA, indexes: INDEXES }])
    wallA++
    await commit(a, [{ type: 'create', collection: COLLECTION, entity: { _id: 'x', n: 1, tags: [] } }])
    // B, ahead in time, renames x; the peer snapshots with B's event on top of x.
    await commit(b, [{ type: 'save', collection: COLLECTION, entity: { _id: 'x', n: 1, tags: [], name: 'b' } }])
    await peer.engine.snapshot(threadId)
    // A, unaware of B, appends to x's tags twice: both land in the past of the snapshot's view of x.
    for (const tag of ['t', 'u']) {
      wallA++
      await commit(a, [{ type: 'update', collection: COLLECTION, id: 'x', recipe: draft => { (draft.tags as string[]).push(tag) } }])
    }
    const expected = expectedFold([a, b], threadId)
    assert.deepEqual(expected.get('x')?.doc, { n: 1, _id: 'x', name: 'b', tags: ['t', 'u'] })
    assertMatchesFold(peer, threadId, expected, 'after ingesting')
    assert.ok(compareEventKeys(expected.get('x')!.at, [5_000, 0, '', 0]) > 0 && a.engine.get(threadId, COLLECTION, 'x')?.name === undefined,
      'A wrote without knowing of B')
    const reference = dumpViews(peer.storage, threadId)
    await peer.engine.restore(threadId)
    assertMatchesFold(peer, threadId, expected, 'after restoring the snapshot')
    assert.equal(dumpViews(peer.storage, threadId), reference)
    await disposePeers([a, b, peer])
  })

  it('repairs by a rebuild every view and index entry changed behind its back', async () => {
    const { threadId, writers, perLog } = await writeScenario(4242, 30)
    const thread = writers[0]!.logs.getThread(threadId)
    const peer = await openPeer()
    await shareThread([peer], threadId, thread.key, writers)
    await deliver(peer, threadId, perLog, rngOf(4242))
    const reference = dumpViews(peer.storage, threadId)
    const number = createThreadNumbers(peer.storage).of(threadId)
    const db = peer.storage.valueDatabase<any>('views')
    const entries = (kind: string): Array<{ key: any[], value: any }> =>
      [...db.getRange({ start: [kind, number] })].filter(({ key }) => (key as unknown[])[0] === kind).map(({ key, value }) => ({ key: key as any[], value }))
    const views = entries('v').filter(({ value }) => value.doc !== undefined && Object.keys(value.doc).length >= 2)
    const plain = entries('x')
    const unique = entries('u')
    assert.ok(views.length >= 5 && plain.length >= 2 && unique.length >= 1, 'the scenario leaves enough to damage')
    await peer.storage.transaction(() => {
      const [extra, changed, missing, moved, dropped] = views
      db.putSync(extra!.key, { ...extra!.value, doc: { ...extra!.value.doc, extra: 1 } })
      const [field] = Object.keys(changed!.value.doc).filter(name => name !== '_id')
      db.putSync(changed!.key, { ...changed!.value, doc: { ...changed!.value.doc, [field!]: 'changed' } })
      const { _id: id, ...rest } = missing!.value.doc
      db.putSync(missing!.key, { ...missing!.value, doc: { ...Object.fromEntries(Object.entries(rest).slice(1)), _id: id } })
      db.putSync(moved!.key, { ...moved!.value, at: [...moved!.value.at.slice(0, 3), moved!.value.at[3] + 1] })
      db.removeSync(dropped!.key)
      db.putSync(['v', number, COLLECTION, 'ghost'], { at: [1, 0, 'nobody', 0], doc: { _id: 'ghost' } })
      db.removeSync(plain[0]!.key)
      db.putSync([...plain[1]!.key.slice(0, 5), 'ghost'], 1)
      db.putSync(unique[0]!.key, [...unique[0]!.value, 'zz-ghost'])
    })
    assert.notEqual(dumpViews(peer.storage, threadId), reference, 'the damage took')
    await peer.engine.rebuild(threadId)
    try {
      assert.equal(dumpViews(peer.storage, threadId), reference, 'every damaged entry is back as the logs say')
    } finally {
      await disposePeers([peer, ...writers])
    }
  })

  it('restores from a snapshot taken before a rebuild renumbered the arrival order', async () => {
    const rng = rngOf(777)
    const { threadId, writers, perLog } = await writeScenario(777, 30)
    const thread = writers[0]!.logs.getThread(threadId)
    const peer = await openPeer()
    await shareThread([peer], threadId, thread.key, writers)
    // One log whole, then the others: arrival order and key order part ways.
    await deliver(peer, threadId, [perLog[2]!], rng)
    await deliver(peer, threadId, [perLog[0]!.slice(0, 5), perLog[1]!.slice(0, 5)], rng)
    await peer.engine.snapshot(threadId)
    await deliver(peer, threadId, [perLog[0]!.slice(5), perLog[1]!.slice(5)], rng)
    const reference = dumpViews(peer.storage, threadId)
    await peer.engine.rebuild(threadId)
    assert.equal(dumpViews(peer.storage, threadId), reference)
    await peer.engine.restore(threadId)
    try {
      assert.equal(dumpViews(peer.storage, threadId), reference, 'the snapshot and the events after it, as numbered now')
    } finally {
      await disposePeers([peer, ...writers])
    }
  })
})
