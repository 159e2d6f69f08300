import { jsonPatchCodec, type Entity, type EntityEvent, type EventCodec, type StoreEvent } from '../codecs/event-codec.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { removeKeysUnder, type Storage } from './storage.ts'
import type { ThreadNumbers } from './thread-numbers.ts'

/**
 * Where an event sits in the thread's total order: its record's clock, the log that wrote it (the tie-break) and
 * its index inside the record. Every peer holding the same records orders their events the same way.
 */
export type EventKey = readonly [wall: number, counter: number, logId: string, index: number]

export function compareEventKeys (a: EventKey, b: EventKey): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0) || a[3] - b[3]
}

/** An event as this peer holds it: in arrival order (`position`), with its key and the entity it left behind. */
export interface PersistedEvent {
  readonly position: number
  readonly key: EventKey
  readonly event: StoreEvent
  /** The entity right after this event was folded; absent for deletes and collection definitions. */
  readonly entity?: Entity
}

/**
 * One record's events in the arrival index, stored at the position of its last event: the record's event bytes as
 * its body holds them, which the commit or the ingest has at hand, rather than each event packed again.
 */
interface StoredBatch {
  /** The position of the batch's first event. */
  first: number
  /** The record's clock and log: an event's key is these and its index in the record. */
  at: [wall: number, counter: number, logId: string]
  /** The record body's events, UTF-8 JSON. */
  events: Uint8Array
  /** The record indexes of the events folded, when some were refused; absent when every one was folded. */
  taken?: number[]
  /**
   * What each folded event left: its entity, `null` for none, `0` when it is the fold of the event alone (a reader
   * folds it again rather than holding the document twice). Absent when every one is the fold of its event alone.
   */
  left?: Array<Entity | null | 0>
}

/** A batch as the arrival index held it before it kept record bytes: each event packed with its key. */
interface PackedBatch {
  first: number
  events: Array<{ key: EventKey, event: StoreEvent, entity?: Entity, alone?: true }>
}

const ALONE = 0
const fromUtf8 = new TextDecoder()

export interface EventStoreInit {
  /** The codec that folds the thread's events. */
  codec: EventCodec
  /**
   * Whether the entity an event left is the fold of the event alone, as for a create that landed on no entity: the
   * arrival index then keeps the event without it, and a reader folds it again, rather than holding the document
   * twice (the event carries it whole).
   */
  foldsAlone (event: PersistedEvent): boolean
}

/**
 * Events of each thread, twice indexed: by arrival position, which listeners and snapshots count in, and per entity
 * in key order, which a re-fold reads when an event arrives "in the past" of what an entity has folded. Both
 * are derived from the logs. Positions count events; the arrival index keeps a record's events together.
 */
export interface EventStore {
  /** Position of the latest event, 0 when there is none. */
  position (threadId: ThreadId): number
  /**
   * Stores the events folded from one record after the current position: `folded` in record order, out of the
   * record's `total` events, which `bytes` holds as its body does. Call inside the transaction that folds them.
   */
  putBatch (threadId: ThreadId, bytes: Uint8Array, total: number, folded: readonly PersistedEvent[]): void
  /** Stores an event in its entity's history (the view store does, as it folds). */
  putHistory (threadId: ThreadId, key: EventKey, event: EntityEvent): void
  /**
   * Events after `position`, in arrival order, at most `limit` of them: a record holding more is read again from
   * where the last page stopped, so no reader ever holds more than `limit` events of it.
   */
  after (threadId: ThreadId, position: number, limit: number): PersistedEvent[]
  /** One entity's events in key order. */
  entityEvents (threadId: ThreadId, collection: string, id: string): Array<{ key: EventKey, event: StoreEvent }>
  /** Forgets every entity history of the thread, before a fold from the logs writes them again. */
  clearHistories (threadId: ThreadId): void
  /** Drops events at or before `position` from the arrival index (compaction); histories stay. Returns how many. */
  compact (threadId: ThreadId, position: number): number
  /** Removes every event of the thread, in both indexes. Call inside `storage.transaction`. */
  drop (threadId: ThreadId): void
}

