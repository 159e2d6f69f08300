import { createHash } from 'node:crypto'
import { canonical, encodesAsKey, fitsBytes, fitsKey, KEY_LIMITS, onePerPath, type Entity, type EventCodec, type EntityEvent, type IndexDefinition, type JsonValue, type StoreEvent } from '../codecs/event-codec.ts'
import { arrange, compareStrings, compareValues, queryMatches, valueAt, type Comparable, type Criterion, type QueryJSON } from '../codecs/query.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { compareEventKeys, type EventKey, type EventStore } from './event-store.ts'
import type { Storage, ValueDatabase } from './storage.ts'
import type { ThreadNumbers } from './thread-numbers.ts'

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

/** One entity's view as stored: what a write reads before folding into it, and hands back to `fold`. */
export interface StoredView {
  /** Absent for a deleted entity: the tombstone keeps the key its deletion was folded at. */
  doc?: Entity
  at: EventKey
  /** The entity's only event is its create, not yet written to its history: the view stands for it. */
  implied?: true
}

export interface FoldResult {
  readonly before: Entity | undefined
  readonly after: Entity | undefined
  /** The unique indexes, by path, whose value `after` took anew while another entity holds it too. */
  readonly clashes: readonly string[]
  /** `after` is the fold of this event alone: a create that landed on no entity. */
  readonly alone?: true
}

export interface QueryPlan {
  /** `id` when an equality on the ID field names the one candidate, `index:<path>` when an index narrows the candidates, `scan` when every entity is read. */
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
  /** The entity, named by `id` (`named`). */
  get (threadId: ThreadId, collection: string, id: string): Entity | undefined
  /** The stored view of one entity, a deleted one's tombstone included. */
  view (threadId: ThreadId, collection: string, id: string): StoredView | undefined
  /**
   * Folds one entity event into `current`, the entity's stored view as the caller just read it: on top of it when the
   * event is the latest, or by re-folding the entity's whole history.
   */
  fold (threadId: ThreadId, key: EventKey, event: EntityEvent, codec: EventCodec, events: EventStore, current: StoredView | undefined): FoldResult
  /**
   * Folds a create without reading the entity's view first, as most creates land on no entity. Returns undefined,
   * having written nothing, when the entity has a view after all: the caller reads it and folds as usual.
   */
  foldCreate (threadId: ThreadId, key: EventKey, event: EntityEvent, codec: EventCodec, events: EventStore): FoldResult | undefined
  /** Whether the entity's value at `path`, a unique index, is held by another entity too. */
  sharesUniqueValue (threadId: ThreadId, collection: string, id: string, path: string): boolean
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
  /**
   * Makes the snapshot the views and definitions at `position`, the current one. Only what the events after the
   * latest snapshot touched is copied (`eventsSince` gives them), unless a rebuild or a restore rewrote a view or a
   * definition since, or there is no snapshot yet: then everything is.
   */
  snapshot (threadId: ThreadId, position: number, eventsSince: (position: number) => Iterable<StoreEvent>): void
  /** The position of the latest snapshot, 0 when there is none. */
  snapshotPosition (threadId: ThreadId): number
  /** Replaces the views with the latest snapshot's, rebuilding indexes; returns its position. */
  restore (threadId: ThreadId): number
  /** Forgets cached definitions; called when a transaction that may have read uncommitted ones aborts. */
  invalidate (): void
  /** Removes everything of the thread: views, definitions, index entries, snapshots. Call inside `storage.transaction`. */
  drop (threadId: ThreadId): void
}

type Key = Array<string | number | boolean>
type IndexValue = string | number | boolean

/**
 * Entries a rebuild expects under one key prefix: maps nested by the key's remaining parts, in order, down to the
 * values. Map keys keep a part's type (1 and '1' are different entries), and finding a stored key costs a lookup
 * per part, not a string built from the key.
 */
type Expected = Map<unknown, unknown>

/** The field that names an entity: `ID` when the collection's schema declares it (as the paper's do), else `_id`. */
export function idFieldOf (definition: CollectionDefinition | { schema: Entity }): string {
  const properties = definition.schema.properties
  return typeof properties === 'object' && properties !== null && !Array.isArray(properties) && 'ID' in properties ? 'ID' : '_id'
}

