import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeRecordBody, jsonPatchCodec, type EntityEvent, type StoreEvent } from '../../codecs/event-codec.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { createEventStore, type EventKey, type EventStore, type PersistedEvent } from '../../storage/event-store.ts'
import { createThreadNumbers, type ThreadNumbers } from '../../storage/thread-numbers.ts'
import { tempStorage, type TempStorage } from '../helpers/temp-storage.ts'

const LOG = 'log-a'
const create = (id: string, value: number): EntityEvent =>
  jsonPatchCodec.encode({ type: 'create', collection: 'Note', id, entity: { _id: id, value } }) as EntityEvent
const save = (id: string, value: number): EntityEvent =>
  ({ type: 'save', collection: 'Note', id, patch: [{ op: 'replace', path: '/value', value }] })
const remove = (id: string): EntityEvent => ({ type: 'delete', collection: 'Note', id })

/** The arrival index as readers see it: positions, keys, events and the entities they left. */
describe('event store', () => {
  let temp: TempStorage
  let numbers: ThreadNumbers
  let events: EventStore
  // Events the test says were the fold of their event alone, as the engine marks the creates that landed on nothing.
  const alone = new WeakSet<PersistedEvent>()

  before(async () => {
    temp = await tempStorage('threads-event-store-')
    numbers = createThreadNumbers(temp.storage)
    events = createEventStore(temp.storage, numbers, { codec: jsonPatchCodec, foldsAlone: event => alone.has(event) })
  })

  after(async () => {
    await temp?.dispose()
  })

  /** Stores the events of one record at `wall`, folding those at `taken` (all by default). */
  const store = async (threadId: ThreadId, wall: number, record: StoreEvent[], fold: (event: StoreEvent, index: number) => PersistedEvent['entity'] | 'alone', taken = record.map((_event, index) => index)): Promise<PersistedEvent[]> =>
    await temp.storage.transaction(() => {
      let position = events.position(threadId)
      const folded = taken.map(index => {
        const key: EventKey = [wall, 0, LOG, index]
        const entity = fold(record[index]!, index)
        const persisted: PersistedEvent = entity === 'alone'
          ? { position: ++position, key, event: record[index]!, entity: jsonPatchCodec.apply(undefined, record[index] as EntityEvent) }
          : { position: ++position, key, event: record[index]!, entity }
        if (entity === 'alone') alone.add(persisted)
        return persisted
      })
      events.putBatch(threadId, encodeRecordBody({ codec: 'json-patch', events: record }).events, record.length, folded)
      return folded
    })

  it('reads back every event of a record with its position, key and the entity it left', async () => {
    const threadId = ThreadId.create()
    const first = await store(threadId, 1000, [create('n1', 1), create('n2', 2)], () => 'alone')
    const second = await store(threadId, 2000, [save('n1', 3), remove('n2'), create('n3', 4), create('n1', 5)], (event, index) =>
      index === 0 ? { _id: 'n1', value: 3 } : index === 1 ? undefined : index === 2 ? 'alone' : { _id: 'n1', value: 3 })
    assert.deepEqual(events.after(threadId, 0, 100), [...first, ...second])
    assert.deepEqual(second.map(event => event.entity), [{ _id: 'n1', value: 3 }, undefined, { _id: 'n3', value: 4 }, { _id: 'n1', value: 3 }],
      'a create that landed on an entity keeps what it left, not the fold of the create alone')
    assert.deepEqual(events.after(threadId, 3, 100), second.slice(1), 'from inside a record, only what comes after')
    assert.deepEqual(events.after(threadId, 0, 3), [...first, second[0]], 'no more than the limit, though a record holds more')
    assert.deepEqual(events.after(threadId, 3, 2), second.slice(1, 3), 'and on from inside that record, a page at a time')
    assert.deepEqual(events.after(threadId, 4, 2), second.slice(2, 4))
    assert.equal(events.position(threadId), 6)
  })

  it('keeps the record index of each event folded when some of its events were refused', async () => {
    const threadId = ThreadId.create()
    const folded = await store(threadId, 3000, [create('r1', 1), create('r2', 2), create('r3', 3)], () => 'alone', [0, 2])
    const read = events.after(threadId, 0, 100)
    assert.deepEqual(read, folded)
    assert.deepEqual(read.map(event => [event.position, event.key[3], (event.event as EntityEvent).id]), [[1, 0, 'r1'], [2, 2, 'r3']])
  })

  it('counts what a compaction drops, and reads on after it', async () => {
    const threadId = ThreadId.create()
    await store(threadId, 4000, [create('c1', 1), create('c2', 2)], () => 'alone')
    const kept = await store(threadId, 5000, [create('c3', 3)], () => 'alone')
    assert.equal(await temp.storage.transaction(() => events.compact(threadId, 2)), 2)
    assert.deepEqual(events.after(threadId, 0, 100), kept)
  })

  it('reads batches stored before the arrival index kept record bytes', async () => {
    const threadId = ThreadId.create()
    const thread = await temp.storage.transaction(() => numbers.assign(threadId))
    const key: EventKey = [6000, 0, LOG, 0]
    await temp.storage.transaction(() => {
      temp.storage.valueDatabase('events').putSync(['p', thread, 2], {
        first: 1,
        events: [{ key, event: create('o1', 1), alone: true }, { key: [6000, 0, LOG, 1], event: save('o1', 2), entity: { _id: 'o1', value: 2 } }]
      })
      temp.storage.valueDatabase('events').putSync(['n', thread], 2)
    })
    assert.deepEqual(events.after(threadId, 0, 100), [
      { position: 1, key, event: create('o1', 1), entity: { _id: 'o1', value: 1 } },
      { position: 2, key: [6000, 0, LOG, 1], event: save('o1', 2), entity: { _id: 'o1', value: 2 } }
    ])
    const later = await store(threadId, 7000, [create('o2', 3)], () => 'alone')
    assert.deepEqual(events.after(threadId, 2, 100), later)
    assert.equal(await temp.storage.transaction(() => events.compact(threadId, 2)), 2)
  })
})
