import type { Entity, EntityEvent, StoreEvent } from '../codecs/event-codec.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { Storage } from './storage.ts'

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

interface StoredEvent {
  key: EventKey
  event: StoreEvent
  entity?: Entity
}

/**
 * Events of each thread, twice indexed: by arrival position, which listeners and snapshots count in, and per entity
 * in key order, which a re-fold reads when an event arrives "in the past" of what an entity has folded. Both
 * are derived from the logs and rebuilt with the views.
 */
export interface EventStore {
  /** Position of the latest event, 0 when there is none. */
  position (threadId: ThreadId): number
  /** Stores an event at `position`; call inside the transaction that folds it, then `setPosition` once. */
  put (threadId: ThreadId, position: number, key: EventKey, event: StoreEvent, entity: Entity | undefined): void
  setPosition (threadId: ThreadId, position: number): void
  /** Stores an event in its entity's history only (a rebuild re-derives histories without new arrivals). */
  putHistory (threadId: ThreadId, key: EventKey, event: EntityEvent): void
  /** Events after `position`, in arrival order. */
  after (threadId: ThreadId, position: number, limit: number): PersistedEvent[]
  /** One entity's events in key order. */
  entityEvents (threadId: ThreadId, collection: string, id: string): Array<{ key: EventKey, event: StoreEvent }>
  /** Drops events at or before `position` from the arrival index (compaction); the per-entity history stays. */
  compact (threadId: ThreadId, position: number): number
  /** Forgets every event of the thread (before a rebuild). */
  clear (threadId: ThreadId): void
}

export function createEventStore (storage: Storage): EventStore {
  const db = storage.valueDatabase<StoredEvent | StoreEvent | number>('events')
  // Key layout: ['n', tid] → last position; ['p', tid, position] → stored event, with the entity it left;
  // ['e', tid, collection, id, wall, counter, logId, index] → the event again, so compacting the arrival index
  // never costs a later re-fold its history.
  const store: EventStore = {
    position (threadId) {
      return (db.get(['n', threadId.toString()]) as number | undefined) ?? 0
    },
    put (threadId, position, key, event, entity) {
      const tid = threadId.toString()
      const stored: StoredEvent = { key, event }
      if (entity !== undefined) stored.entity = entity
      db.putSync(['p', tid, position], stored)
      if (event.type !== 'collection') store.putHistory(threadId, key, event)
    },
    putHistory (threadId, key, event) {
      db.putSync(['e', threadId.toString(), event.collection, event.id, ...key], event)
    },
    setPosition (threadId, position) {
      db.putSync(['n', threadId.toString()], position)
    },
    after (threadId, position, limit) {
      const tid = threadId.toString()
      const out: PersistedEvent[] = []
      for (const { key, value } of db.getRange({ start: ['p', tid, position + 1], end: ['p', tid, Number.MAX_SAFE_INTEGER], limit })) {
        const stored = value as StoredEvent
        out.push({ position: (key as [string, string, number])[2], key: stored.key, event: stored.event, entity: stored.entity })
      }
      return out
    },
    entityEvents (threadId, collection, id) {
      const tid = threadId.toString()
      const out: Array<{ key: EventKey, event: StoreEvent }> = []
      for (const { key, value } of db.getRange({ start: ['e', tid, collection, id], end: ['e', tid, collection, id, Number.MAX_SAFE_INTEGER] })) {
        const [, , , , wall, counter, logId, index] = key as [string, string, string, string, number, number, string, number]
        out.push({ key: [wall, counter, logId, index], event: value as StoreEvent })
      }
      return out
    },
    compact (threadId, position) {
      const tid = threadId.toString()
      let removed = 0
      for (const key of db.getKeys({ start: ['p', tid, 0], end: ['p', tid, position + 1] })) {
        db.removeSync(key)
        removed++
      }
      return removed
    },
    clear (threadId) {
      const tid = threadId.toString()
      storage.transactionSync(() => {
        for (const prefix of [['p', tid], ['e', tid]]) {
          for (const key of db.getKeys({ start: prefix, end: [...prefix, '\uffff'] })) db.removeSync(key)
        }
        db.removeSync(['n', tid])
      })
    }
  }
  return store
}
