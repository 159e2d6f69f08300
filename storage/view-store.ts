import { canonical, KEY_LIMITS, type Entity, type EventCodec, type EntityEvent, type IndexDefinition, type JsonValue, type StoreEvent } from '../codecs/event-codec.ts'
import { arrange, compareValues, queryMatches, valueAt, type Comparable, type Criterion, type QueryJSON } from '../codecs/query.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { compareEventKeys, type EventKey, type EventStore } from './event-store.ts'
import type { Storage, ValueDatabase } from './storage.ts'
import { SchemaViolationError } from './errors.ts'

/**
 * Views: each collection's entities as the fold of their events in key order, with secondary indexes, and the
 * collection definitions themselves (last definition by key wins). Everything here is derived from the logs and
 * written inside the transaction that stores the events it derives from.
 */

export interface CollectionDefinition {
  readonly name: string
  readonly schema: Entity
  readonly indexes: readonly IndexDefinition[]
  readonly at: EventKey
}

interface StoredView {
  /** Absent for a deleted entity: the tombstone keeps the key its deletion was folded at. */
  doc?: Entity
  at: EventKey
  /** The entity's only event is its create, not yet written to its history: the view stands for it. */
  implied?: true
}

export interface FoldResult {
  readonly before: Entity | undefined
  readonly after: Entity | undefined
}

export interface QueryPlan {
  /** `index:<path>` when an index narrows the candidates, `scan` when every entity is read. */
  readonly using: string
}

export interface ViewStore {
  /** The committed definition. */
  definition (threadId: ThreadId, collection: string): CollectionDefinition | undefined
  /** The definition as the running write transaction sees it; only inside `storage.transaction`. */
  definitionWithin (threadId: ThreadId, collection: string): CollectionDefinition | undefined
  collections (threadId: ThreadId): CollectionDefinition[]
  /** Applies a collection definition if it is the latest; rebuilds the collection's indexes when they change. */
  define (threadId: ThreadId, definition: CollectionDefinition): boolean
  get (threadId: ThreadId, collection: string, id: string): Entity | undefined
  /** Folds one entity event: on top of the entity when it is the latest, or by re-folding its whole history. */
  fold (threadId: ThreadId, key: EventKey, event: EntityEvent, codec: EventCodec, events: EventStore): FoldResult
  /** IDs other than `id` that hold `entity`'s value in one of the collection's unique indexes, by index path. */
  uniqueConflict (threadId: ThreadId, collection: string, id: string, entity: Entity): string | undefined
  find (threadId: ThreadId, collection: string, query: QueryJSON): Entity[]
  plan (threadId: ThreadId, collection: string, query: QueryJSON): QueryPlan
  count (threadId: ThreadId, collection: string): number
  /** Every live entity of a collection, in ID order. */
  entities (threadId: ThreadId, collection: string): Iterable<[string, Entity]>
  /**
   * Replaces the thread's views, definitions and indexes with the fold of `sorted` (every event, in key order),
   * writing only what differs from what is stored; histories are filled in as a fold would.
   */
  rebuild (threadId: ThreadId, sorted: ReadonlyArray<{ key: EventKey, event: StoreEvent }>, codec: EventCodec, events: EventStore): void
  /** Copies the views and definitions into snapshot `position`, replacing an older snapshot. */
  snapshot (threadId: ThreadId, position: number): void
  /** The position of the latest snapshot, 0 when there is none. */
  snapshotPosition (threadId: ThreadId): number
  /** Replaces the views with the latest snapshot's, rebuilding indexes; returns its position. */
  restore (threadId: ThreadId): number
  /** Forgets cached definitions; called when a transaction that may have read uncommitted ones aborts. */
  invalidate (): void
}

type Key = Array<string | number | boolean>
type IndexValue = string | number | boolean

