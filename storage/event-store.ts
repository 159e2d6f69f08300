import { jsonPatchCodec, type Entity, type EntityEvent, type EventCodec, type StoreEvent } from '../codecs/event-codec.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { Storage } from './storage.ts'
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

/** One record's events in the arrival index, stored at the position of its last event. */
interface StoredBatch {
  /** The position of the batch's first event. */
  first: number
  /** Each event with the entity it left, or `alone` when that entity is the fold of the event alone. */
  events: Array<{ key: EventKey, event: StoreEvent, entity?: Entity, alone?: true }>
}

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
  /** Stores one record's events after the current position; call inside the transaction that folds them. */
  putBatch (threadId: ThreadId, events: readonly PersistedEvent[]): void
  /** Stores an event in its entity's history (the view store does, as it folds). */
  putHistory (threadId: ThreadId, key: EventKey, event: EntityEvent): void
  /** Events after `position`, in arrival order, whole records at a time, about `limit` of them. */
  after (threadId: ThreadId, position: number, limit: number): PersistedEvent[]
  /** One entity's events in key order. */
  entityEvents (threadId: ThreadId, collection: string, id: string): Array<{ key: EventKey, event: StoreEvent }>
  /** Forgets every entity history of the thread, before a fold from the logs writes them again. */
  clearHistories (threadId: ThreadId): void
  /** Drops events at or before `position` from the arrival index (compaction); histories stay. Returns how many. */
  compact (threadId: ThreadId, position: number): number
}

export function createEventStore (storage: Storage, numbers: ThreadNumbers, init: EventStoreInit = { codec: jsonPatchCodec, foldsAlone: () => false }): EventStore {
  const { codec, foldsAlone } = init
  const db = storage.valueDatabase<StoredBatch | StoreEvent | number>('events')
  // Key layout, `thread` the thread's number: ['n', thread] → last position; ['p', thread, last position of a record]
  // → that record's events, each with the entity it left (see `alone`); ['e', thread, collection, id, wall, counter, logId, index]
  // → one event of an entity's history, so compacting the arrival index never costs a later re-fold its history.
  const store: EventStore = {
    position (threadId) {
      return (db.get(['n', numbers.of(threadId)]) as number | undefined) ?? 0
    },
    putBatch (threadId, persisted) {
      if (persisted.length === 0) return
      const thread = numbers.assign(threadId)
      const last = persisted.at(-1)!.position
      const batch: StoredBatch = {
        first: persisted[0]!.position,
        events: persisted.map(folded => {
          const { key, event, entity } = folded
          if (entity === undefined) return { key, event }
          return foldsAlone(folded) ? { key, event, alone: true } : { key, event, entity }
        })
      }
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
        const batch = value as StoredBatch
        batch.events.forEach(({ key, event, entity, alone }, index) => {
          const at = batch.first + index
          if (at <= position) return
          out.push({ position: at, key, event, entity: alone === true ? codec.apply(undefined, event as EntityEvent) : entity })
        })
        if (out.length >= limit) break
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
      const thread = numbers.of(threadId)
      const histories: unknown[] = []
      for (const key of db.getKeys({ start: ['e', thread] })) {
        const parts = key as unknown[]
        if (parts[0] !== 'e' || parts[1] !== thread) break
        histories.push(key)
      }
      for (const key of histories) db.removeSync(key as string[])
    },
    compact (threadId, position) {
      const thread = numbers.of(threadId)
      let removed = 0
      for (const { key, value } of db.getRange({ start: ['p', thread, 0], end: ['p', thread, position + 1] })) {
        db.removeSync(key)
        removed += (value as StoredBatch).events.length
      }
      return removed
    }
  }
  return store
}