/**
 * An entity as readers get it: named by the ID it is stored under. A record from elsewhere may hold a document whose
 * ID field says another entity's ID; handed out as it is, a reader saving it back would write over that other one.
 * Views keep what the events say, so every peer stores the same whatever the collection's ID field was when it folded.
 */
export function named (definition: CollectionDefinition | undefined, id: string, entity: Entity): Entity {
  const field = definition === undefined ? '_id' : idFieldOf(definition)
  return entity[field] === id ? entity : { ...entity, [field]: id }
}

/** Values an index holds; null, objects and arrays are found by scanning. */
function isIndexable (value: JsonValue | Comparable | undefined): value is IndexValue {
  return typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

/**
 * Where index entries live: by value (`x` plain, `u` unique), or, for a string too long to be part of a key, by its
 * digest (`xl`, `ul`). Values of every length are indexed, and a long one sorts nowhere: a range over strings reads
 * the long ones of its path too, and the query's own comparison keeps those it matches.
 */
type IndexKind = 'x' | 'xl' | 'u' | 'ul'
const INDEX_KINDS: ReadonlyArray<{ kind: IndexKind, unique: boolean }> = [
  { kind: 'x', unique: false }, { kind: 'xl', unique: false }, { kind: 'u', unique: true }, { kind: 'ul', unique: true }
]
type IndexEntries = Record<IndexKind, Expected>
/** Every kind of key a thread has here, each followed by the thread's number. */
const THREAD_KINDS: readonly string[] = ['v', 'c', ...INDEX_KINDS.map(({ kind }) => kind), 's', 'sv', 'sc', 'si']

/** A string a key cannot hold as it is: too long, or long enough for lmdb to leave its U+0000–U+0004 unescaped. */
function keyedByDigest (value: IndexValue): value is string {
  return typeof value === 'string' && (!fitsBytes(value, KEY_LIMITS.indexedValue) || !encodesAsKey(value))
}

/** The kind of entry that holds `value` in an index, and the key part standing for it. */
function slotOf (value: IndexValue, unique: boolean): { kind: IndexKind, part: IndexValue } {
  if (keyedByDigest(value)) return { kind: unique ? 'ul' : 'xl', part: createHash('sha256').update(value).digest('base64url') }
  return { kind: unique ? 'u' : 'x', part: value }
}

/** A key part at or before `value` in key order: the value, or a prefix of a long one short enough to be escaped. */
function startAt (value: IndexValue): IndexValue {
  if (!keyedByDigest(value)) return value
  const prefix = value.slice(0, 63)
  return prefix.isWellFormed() ? prefix : prefix.slice(0, -1)
}

/** The value `entity` holds at an indexed path, when an index holds it. */
function indexedAt (entity: Entity | undefined, path: string): IndexValue | undefined {
  if (entity === undefined) return undefined
  const value = valueAt(entity, path)
  return isIndexable(value) ? value : undefined
}

/** Structural equality of stored values (plain data: objects, arrays, strings, numbers, booleans, null). */
function same (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  // Counted, not listed: two key arrays per object cost more than the comparison.
  let keys = 0
  for (const key in a) {
    if (!Object.hasOwn(b, key) || !same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false
    keys++
  }
  for (const key in b) if (Object.hasOwn(b, key)) keys--
  return keys === 0
}

function hasPrefix (parts: Key, prefix: Key): boolean {
  for (let i = 0; i < prefix.length; i++) if (parts[i] !== prefix[i]) return false
  return true
}

/** Iterates keys from `start` while they keep `prefix`. */
function * keysWithPrefix (db: ValueDatabase<unknown>, start: Key, prefixLength: number): Generator<Key> {
  const prefix = start.slice(0, prefixLength)
  for (const key of db.getKeys({ start })) {
    const parts = key as Key
    if (!hasPrefix(parts, prefix)) return
    yield parts
  }
}

/** Iterates entries from `start` while their keys keep `prefix`. */
function * entriesWithPrefix (db: ValueDatabase<unknown>, start: Key, prefixLength: number): Generator<{ key: Key, value: unknown }> {
  const prefix = start.slice(0, prefixLength)
  for (const { key, value } of db.getRange({ start })) {
    const parts = key as Key
    if (!hasPrefix(parts, prefix)) return
    yield { key: parts, value }
  }
}

/** `holders` with `id` among them, in the one order every peer keeps them in. */
function holding (holders: readonly string[], id: string): string[] {
  return [...holders, id].sort()
}

/** The map under `part` of `parent`, made when missing. */
function branch (parent: Expected, part: unknown): Expected {
  let child = parent.get(part) as Expected | undefined
  if (child === undefined) {
    child = new Map()
    parent.set(part, child)
  }
  return child
}

export function createViewStore (storage: Storage, numbers: ThreadNumbers): ViewStore {
  const db = storage.valueDatabase<unknown>('views')
  // Key layout, `thread` the thread's number: ['v', thread, collection, id] → view; ['c', thread, collection] →
  // definition; ['x', thread, collection, path, value, id] → 1 (an index); ['u', thread, collection, path, value] →
  // the IDs holding the value, sorted (a unique index: one ID, unless records from elsewhere brought in more);
  // 'xl' and 'ul' the same for strings too long to be part of a key, each under its SHA-256 (base64url);
  // ['s', thread] → snapshot position; ['sv', thread, collection, id] → snapshot view; ['sc', thread, collection] →
  // snapshot definition; ['si', thread] → true while the views have changed since the snapshot only through events
  // after it, so the next snapshot copies only what those touched (a rebuild or a restore that rewrites a view or a
  // definition removes it).

  /**
   * Writes `value` only when `key` is free, and says whether it did: one write where a read and a write would be.
   * (lmdb documents the boolean `putSync` returns; its typings leave it out.)
   */
  const putIfAbsent = (key: Key, value: unknown): boolean => db.putSync(key, value, { noOverwrite: true }) as unknown as boolean

  // A name or an ID no write accepts names nothing stored, and could not be made into a key to look for it.
  const viewOf = (thread: number, collection: string, id: string): StoredView | undefined =>
    fitsKey(collection, KEY_LIMITS.collection) && fitsKey(id, KEY_LIMITS.id) ? db.get(['v', thread, collection, id]) as StoredView | undefined : undefined

  const readDefinition = (thread: number, collection: string): CollectionDefinition | undefined => {
    if (!fitsKey(collection, KEY_LIMITS.collection)) return undefined
    const stored = db.get(['c', thread, collection]) as Omit<CollectionDefinition, 'name'> | undefined
    return stored === undefined ? undefined : { name: collection, ...stored }
  }

  // Definitions are read for every event folded; decoding them each time would cost more than the fold. Only
  // writes, inside their storage transactions, use the cache: it follows the state those transactions see, is
  // emptied by every definition written, and by `invalidate` when a transaction fails. Readers outside a
  // transaction read what is committed, never the cache.
  const definitions = new Map<string, CollectionDefinition | null>()
  const definitionWithin = (thread: number, collection: string): CollectionDefinition | undefined => {
    const slot = `${thread}\u0000${collection}`
    let definition = definitions.get(slot)
    if (definition === undefined) {
      definition = readDefinition(thread, collection) ?? null
      definitions.set(slot, definition)
    }
    return definition ?? undefined
  }

  /** Takes `id` off the holders of a unique index's value. */
  const release = (key: Key, id: string): void => {
    const holders = (db.get(key) as string[] | undefined)?.filter(holder => holder !== id) ?? []
    if (holders.length === 0) db.removeSync(key)
    else db.putSync(key, holders)
  }

  /**
   * Moves an entity's index entries from `before` to `after`. Returns the unique indexes whose value `after` took
   * anew while another entity holds it too: a local commit that still leaves it so is refused, a record from elsewhere
   * is folded anyway (and the entry lists both holders, whatever order their records arrived in).
   */
  const writeIndexEntries = (thread: number, collection: string, id: string, before: Entity | undefined, after: Entity | undefined): string[] => {
    const clashes: string[] = []
    const keyOf = (path: string, value: IndexValue, unique: boolean): Key => {
      const { kind, part } = slotOf(value, unique)
      return [kind, thread, collection, path, part]
    }
    for (const { path, unique } of definitionWithin(thread, collection)?.indexes ?? []) {
      const old = indexedAt(before, path)
      const next = indexedAt(after, path)
      if (unique !== true) {
        if (old === next) continue
        if (old !== undefined) db.removeSync([...keyOf(path, old, false), id])
        if (next !== undefined) db.putSync([...keyOf(path, next, false), id], 1)
        continue
      }
      if (old !== undefined && old !== next) release(keyOf(path, old, true), id)
      if (next === undefined) continue
      const key = keyOf(path, next, true)
      // A value taken anew is usually free: the write that takes it says whether it was, with no read before it.
      if (old !== next && putIfAbsent(key, [id])) continue
      const holders = (db.get(key) as string[] | undefined) ?? []
      if (!holders.includes(id)) db.putSync(key, holding(holders, id))
      // Only a value newly taken clashes: an entity that already shares one (two logs took it) keeps it through its edits.
      if (old !== next && holders.some(holder => holder !== id)) clashes.push(path)
    }
    return clashes
  }

  /** Moves the entity's index entries along with its view, and says what the fold did. */
  const indexing = (thread: number, event: EntityEvent, before: Entity | undefined, view: StoredView): FoldResult => {
    const after = view.doc
    return { before, after, clashes: writeIndexEntries(thread, event.collection, event.id, before, after), alone: view.implied }
  }

  /** The index entries a collection's views call for, added to `expected` by kind and collection. */
  const expectIndexEntries = (collection: string, indexes: readonly IndexDefinition[], views: Iterable<[string, StoredView]>, expected: IndexEntries): void => {
    if (indexes.length === 0) return
    // Each path's branch of every kind it may write, found once rather than for every entity.
    const targets = indexes.map(({ path, unique }) => {
      const isUnique = unique === true
      const byKind = new Map(INDEX_KINDS.filter(slot => slot.unique === isUnique).map(({ kind }) => [kind, branch(branch(expected[kind], collection), path)]))
      return { path, isUnique, byKind }
    })
    for (const [id, view] of views) {
      if (view.doc === undefined) continue
      for (const { path, isUnique, byKind } of targets) {
        const value = indexedAt(view.doc, path)
        if (value === undefined) continue
        const { kind, part } = slotOf(value, isUnique)
        const byValue = byKind.get(kind)!
        if (!isUnique) {
          branch(byValue, part).set(id, 1)
          continue
        }
        const holders = byValue.get(part) as string[] | undefined
        byValue.set(part, holders === undefined ? [id] : holding(holders, id))
      }
    }
  }

  const noIndexEntries = (): IndexEntries => ({ x: new Map(), xl: new Map(), u: new Map(), ul: new Map() })

  /** Every view of one collection, as stored. */
  function * storedViews (thread: number, collection: string): Generator<[string, StoredView]> {
    for (const { key, value } of entriesWithPrefix(db, ['v', thread, collection], 3)) yield [key[3] as string, value as StoredView]
  }

  const rebuildIndexes = (thread: number, collection: string): void => {
    for (const { kind } of INDEX_KINDS) {
      for (const key of [...keysWithPrefix(db, [kind, thread, collection], 3)]) db.removeSync(key)
    }
    const expected = noIndexEntries()
    expectIndexEntries(collection, definitionWithin(thread, collection)?.indexes ?? [], storedViews(thread, collection), expected)
    for (const { kind } of INDEX_KINDS) putAll([kind, thread], expected[kind])
  }

  /**
   * Candidate IDs for the query's criteria: the one an equality on the ID field names, or those of the best index;
   * undefined when neither helps. Rows are named by the ID they are stored under (`named`), which an index of the ID
   * field, built from what the documents say, may not hold: that field is never looked up through one.
   */
  const indexCandidates = (thread: number, collection: string, query: QueryJSON): { using: string, ids: Iterable<string> } | undefined => {
    if (query.ors.length > 0) return undefined
    const definition = readDefinition(thread, collection)
    const idField = definition === undefined ? '_id' : idFieldOf(definition)
    const byId = query.ands.find(criterion => criterion.path === idField && criterion.op === 'eq')
    if (byId !== undefined) return { using: 'id', ids: typeof byId.value === 'string' ? [byId.value] : [] }
    const indexes = new Map((definition?.indexes ?? []).map(index => [index.path, index.unique === true]))
    const usable = query.ands.filter(criterion => criterion.path !== idField && indexes.has(criterion.path) && criterion.op !== 'ne' && isIndexable(criterion.value) &&
      // A string no entity could hold (a lone surrogate) is compared by a scan, which finds nothing equal to it.
      (typeof criterion.value !== 'string' || criterion.value.isWellFormed()))
    const best = usable.find(criterion => criterion.op === 'eq') ??
      usable.find(criterion => typeof criterion.value === 'number' || typeof criterion.value === 'string')
    if (best === undefined) return undefined
    return { using: `index:${best.path}`, ids: idsFromIndex(thread, collection, best, indexes.get(best.path)!) }
  }

  /** The IDs of every entry under `prefix` (`depth` parts long) of an index of this kind. */
  function * idsUnder (prefix: Key, depth: number, unique: boolean): Generator<string> {
    if (unique) for (const { value } of entriesWithPrefix(db, prefix, depth)) yield * value as string[]
    else for (const key of keysWithPrefix(db, prefix, depth)) yield key[5] as string
  }

  /** Candidates for `criterion`: every ID it may match, and perhaps some it does not (the query's own comparison decides). */
  function * idsFromIndex (thread: number, collection: string, criterion: Criterion, unique: boolean): Generator<string> {
    const { path, op } = criterion
    const value = criterion.value as IndexValue
    if (op === 'eq') {
      const { kind, part } = slotOf(value, unique)
      const key: Key = [kind, thread, collection, path, part]
      if (unique) yield * (db.get(key) as string[] | undefined) ?? []
      else yield * idsUnder(key, 5, false)
      return
    }
    const kind = unique ? 'u' : 'x'
    const lowerBound = op === 'gt' || op === 'ge'
    const start: Key = [kind, thread, collection, path, lowerBound ? startAt(value) : typeof value === 'number' ? -Number.MAX_VALUE : '']
    const entries = unique
      ? entriesWithPrefix(db, start, 4)
      : (function * () { for (const key of keysWithPrefix(db, start, 4)) yield { key, value: [key[5] as string] } })()
    for (const { key, value: ids } of entries) {
      const found = key[4] as IndexValue
      if (typeof found !== typeof value) break
      const order = compareValues(found, value)
      if ((op === 'lt' && order >= 0) || (op === 'le' && order > 0)) break
      yield * (ids as string[])
    }
    if (typeof value === 'string') yield * idsUnder([unique ? 'ul' : 'xl', thread, collection, path], 4, unique)
  }

  /** Every live entity of the collection, in ID order, named as readers get them. */
  const readEntities = (thread: number, collection: string): Entity[] => {
    const definition = readDefinition(thread, collection)
    const out: Entity[] = []
    for (const [id, view] of storedViews(thread, collection)) if (view.doc !== undefined) out.push(named(definition, id, view.doc))
    return out
  }

  /** The entries under `prefix`, `depth` key parts below it. */
  const entriesUnder = (prefix: Key, depth: number): Expected => {
    const entries: Expected = new Map()
    for (const { key, value } of entriesWithPrefix(db, prefix, prefix.length)) {
      if (key.length !== prefix.length + depth) continue
      let node = entries
      for (let i = prefix.length; i < key.length - 1; i++) node = branch(node, key[i])
      node.set(key.at(-1), value)
    }
    return entries
  }

  /** Writes every entry of `expected` under `prefix`, and says how many. */
  const putAll = (prefix: Key, expected: Expected): number => {
    let written = 0
    for (const [part, child] of expected) {
      if (child instanceof Map) written += putAll([...prefix, part as string], child as Expected)
      else {
        db.putSync([...prefix, part as string], child)
        written++
      }
    }
    return written
  }

  /**
   * Makes the entries under `prefix` exactly `expected` (`depth` key parts below the prefix), writing only what
   * differs: usually little or nothing. Index entries carry no value worth reading (`keysOnly`): their keys say
   * everything. Takes what it finds out of `expected`. Says whether it wrote anything.
   */
  const writeDifference = (prefix: Key, expected: Expected, depth: number, keysOnly = false): boolean => {
    let changed = false
    const settle = (key: Key, value: unknown): void => {
      let node: Expected | undefined = key.length === prefix.length + depth ? expected : undefined
      for (let i = prefix.length; i < key.length - 1 && node !== undefined; i++) node = node.get(key[i]) as Expected | undefined
      const last = key[key.length - 1]
      if (node === undefined || !node.has(last)) {
        db.removeSync(key)
        changed = true
        return
      }
      if (!keysOnly && !same(value, node.get(last))) {
        db.putSync(key, node.get(last))
        changed = true
      }
      node.delete(last)
    }
    // Plain loops over the cursor: a generator around it cost more than the lookups.
    if (keysOnly) {
      for (const key of db.getKeys({ start: prefix }) as Iterable<Key>) {
        if (!hasPrefix(key, prefix)) break
        settle(key, undefined)
      }
    } else {
      for (const { key, value } of db.getRange({ start: prefix })) {
        if (!hasPrefix(key as Key, prefix)) break
        settle(key as Key, value)
      }
    }
    return putAll(prefix, expected) > 0 || changed
  }

  /** Makes the thread's definitions, views and index entries exactly these. */
  const replaceViews = (thread: number, views: Expected, defined: Map<string, Omit<CollectionDefinition, 'name'>>): void => {
    const expected = noIndexEntries()
    for (const [collection, byId] of views as Map<string, Map<string, StoredView>>) {
      expectIndexEntries(collection, defined.get(collection)?.indexes ?? [], byId, expected)
    }
    const definitionsChanged = writeDifference(['c', thread], defined, 1)
    const viewsChanged = writeDifference(['v', thread], views, 2)
    // Plain entries carry nothing but their keys; unique ones, their holders.
    for (const { kind, unique } of INDEX_KINDS) writeDifference([kind, thread], expected[kind], unique ? 3 : 4, !unique)
    definitions.clear()
    // Views put right by other means than events leave the latest snapshot no base for copying only what events touch.
    if (definitionsChanged || viewsChanged) db.removeSync(['si', thread])
  }

  /** Makes `to` hold what `from` holds, or nothing when `from` holds nothing. */
  const copyEntry = (from: Key, to: Key): void => {
    const value = db.get(from)
    if (value === undefined) db.removeSync(to)
    else db.putSync(to, value)
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
      return readDefinition(numbers.of(threadId), collection)
    },

    definitionWithin (threadId, collection) {
      return definitionWithin(numbers.of(threadId), collection)
    },

    collections (threadId) {
      const thread = numbers.of(threadId)
      const out: CollectionDefinition[] = []
      for (const key of keysWithPrefix(db, ['c', thread], 2)) out.push(store.definition(threadId, key[2] as string)!)
      return out
    },

    define (threadId, definition) {
      const thread = numbers.assign(threadId)
      const current = definitionWithin(thread, definition.name)
      if (current !== undefined && compareEventKeys(definition.at, current.at) <= 0) return false
      const indexes = onePerPath(definition.indexes)
      // The author holds the schema as it was written, every other peer as dag-cbor ordered it: store one form.
      db.putSync(['c', thread, definition.name], { schema: canonical(definition.schema), indexes, at: definition.at })
      definitions.delete(`${thread}\u0000${definition.name}`)
      const sameIndexes = current !== undefined && JSON.stringify(current.indexes) === JSON.stringify(indexes)
      if (!sameIndexes) rebuildIndexes(thread, definition.name)
      return true
    },

    get (threadId, collection, id) {
      const thread = numbers.of(threadId)
      const doc = viewOf(thread, collection, id)?.doc
      return doc === undefined ? undefined : named(readDefinition(thread, collection), id, doc)
    },

    view (threadId, collection, id) {
      return viewOf(numbers.of(threadId), collection, id)
    },

    fold (threadId, key, event, codec, events, current) {
      const thread = numbers.assign(threadId)
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
      db.putSync(['v', thread, event.collection, event.id], view)
      return indexing(thread, event, current?.doc, view)
    },

    foldCreate (threadId, key, event, codec, events) {
      const thread = numbers.assign(threadId)
      const view = advance(threadId, undefined, key, event, codec, events)
      if (!putIfAbsent(['v', thread, event.collection, event.id], view)) return undefined
      return indexing(thread, event, undefined, view)
    },

    sharesUniqueValue (threadId, collection, id, path) {
      const thread = numbers.of(threadId)
      const value = indexedAt(viewOf(thread, collection, id)?.doc, path)
      if (value === undefined) return false
      const { kind, part } = slotOf(value, true)
      return ((db.get([kind, thread, collection, path, part]) as string[] | undefined) ?? []).some(holder => holder !== id)
    },

    find (threadId, collection, query) {
      const thread = numbers.of(threadId)
      const candidates = indexCandidates(thread, collection, query)
      let rows: Entity[]
      if (candidates === undefined) {
        rows = readEntities(thread, collection)
      } else {
        rows = []
        const definition = readDefinition(thread, collection)
        // In ID order, as a scan reads them: which of several equal rows a page holds must not depend on the plan.
        for (const id of [...candidates.ids].sort(compareStrings)) {
          const doc = viewOf(thread, collection, id)?.doc
          if (doc !== undefined) rows.push(named(definition, id, doc))
        }
      }
      return arrange(rows.filter(doc => queryMatches(doc, query)), query)
    },

    plan (threadId, collection, query) {
      const candidates = indexCandidates(numbers.of(threadId), collection, query)
      return { using: candidates?.using ?? 'scan' }
    },

    count (threadId, collection) {
      let count = 0
      for (const [, view] of storedViews(numbers.of(threadId), collection)) if (view.doc !== undefined) count++
      return count
    },

    * entities (threadId, collection) {
      for (const [id, view] of storedViews(numbers.of(threadId), collection)) if (view.doc !== undefined) yield [id, view.doc]
    },

    rebuild (threadId, sorted, codec, events) {
      // The same fold as `fold`, in memory: every event comes in key order, so none is ever "in the past".
      const folded: Expected = new Map()
      const defined = new Map<string, Omit<CollectionDefinition, 'name'>>()
      for (const { key, event } of sorted) {
        if (event.type === 'collection') {
          defined.set(event.collection, { schema: canonical(event.schema), indexes: onePerPath(event.indexes), at: key })
          continue
        }
        const byId = branch(folded, event.collection)
        byId.set(event.id, advance(threadId, byId.get(event.id) as StoredView | undefined, key, event, codec, events))
      }
      replaceViews(numbers.assign(threadId), folded, defined)
    },

    snapshot (threadId, position, eventsSince) {
      const thread = numbers.assign(threadId)
      storage.transactionSync(() => {
        const latest = db.get(['s', thread]) as number | undefined
        if (latest === undefined || db.get(['si', thread]) !== true) {
          writeDifference(['sv', thread], entriesUnder(['v', thread], 2), 2)
          writeDifference(['sc', thread], entriesUnder(['c', thread], 1), 1)
        } else {
          // Every view or definition that changed since the latest snapshot changed through an event after it.
          const copied = new Set<string>()
          for (const event of eventsSince(latest)) {
            const id = event.type === 'collection' ? undefined : event.id
            const slot = JSON.stringify(id === undefined ? [event.collection] : [event.collection, id])
            if (copied.has(slot)) continue
            copied.add(slot)
            if (id === undefined) copyEntry(['c', thread, event.collection], ['sc', thread, event.collection])
            else copyEntry(['v', thread, event.collection, id], ['sv', thread, event.collection, id])
          }
        }
        db.putSync(['s', thread], position)
        db.putSync(['si', thread], true)
      })
    },

    snapshotPosition (threadId) {
      return (db.get(['s', numbers.of(threadId)]) as number | undefined) ?? 0
    },

    restore (threadId) {
      const thread = numbers.assign(threadId)
      return storage.transactionSync(() => {
        const defined = entriesUnder(['sc', thread], 1) as Map<string, Omit<CollectionDefinition, 'name'>>
        replaceViews(thread, entriesUnder(['sv', thread], 2), defined)
        return store.snapshotPosition(threadId)
      })
    },

    invalidate () {
      definitions.clear()
    },

    drop (threadId) {
      const thread = numbers.of(threadId)
      if (thread === 0) return
      for (const kind of THREAD_KINDS) {
        for (const key of [...keysWithPrefix(db, [kind, thread], 2)]) db.removeSync(key)
      }
      definitions.clear()
    }
  }
  return store
}