/** Values an index holds; null, objects and arrays are found by scanning. */
function isIndexable (value: JsonValue | Comparable | undefined): value is IndexValue {
  return typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

/** An indexed value as its index entry holds it; a string too long to be part of a key is refused, not dropped. */
function indexed (value: JsonValue | undefined, collection: string, id: string, path: string): IndexValue | undefined {
  if (!isIndexable(value)) return undefined
  if (typeof value === 'string' && Buffer.byteLength(value) > KEY_LIMITS.indexedValue) {
    throw new SchemaViolationError(`${collection} ${id}: ${path} is indexed, and longer than the ${KEY_LIMITS.indexedValue} bytes an index holds`, [path])
  }
  return value
}

/** Structural equality of stored values (plain data: objects, arrays, strings, numbers, booleans, null). */
function same (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => same(item, b[i]))
  if (Array.isArray(b)) return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every(key => same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}

/** Iterates keys from `start` while they keep `prefix`. */
function * keysWithPrefix (db: ValueDatabase<unknown>, start: Key, prefixLength: number): Generator<Key> {
  const prefix = start.slice(0, prefixLength)
  for (const key of db.getKeys({ start })) {
    const parts = key as Key
    for (let i = 0; i < prefixLength; i++) if (parts[i] !== prefix[i]) return
    yield parts
  }
}

export function createViewStore (storage: Storage): ViewStore {
  const db = storage.valueDatabase<unknown>('views')
  // Key layout: ['v', tid, collection, id] → view; ['c', tid, collection] → definition;
  // ['x', tid, collection, path, value, id] → 1; ['s', tid] → snapshot position;
  // ['sv', tid, collection, id] → snapshot view; ['sc', tid, collection] → snapshot definition.

  const viewOf = (tid: string, collection: string, id: string): StoredView | undefined =>
    db.get(['v', tid, collection, id]) as StoredView | undefined

  const readDefinition = (tid: string, collection: string): CollectionDefinition | undefined => {
    const stored = db.get(['c', tid, collection]) as Omit<CollectionDefinition, 'name'> | undefined
    return stored === undefined ? undefined : { name: collection, ...stored }
  }

  // Definitions are read for every event folded; decoding them each time would cost more than the fold. Only
  // writes, inside their storage transactions, use the cache: it follows the state those transactions see, is
  // emptied by every definition written, and by `invalidate` when a transaction fails. Readers outside a
  // transaction read what is committed, never the cache.
  const definitions = new Map<string, CollectionDefinition | null>()
  const definitionWithin = (tid: string, collection: string): CollectionDefinition | undefined => {
    const slot = `${tid}\u0000${collection}`
    let definition = definitions.get(slot)
    if (definition === undefined) {
      definition = readDefinition(tid, collection) ?? null
      definitions.set(slot, definition)
    }
    return definition ?? undefined
  }

  const indexPathsWithin = (tid: string, collection: string): readonly IndexDefinition[] =>
    definitionWithin(tid, collection)?.indexes ?? []

  const writeIndexEntries = (tid: string, collection: string, id: string, before: Entity | undefined, after: Entity | undefined): void => {
    for (const { path } of indexPathsWithin(tid, collection)) {
      const old = before === undefined ? undefined : valueAt(before, path)
      const next = after === undefined ? undefined : indexed(valueAt(after, path), collection, id, path)
      if (isIndexable(old) && (!isIndexable(next) || compareValues(old, next) !== 0)) db.removeSync(['x', tid, collection, path, old, id])
      if (isIndexable(next) && (!isIndexable(old) || compareValues(old, next) !== 0)) db.putSync(['x', tid, collection, path, next, id], 1)
    }
  }

  const removeByPrefix = (prefix: Key): void => {
    for (const key of [...keysWithPrefix(db, prefix, prefix.length)]) db.removeSync(key)
  }

  const rebuildIndexes = (tid: string, collection: string): void => {
    removeByPrefix(['x', tid, collection])
    for (const { path } of indexPathsWithin(tid, collection)) {
      for (const { key, value } of db.getRange({ start: ['v', tid, collection] })) {
        const parts = key as Key
        if (parts[0] !== 'v' || parts[1] !== tid || parts[2] !== collection) break
        const doc = (value as StoredView).doc
        const entry = doc === undefined ? undefined : indexed(valueAt(doc, path), collection, parts[3] as string, path)
        if (entry !== undefined) db.putSync(['x', tid, collection, path, entry, parts[3] as string], 1)
      }
    }
  }

  /** Candidate IDs from the best index for the query's criteria; undefined when no index helps. */
  const indexCandidates = (tid: string, collection: string, query: QueryJSON): { path: string, ids: Iterable<string> } | undefined => {
    if (query.ors.length > 0) return undefined
    const indexed = new Set((readDefinition(tid, collection)?.indexes ?? []).map(index => index.path))
    const usable = query.ands.filter(criterion => indexed.has(criterion.path) && criterion.op !== 'ne' && isIndexable(criterion.value))
    const best = usable.find(criterion => criterion.op === 'eq') ??
      usable.find(criterion => typeof criterion.value === 'number' || typeof criterion.value === 'string')
    if (best === undefined) return undefined
    return { path: best.path, ids: idsFromIndex(tid, collection, best) }
  }

  function * idsFromIndex (tid: string, collection: string, criterion: Criterion): Generator<string> {
    const { path, op } = criterion
    const value = criterion.value as IndexValue
    const lowerBound = op === 'eq' || op === 'gt' || op === 'ge'
    const start: Key = lowerBound ? ['x', tid, collection, path, value] : ['x', tid, collection, path, typeof value === 'number' ? -Number.MAX_VALUE : '']
    for (const key of keysWithPrefix(db, start, 4)) {
      const found = key[4] as IndexValue
      if (typeof found !== typeof value) return
      const order = compareValues(found, value)
      if (op === 'eq' && order !== 0) return
      if ((op === 'lt' && order >= 0) || (op === 'le' && order > 0)) return
      yield key[5] as string
    }
  }

  const readEntities = (tid: string, collection: string): Entity[] => {
    const out: Entity[] = []
    for (const { key, value } of db.getRange({ start: ['v', tid, collection] })) {
      const parts = key as Key
      if (parts[0] !== 'v' || parts[1] !== tid || parts[2] !== collection) break
      const doc = (value as StoredView).doc
      if (doc !== undefined) out.push(doc)
    }
    return out
  }

  /** The entries under `prefix`, keyed by the rest of their key. */
  const entriesUnder = (prefix: Key): Map<string, { rest: Key, value: unknown }> => {
    const entries = new Map<string, { rest: Key, value: unknown }>()
    for (const { key, value } of db.getRange({ start: prefix })) {
      const parts = key as Key
      if (!prefix.every((part, i) => parts[i] === part)) break
      const rest = parts.slice(prefix.length)
      entries.set(JSON.stringify(rest), { rest, value })
    }
    return entries
  }

  /**
   * Makes the entries under `prefix` exactly `expected`, writing only what differs (usually little or nothing).
   * Index entries carry no value worth reading (`keysOnly`): their keys say everything.
   */
  const writeDifference = (prefix: Key, expected: Map<string, { rest: Key, value: unknown }>, keysOnly = false): void => {
    const entries: Iterable<{ key: unknown, value?: unknown }> = keysOnly
      ? (function * () { for (const key of db.getKeys({ start: prefix })) yield { key } })()
      : db.getRange({ start: prefix })
    for (const { key, value } of entries) {
      const parts = key as Key
      if (!prefix.every((part, i) => parts[i] === part)) break
      const slot = JSON.stringify(parts.slice(prefix.length))
      const wanted = expected.get(slot)
      if (wanted === undefined) db.removeSync(parts)
      else if (!keysOnly && !same(value, wanted.value)) db.putSync(parts, wanted.value)
      expected.delete(slot)
    }
    for (const { rest, value } of expected.values()) db.putSync([...prefix, ...rest], value)
  }

  /** Makes the thread's definitions, views and index entries exactly these. */
  const replaceViews = (
    tid: string,
    views: Map<string, { collection: string, id: string, view: StoredView }>,
    defined: Map<string, Omit<CollectionDefinition, 'name'>>
  ): void => {
    const definitionEntries = new Map<string, { rest: Key, value: unknown }>()
    for (const [collection, definition] of defined) definitionEntries.set(JSON.stringify([collection]), { rest: [collection], value: definition })
    const viewEntries = new Map<string, { rest: Key, value: unknown }>()
    const indexEntries = new Map<string, { rest: Key, value: unknown }>()
    for (const [slot, { collection, id, view }] of views) {
      viewEntries.set(slot, { rest: [collection, id], value: view })
      if (view.doc === undefined) continue
      for (const { path } of defined.get(collection)?.indexes ?? []) {
        const value = indexed(valueAt(view.doc, path), collection, id, path)
        if (value === undefined) continue
        const rest: Key = [collection, path, value, id]
        indexEntries.set(JSON.stringify(rest), { rest, value: 1 })
      }
    }
    writeDifference(['c', tid], definitionEntries)
    writeDifference(['v', tid], viewEntries)
    writeDifference(['x', tid], indexEntries, true)
    definitions.clear()
  }

  /** Writes `event` to its entity's history, first writing the create a view stood for until now. */
  const recordHistory = (threadId: ThreadId, current: StoredView | undefined, key: EventKey, event: EntityEvent, codec: EventCodec, events: EventStore): void => {
    if (current?.implied === true && current.doc !== undefined) {
      events.putHistory(threadId, current.at, codec.encode({ type: 'create', collection: event.collection, id: event.id, entity: current.doc }))
    }
    events.putHistory(threadId, key, event)
  }

  /** The view after `event`, the latest by key, lands on `current`. */
  const advance = (threadId: ThreadId, current: StoredView | undefined, key: EventKey, event: EntityEvent, codec: EventCodec, events: EventStore): StoredView => {
    const view: StoredView = { at: key }
    let after: Entity | undefined
    if (current === undefined && event.type === 'create') {
      // Most entities are created and never touched again: their history is the view itself until a second
      // event arrives, so the create is written to the history only then.
      after = codec.apply(undefined, event)
      view.implied = true
    } else {
      recordHistory(threadId, current, key, event, codec, events)
      after = codec.apply(current?.doc, event)
    }
    if (after !== undefined) view.doc = after
    return view
  }

  const store: ViewStore = {
    definition (threadId, collection) {
      return readDefinition(threadId.toString(), collection)
    },

    definitionWithin (threadId, collection) {
      return definitionWithin(threadId.toString(), collection)
    },

    collections (threadId) {
      const tid = threadId.toString()
      const out: CollectionDefinition[] = []
      for (const key of keysWithPrefix(db, ['c', tid], 2)) out.push(store.definition(threadId, key[2] as string)!)
      return out
    },

    define (threadId, definition) {
      const tid = threadId.toString()
      const current = definitionWithin(tid, definition.name)
      if (current !== undefined && compareEventKeys(definition.at, current.at) <= 0) return false
      // The author holds the schema as it was written, every other peer as dag-cbor ordered it: store one form.
      db.putSync(['c', tid, definition.name], { schema: canonical(definition.schema), indexes: definition.indexes, at: definition.at })
      definitions.delete(`${tid}\u0000${definition.name}`)
      const sameIndexes = current !== undefined && JSON.stringify(current.indexes) === JSON.stringify(definition.indexes)
      if (!sameIndexes) rebuildIndexes(tid, definition.name)
      return true
    },

    get (threadId, collection, id) {
      return viewOf(threadId.toString(), collection, id)?.doc
    },

    fold (threadId, key, event, codec, events) {
      const tid = threadId.toString()
      const current = viewOf(tid, event.collection, event.id)
      let view: StoredView
      if (current === undefined || compareEventKeys(key, current.at) > 0) {
        view = advance(threadId, current, key, event, codec, events)
      } else {
        // The event belongs before what this entity has folded: fold its whole history again, in key order. A
        // restore re-folds events the history already holds (and later ones): each key counts once, and the
        // view stands at the latest key it folded.
        recordHistory(threadId, current, key, event, codec, events)
        const history = events.entityEvents(threadId, event.collection, event.id)
        view = { at: history.at(-1)!.key }
        const after = history.reduce<Entity | undefined>((state, entry) => codec.apply(state, entry.event as EntityEvent), undefined)
        if (after !== undefined) view.doc = after
      }
      db.putSync(['v', tid, event.collection, event.id], view)
      writeIndexEntries(tid, event.collection, event.id, current?.doc, view.doc)
      return { before: current?.doc, after: view.doc }
    },

    uniqueConflict (threadId, collection, id, entity) {
      const tid = threadId.toString()
      for (const { path, unique } of indexPathsWithin(tid, collection)) {
        if (unique !== true) continue
        const value = valueAt(entity, path)
        if (!isIndexable(value)) continue
        for (const key of keysWithPrefix(db, ['x', tid, collection, path, value], 5)) {
          if (key[5] !== id) return path
        }
      }
      return undefined
    },

    find (threadId, collection, query) {
      const tid = threadId.toString()
      const candidates = indexCandidates(tid, collection, query)
      let rows: Entity[]
      if (candidates === undefined) {
        rows = readEntities(tid, collection)
      } else {
        rows = []
        for (const id of candidates.ids) {
          const doc = viewOf(tid, collection, id)?.doc
          if (doc !== undefined) rows.push(doc)
        }
      }
      return arrange(rows.filter(doc => queryMatches(doc, query)), query, doc => doc)
    },

    plan (threadId, collection, query) {
      const candidates = indexCandidates(threadId.toString(), collection, query)
      return { using: candidates === undefined ? 'scan' : `index:${candidates.path}` }
    },

    count (threadId, collection) {
      return readEntities(threadId.toString(), collection).length
    },

    * entities (threadId, collection) {
      const tid = threadId.toString()
      for (const { key, value } of db.getRange({ start: ['v', tid, collection] })) {
        const parts = key as Key
        if (parts[0] !== 'v' || parts[1] !== tid || parts[2] !== collection) return
        const doc = (value as StoredView).doc
        if (doc !== undefined) yield [parts[3] as string, doc]
      }
    },

    rebuild (threadId, sorted, codec, events) {
      const tid = threadId.toString()
      // The same fold as `fold`, in memory: every event comes in key order, so none is ever "in the past".
      const folded = new Map<string, { collection: string, id: string, view: StoredView }>()
      const defined = new Map<string, Omit<CollectionDefinition, 'name'>>()
      for (const { key, event } of sorted) {
        if (event.type === 'collection') {
          defined.set(event.collection, { schema: canonical(event.schema), indexes: event.indexes, at: key })
          continue
        }
        const slot = JSON.stringify([event.collection, event.id])
        const view = advance(threadId, folded.get(slot)?.view, key, event, codec, events)
        folded.set(slot, { collection: event.collection, id: event.id, view })
      }
      replaceViews(tid, folded, defined)
    },

    snapshot (threadId, position) {
      const tid = threadId.toString()
      storage.transactionSync(() => {
        writeDifference(['sv', tid], entriesUnder(['v', tid]))
        writeDifference(['sc', tid], entriesUnder(['c', tid]))
        db.putSync(['s', tid], position)
      })
    },

    snapshotPosition (threadId) {
      return (db.get(['s', threadId.toString()]) as number | undefined) ?? 0
    },

    restore (threadId) {
      const tid = threadId.toString()
      return storage.transactionSync(() => {
        const views = new Map<string, { collection: string, id: string, view: StoredView }>()
        for (const { rest: [collection, id], value } of entriesUnder(['sv', tid]).values()) {
          views.set(JSON.stringify([collection, id]), { collection: collection as string, id: id as string, view: value as StoredView })
        }
        const defined = new Map<string, Omit<CollectionDefinition, 'name'>>()
        for (const { rest: [collection], value } of entriesUnder(['sc', tid]).values()) defined.set(collection as string, value as Omit<CollectionDefinition, 'name'>)
        replaceViews(tid, views, defined)
        return store.snapshotPosition(threadId)
      })
    },

    invalidate () {
      definitions.clear()
    }
  }
  return store
}