export function createEventStore (storage: Storage, numbers: ThreadNumbers, init: EventStoreInit = { codec: jsonPatchCodec, foldsAlone: () => false }): EventStore {
  const { codec, foldsAlone } = init
  const db = storage.valueDatabase<StoredBatch | StoreEvent | number>('events')
  // Key layout, `thread` the thread's number: ['n', thread] → last position; ['p', thread, last position of a record]
  // → that record's events and the entities they left (a `StoredBatch`); ['e', thread, collection, id, wall, counter, logId, index]
  // → one event of an entity's history, so compacting the arrival index never costs a later re-fold its history.
  const foldAlone = (event: StoreEvent): Entity | undefined => codec.apply(undefined, event as EntityEvent)

  /**
   * Appends a stored batch's events after `position` to `out`, with their positions, keys and the entities they
   * left, until `out` holds `limit`. Only those are built: a reader paging through a large record pays for each page.
   */
  const unpackInto = (batch: StoredBatch | PackedBatch, position: number, out: PersistedEvent[], limit: number): void => {
    const start = Math.max(0, position + 1 - batch.first)
    if (Array.isArray(batch.events)) {
      for (let ordinal = start; ordinal < batch.events.length && out.length < limit; ordinal++) {
        const { key, event, entity, alone } = batch.events[ordinal]!
        out.push({ position: batch.first + ordinal, key, event, entity: alone === true ? foldAlone(event) : entity })
      }
      return
    }
    const { first, at, taken, left } = batch as StoredBatch
    const events = JSON.parse(fromUtf8.decode(batch.events)) as StoreEvent[]
    const count = taken?.length ?? events.length
    for (let ordinal = start; ordinal < count && out.length < limit; ordinal++) {
      const index = taken?.[ordinal] ?? ordinal
      const entity = left === undefined ? ALONE : left[ordinal]
      out.push({ position: first + ordinal, key: [...at, index], event: events[index]!, entity: entity === ALONE ? foldAlone(events[index]!) : entity ?? undefined })
    }
  }

  const store: EventStore = {
    position (threadId) {
      return (db.get(['n', numbers.of(threadId)]) as number | undefined) ?? 0
    },
    putBatch (threadId, bytes, total, folded) {
      if (folded.length === 0) return
      const thread = numbers.assign(threadId)
      const [wall, counter, logId] = folded[0]!.key
      const last = folded.at(-1)!.position
      const batch: StoredBatch = { first: folded[0]!.position, at: [wall, counter, logId], events: bytes }
      if (folded.length < total) batch.taken = folded.map(({ key }) => key[3])
      if (!folded.every(event => foldsAlone(event))) batch.left = folded.map(event => foldsAlone(event) ? ALONE : event.entity ?? null)
      db.putSync(['p', thread, last], batch)
      db.putSync(['n', thread], last)
    },
    putHistory (threadId, key, event) {
      db.putSync(['e', numbers.assign(threadId), event.collection, event.id, ...key], event)
    },
    after (threadId, position, limit) {
      const thread = numbers.of(threadId)
      const out: PersistedEvent[] = []
      for (const { value } of db.getRange({ start: ['p', thread, position + 1], end: ['p', thread, Number.MAX_SAFE_INTEGER] })) {
        unpackInto(value as StoredBatch | PackedBatch, position, out, limit)
        if (out.length === limit) break
      }
      return out
    },
    entityEvents (threadId, collection, id) {
      const thread = numbers.of(threadId)
      const out: Array<{ key: EventKey, event: StoreEvent }> = []
      for (const { key, value } of db.getRange({ start: ['e', thread, collection, id], end: ['e', thread, collection, id, Number.MAX_SAFE_INTEGER] })) {
        const [, , , , wall, counter, logId, index] = key as [string, number, string, string, number, number, string, number]
        out.push({ key: [wall, counter, logId, index], event: value as StoreEvent })
      }
      return out
    },
    clearHistories (threadId) {
      removeKeysUnder(db, ['e', numbers.of(threadId)])
    },
    drop (threadId) {
      const thread = numbers.of(threadId)
      if (thread === 0) return
      db.removeSync(['n', thread])
      removeKeysUnder(db, ['p', thread])
      removeKeysUnder(db, ['e', thread])
    },
    compact (threadId, position) {
      const thread = numbers.of(threadId)
      let removed = 0
      for (const { key, value } of db.getRange({ start: ['p', thread, 0], end: ['p', thread, position + 1] })) {
        db.removeSync(key)
        removed += (key as [string, number, number])[2] - (value as StoredBatch | PackedBatch).first + 1
      }
      return removed
    }
  }
  return store
}
