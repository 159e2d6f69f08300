import { Ajv, type ValidateFunction } from 'ajv'
import {
  copyJson, draftUpdate, encodeRecordBody, fitsKey, isFieldPath, isPlainJson, jsonPatchCodec, jsonProblem, KEY_LIMITS, parseRecordBody,
  type Action, type CollectionEvent, type ControlEvent, type Entity, type EntityEvent, type EventCodec, type IndexDefinition, type ParsedRecordBody, type StoreEvent
} from '../codecs/event-codec.ts'
import { createAccessStore, type AccessOutcome, type AccessStore } from './access-store.ts'
import type { Draft } from 'immer'
import type { Timestamp } from '../codecs/hlc.ts'
import { valueAt, type QueryJSON } from '../codecs/query.ts'
import { timeOrderedId } from '../codecs/entity-id.ts'
import { DecryptionError, MalformedBlockError, ThreadsError } from '../codecs/errors.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import {
  EntityExistsError, EntityNotFoundError, InvalidSchemaError, SchemaViolationError, StorageClosedError, UniqueViolationError,
  UnknownCollectionError
} from './errors.ts'
import { compareEventKeys, createEventStore, type EventKey, type PersistedEvent } from './event-store.ts'
import type { CheckedRecord, LogStore, StoredRecord } from './log-store.ts'
import { openRecordBlocks, type RecordContent } from '../codecs/record.ts'
import type { PinnedState, Storage } from './storage.ts'
import { createThreadNumbers } from './thread-numbers.ts'
import { createViewStore, idFieldOf, named, type CollectionDefinition, type FoldResult, type QueryPlan, type StoredView, type ViewStore } from './view-store.ts'

/**
 * The store's write and read paths over one peer's storage. A commit is validated, encoded, folded into the
 * views and appended to our own log inside the caller's transaction, so all of it commits or none of it does;
 * a remote record is accepted and folded the same way, minus the validation that only an author can do. A
 * reducer cannot tell the two apart: both end in `fold`.
 */

/**
 * The thread's metadata naming how what is derived from its logs is laid out here. Raised whenever a build keys
 * views, indexes or ACLs differently: 2 puts index values a key cannot hold as written under their digest, and
 * keys an entity's ACL by its collection and ID as parts of their own.
 */
const DERIVED_LAYOUT = 'derived layout'
const CURRENT_LAYOUT = 2

/** A change as a transaction collects it; the engine resolves it against the state it commits on. */
export type Change =
  | { readonly type: 'create', readonly collection: string, readonly entity: Entity }
  | { readonly type: 'save', readonly collection: string, readonly entity: Entity }
  /** Create when absent, save when present: the key-value and document interfaces write this way. */
  | { readonly type: 'put', readonly collection: string, readonly entity: Entity }
  | { readonly type: 'update', readonly collection: string, readonly id: string, readonly recipe: (draft: Draft<Entity>) => void }
  | { readonly type: 'delete', readonly collection: string, readonly id: string }
  /** Delete when present, nothing when absent: the key-value and document interfaces delete this way. */
  | { readonly type: 'discard', readonly collection: string, readonly id: string }
  | { readonly type: 'collection', readonly collection: string, readonly schema: Entity, readonly indexes: readonly IndexDefinition[] }
  /** A membership or access event (invite, join, genesis, grant, revoke), folded before the record's other events. */
  | { readonly type: 'control', readonly event: ControlEvent }

export interface Committed {
  readonly record: StoredRecord
  readonly events: PersistedEvent[]
  /** What each of the record's control events did. */
  readonly access: readonly AccessOutcome[]
}

export interface StoreEngineInit {
  storage: Storage
  logs: LogStore
  codec?: EventCodec
}

export interface StoreEngine {
  readonly codec: EventCodec
  /** Membership and ACLs as folded so far; read it, never write it (commits and ingests do). */
  readonly access: AccessStore
  /**
   * Validates and applies `changes` as one record of our log `logId`; call inside `storage.transaction`. Undefined,
   * with no record written, when every change was a discard of an entity that is not there.
   */
  commitWithin (threadId: ThreadId, logId: string, changes: readonly Change[]): Committed | undefined
  /** Accepts a checked record of someone's log (`logs.check`) and folds its events; call inside `storage.transaction`. */
  ingestWithin (checked: CheckedRecord): Committed
  /** Holds the state committed now: reads run through it see that state, as a read transaction must. */
  pin (): PinnedState
  definition (threadId: ThreadId, collection: string): CollectionDefinition | undefined
  collections (threadId: ThreadId): CollectionDefinition[]
  get (threadId: ThreadId, collection: string, id: string): Entity | undefined
  find (threadId: ThreadId, collection: string, query: QueryJSON): Entity[]
  plan (threadId: ThreadId, collection: string, query: QueryJSON): QueryPlan
  count (threadId: ThreadId, collection: string): number
  position (threadId: ThreadId): number
  eventsAfter (threadId: ThreadId, position: number, limit: number): PersistedEvent[]
  /** Copies the views at the current position; returns that position. */
  snapshot (threadId: ThreadId): Promise<number>
  snapshotPosition (threadId: ThreadId): number
  /** Rebuilds the views from the latest snapshot and the events after it; returns how many events were folded. */
  restore (threadId: ThreadId): Promise<number>
  /** Rebuilds the views from the logs alone; returns how many events were folded. */
  rebuild (threadId: ThreadId): Promise<number>
  /**
   * Folds the thread from its logs when what is derived from them here (views, indexes, ACLs) is not marked as laid
   * out the way this build writes it: an earlier build wrote it, in a layout this one may read wrong. Returns how many
   * events were folded, 0 when it was up to date.
   */
  foldIfOutdated (threadId: ThreadId): Promise<number>
  /**
   * Drops events at or before the latest snapshot from the arrival index, but none after `keepAfter` (the
   * slowest listener's cursor); returns how many.
   */
  compact (threadId: ThreadId, keepAfter?: number): Promise<number>
  /** Forgets cached state after a storage transaction failed to commit. */
  invalidate (): void
  /**
   * Removes everything derived from the thread's logs here: views, indexes, events, snapshots, ACLs and membership,
   * and its number. Call inside `storage.transaction`, with the logs' own removal.
   */
  dropWithin (threadId: ThreadId): void
}

/**
 * The entity with an ID, assigned when it has none (or an empty one). An ID of another kind is left for the write to
 * refuse, as is an entity that is not an object.
 */
export function withId (definition: CollectionDefinition | { schema: Entity }, entity: Entity): Entity {
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity)) {
    throw new SchemaViolationError(`an entity is an object, not ${entity === null ? 'null' : Array.isArray(entity) ? 'a list' : typeof entity}`, ['/'])
  }
  const field = idFieldOf(definition)
  const id = entity[field]
  if (id !== undefined && id !== '') return entity
  return { ...entity, [field]: timeOrderedId() }
}

function idOf (definition: CollectionDefinition, entity: Entity, action: string): string {
  const id = entity[idFieldOf(definition)]
  if (!fitsKey(id, KEY_LIMITS.id)) {
    throw new SchemaViolationError(`${action} in ${definition.name}: entity has no ${idFieldOf(definition)} of 1–${KEY_LIMITS.id} bytes`, [])
  }
  return id
}

/**
 * A change resolved against the state it commits on: its action, and the entity's view as resolution read it, which
 * the fold takes up rather than reading it again. A create reads none: its fold finds out.
 */
interface Resolved {
  readonly action: Action | CollectionEvent
  readonly current?: StoredView
}

function exists (collection: string, id: string): EntityExistsError {
  return new EntityExistsError(`${collection} ${id} already exists`)
}

export function createStoreEngine (init: StoreEngineInit): StoreEngine {
  const { storage, logs } = init
  const codec = init.codec ?? jsonPatchCodec
  const numbers = createThreadNumbers(storage)
  // Events whose entity is their own fold, so the arrival index keeps them without it.
  const foldedAlone = new WeakSet<PersistedEvent>()
  const events = createEventStore(storage, numbers, { codec, foldsAlone: event => foldedAlone.has(event) })
  const views: ViewStore = createViewStore(storage, numbers)
  const access = createAccessStore(storage)
  // One validator per collection, for its latest definition: one replaced by a later definition is dropped with it.
  const validators = new Map<string, { at: string, validate: ValidateFunction }>()
  // A write's definitions come from the view store's cache, one object for as long as it stands: found by the
  // object, a validator costs no key built for every entity validated.
  const validatorsByDefinition = new WeakMap<CollectionDefinition, ValidateFunction>()

  const compile = (collection: string, schema: Entity): ValidateFunction => {
    try {
      return new Ajv({ allErrors: true, strict: false }).compile(schema)
    } catch (cause) {
      throw new InvalidSchemaError(`schema of ${collection} does not compile: ${(cause as Error).message}`, { cause })
    }
  }

  const validatorOf = (threadId: ThreadId, definition: CollectionDefinition): ValidateFunction => {
    let validate = validatorsByDefinition.get(definition)
    if (validate !== undefined) return validate
    const slot = `${threadId.toString()}/${definition.name}`
    const at = definition.at.join(':')
    const held = validators.get(slot)
    if (held?.at === at) {
      validate = held.validate
    } else {
      validate = compile(definition.name, definition.schema)
      validators.set(slot, { at, validate })
    }
    validatorsByDefinition.set(definition, validate)
    return validate
  }

  /** The committed definition, for readers; throws `UnknownCollectionError` when there is none. */
  const committedDefinition = (threadId: ThreadId, collection: string): CollectionDefinition => {
    const definition = views.definition(threadId, collection)
    if (definition === undefined) throw new UnknownCollectionError(`no collection ${JSON.stringify(collection)} in thread ${threadId.toString()}`)
    return definition
  }

  /** The definition a write resolves against, inside its transaction. */
  const definitionOf = (threadId: ThreadId, collection: string): CollectionDefinition => {
    const definition = views.definitionWithin(threadId, collection)
    if (definition === undefined) throw new UnknownCollectionError(`no collection ${JSON.stringify(collection)} in thread ${threadId.toString()}`)
    return definition
  }

  const assertValid = (threadId: ThreadId, definition: CollectionDefinition, entity: Entity): void => {
    const notJson = isPlainJson(entity) ? undefined : jsonProblem(entity)
    if (notJson !== undefined) throw new SchemaViolationError(`entity is not plain JSON: ${notJson}`, [notJson])
    const validate = validatorOf(threadId, definition)
    if (!validate(entity)) {
      const problems = (validate.errors ?? []).map(error => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`)
      throw new SchemaViolationError(`entity does not match the ${definition.name} schema: ${problems.join('; ')}`, problems)
    }
  }

  /** A unique index cannot be declared over values that are already taken twice. */
  const assertNoDuplicates = (threadId: ThreadId, collection: string, path: string): void => {
    const seen = new Set<string>()
    for (const [, entity] of views.entities(threadId, collection)) {
      const value = valueAt(entity, path)
      if (value === undefined || value === null || typeof value === 'object') continue
      const slot = JSON.stringify(value)
      if (seen.has(slot)) throw new UniqueViolationError(`${collection}: existing entities already share a ${path}, so it cannot be unique`, path)
      seen.add(slot)
    }
  }

  /** A record body this engine can fold: well formed, and written with its codec. */
  const bodyOf = (value: unknown): ParsedRecordBody => {
    const body = parseRecordBody(value)
    if (body.codec !== codec.name) throw new MalformedBlockError(`record written with codec ${JSON.stringify(body.codec)}; this store folds ${codec.name}`)
    return body
  }

  /** Resolves a change against the state it commits on: the checks only the author can make, then the action. */
  const resolve = (threadId: ThreadId, change: Exclude<Change, { type: 'control' }>): Resolved | undefined => {
    if (change.type === 'collection') {
      // What a reader of the record refuses (`parseRecordBody`), the author must refuse first: a record it would
      // accept here but no peer could fold again (not even this one, on a rebuild) poisons the log.
      if (!fitsKey(change.collection, KEY_LIMITS.collection)) throw new InvalidSchemaError(`a collection needs a name of 1–${KEY_LIMITS.collection} bytes`)
      if (typeof change.schema !== 'object' || change.schema === null || Array.isArray(change.schema)) {
        throw new InvalidSchemaError(`schema of ${change.collection} is not an object`)
      }
      // Every peer reads the schema back from JSON: what JSON would change (Infinity, undefined…) they would not agree on.
      const problem = jsonProblem(change.schema)
      if (problem !== undefined) throw new InvalidSchemaError(`schema of ${change.collection} is not plain JSON: ${problem}`)
      const schema = copyJson(change.schema)
      compile(change.collection, schema)
      const paths = new Set<string>()
      for (const index of change.indexes) {
        if (!isFieldPath(index.path)) throw new InvalidSchemaError(`index of ${change.collection} has no path`)
        if (paths.has(index.path)) throw new InvalidSchemaError(`${change.collection} declares an index on ${index.path} twice`)
        paths.add(index.path)
        if (index.unique === true) assertNoDuplicates(threadId, change.collection, index.path)
      }
      return { action: { type: 'collection', collection: change.collection, schema, indexes: change.indexes.map(index => ({ path: index.path, unique: index.unique === true })) } }
    }
    const definition = definitionOf(threadId, change.collection)
    const { collection } = change
    switch (change.type) {
      case 'create': {
        const id = idOf(definition, change.entity, 'create')
        try {
          assertValid(threadId, definition, change.entity)
        } catch (error) {
          // The fold finds an entity that exists; an invalid create of one is refused for existing all the same.
          if (views.get(threadId, collection, id) !== undefined) throw exists(collection, id)
          throw error
        }
        return { action: { type: 'create', collection, id, entity: change.entity } }
      }
      case 'save': {
        const id = idOf(definition, change.entity, 'save')
        const current = views.view(threadId, collection, id)
        if (current?.doc === undefined) throw new EntityNotFoundError(`cannot save ${collection} ${id}: it does not exist`)
        assertValid(threadId, definition, change.entity)
        return { action: { type: 'save', collection, id, entity: change.entity, previous: current.doc }, current }
      }
      case 'put': {
        const id = idOf(definition, change.entity, 'put')
        const current = views.view(threadId, collection, id)
        assertValid(threadId, definition, change.entity)
        if (current?.doc === undefined) return { action: { type: 'create', collection, id, entity: change.entity }, current }
        return { action: { type: 'save', collection, id, entity: change.entity, previous: current.doc }, current }
      }
      case 'update': {
        const current = views.view(threadId, collection, change.id)
        if (current?.doc === undefined) throw new EntityNotFoundError(`cannot update ${collection} ${change.id}: it does not exist`)
        // The draft is the entity as readers get it, named by its ID: what a recipe changes is what the patch says.
        const { entity, patch } = draftUpdate(named(definition, change.id, current.doc), change.recipe)
        if (entity[idFieldOf(definition)] !== change.id) throw new SchemaViolationError(`an update cannot change ${idFieldOf(definition)}`, [])
        assertValid(threadId, definition, entity)
        return { action: { type: 'save', collection, id: change.id, entity, previous: current.doc, patch }, current }
      }
      case 'delete':
      case 'discard': {
        const current = views.view(threadId, collection, change.id)
        if (current?.doc !== undefined) return { action: { type: 'delete', collection, id: change.id }, current }
        if (change.type === 'discard') return undefined
        throw new EntityNotFoundError(`cannot delete ${collection} ${change.id}: it does not exist`)
      }
    }
  }

  /**
   * A create is folded without reading its entity first, as most land on none; when one is there after all, and for
   * every other event, the fold takes the view resolution read, or reads it. A create of ours refuses an entity
   * that exists; a record from elsewhere folds onto it.
   */
  const foldEntity = (threadId: ThreadId, key: EventKey, event: EntityEvent, resolved?: Resolved): FoldResult => {
    if (event.type === 'create' && resolved?.current === undefined) {
      const created = views.foldCreate(threadId, key, event, codec, events)
      if (created !== undefined) return created
    }
    const current = resolved?.current ?? views.view(threadId, event.collection, event.id)
    if (resolved?.action.type === 'create' && current?.doc !== undefined) throw exists(event.collection, event.id)
    return views.fold(threadId, key, event, codec, events, current)
  }

  /**
   * Folds one event at `key`; the one path local and remote events share. The caller records the batch. A commit
   * hands over its resolution, and is told of the unique indexes whose value the event took while another entity
   * holds it (`clashes`); a record from elsewhere is folded whatever it takes, as every peer folds it.
   */
  const fold = (threadId: ThreadId, position: number, key: EventKey, event: StoreEvent, resolved?: Resolved): { persisted: PersistedEvent, clashes: readonly string[] } => {
    if (event.type === 'collection') {
      views.define(threadId, { name: event.collection, schema: event.schema, indexes: event.indexes, at: key })
      return { persisted: { position, key, event }, clashes: [] }
    }
    const { after, clashes, alone } = foldEntity(threadId, key, event, resolved)
    const persisted = { position, key, event, entity: after }
    if (alone === true) foldedAlone.add(persisted)
    return { persisted, clashes }
  }

  /**
   * Refuses a commit that leaves an entity it wrote sharing a unique value it took: checked once every event is
   * folded, so values can trade places within one transaction.
   */
  const assertUnique = (threadId: ThreadId, clashes: ReadonlyArray<{ collection: string, id: string, path: string }>): void => {
    for (const { collection, id, path } of clashes) {
      if (views.sharesUniqueValue(threadId, collection, id, path)) {
        throw new UniqueViolationError(`${collection} ${id}: another entity already has this ${path}`, path)
      }
    }
  }

  /** Runs a read of committed state, refusing with a typed error once storage is closed. */
  const reading = <T>(read: () => T): T => {
    if (storage.closed) throw new StorageClosedError(`storage at ${storage.path} is closed`)
    return read()
  }

  /** Forgets what a failed transaction may have left cached: definitions it read, thread numbers it gave. */
  const forget = (): void => {
    views.invalidate()
    numbers.invalidate()
  }

  /** Runs a write inside the caller's transaction; when it throws, nothing it read may outlive the abort. */
  const aborting = <T>(write: () => T): T => {
    try {
      return write()
    } catch (error) {
      forget()
      throw error
    }
  }

  /** A transaction of the engine's own; nothing it cached outlives it when it fails, in its body or at commit. */
  const transaction = async <T>(write: () => T): Promise<T> => {
    try {
      return await storage.transaction(() => aborting(write))
    } catch (error) {
      forget()
      throw error
    }
  }

  /** The thread's events after `position`, in arrival order, read a page at a time. */
  function * persistedSince (threadId: ThreadId, position: number): Generator<PersistedEvent> {
    for (let page = events.after(threadId, position, 1000); page.length > 0; page = events.after(threadId, page.at(-1)!.position, 1000)) yield * page
  }

  const keyOf = (time: Timestamp | undefined, logId: string, index: number): EventKey => [time?.wall ?? 0, time?.counter ?? 0, logId, index]

  /**
   * Remembers how far the fold has come. In a raw thread only membership depends on order (a Join needs its
   * invite), so only control events count; in an access-controlled one, every event does.
   */
  const noteFolded = (threadId: ThreadId, key: EventKey, hasControl: boolean): void => {
    if (hasControl || threadId.isAccessControlled) access.note(threadId, key)
  }

  /**
   * A stored record's content, or undefined when this peer's read key does not open it though the record is intact
   * and sealed with the service key: one stored while this peer was a replica, which holds the service key alone and
   * so cannot tell a record no reader can read. Such a record is no event of the thread; a reader refuses it when it
   * comes. A record whose bytes changed on disk is no such record: its error stands.
   */
  const readable = (record: StoredRecord): RecordContent | undefined => {
    try {
      return logs.content(record)
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error
      try {
        openRecordBlocks(record.blocks, logs.threadKey(record.threadId).service)
      } catch {
        throw error
      }
      return undefined
    }
  }

  /**
   * Folds the thread again from its logs alone: membership and ACLs first as they come in key order, then every
   * event their author was allowed to make at its place in that order. Returns how many events it read.
   */
  const refold = (threadId: ThreadId): number => {
    const all: Array<{ key: EventKey, logId: string, event: StoreEvent } | { key: EventKey, logId: string, control: ControlEvent }> = []
    let count = 0
    for (const log of logs.getThread(threadId).logs) {
      for (let page = logs.records(threadId, log.id, { limit: 1000 }); page.length > 0; page = logs.records(threadId, log.id, { from: page.at(-1)!.counter + 1, limit: 1000 })) {
        for (const record of page) {
          const content = readable(record)
          if (content === undefined) continue
          const body = bodyOf(content.body)
          const control = body.control ?? []
          control.forEach((event, index) => all.push({ key: keyOf(content.time, log.id, index - control.length), logId: log.id, control: event }))
          body.events.forEach((event, index) => all.push({ key: keyOf(content.time, log.id, index), logId: log.id, event }))
          count += body.events.length
        }
      }
    }
    all.sort((a, b) => compareEventKeys(a.key, b.key))
    access.clear(threadId)
    // Histories may hold events a late ACL change now refuses; a raw thread refuses nothing, so its stay.
    if (threadId.isAccessControlled) events.clearHistories(threadId)
    const allowed: Array<{ key: EventKey, event: StoreEvent }> = []
    for (const item of all) {
      if ('control' in item) {
        access.apply(threadId, item.key, item.logId, item.control)
        noteFolded(threadId, item.key, true)
        continue
      }
      const denied = access.deny(threadId, item.key, item.logId, item.event)
      if (denied !== undefined) access.refuse(threadId, item.key, item.logId, denied)
      else allowed.push(item)
      noteFolded(threadId, item.key, false)
    }
    views.rebuild(threadId, allowed, codec, events)
    return count
  }

  const engine: StoreEngine = {
    codec,
    access,

    commitWithin: (threadId, logId, changes) => aborting(() => {
      const time = logs.clock.tick()
      const control = changes.flatMap(change => change.type === 'control' ? [change.event] : [])
      const outcomes = control.map((event, index) => {
        const outcome = access.apply(threadId, keyOf(time, logId, index - control.length), logId, event)
        // An invitee authors its Join before it has pulled the invite it answers; its own copy is folded again when
        // the invite arrives. Anything else refused here, its author must not write.
        if (outcome.refused !== undefined && event.type !== 'join') throw outcome.refused
        return outcome
      })
      const body: StoreEvent[] = []
      const folded: PersistedEvent[] = []
      const clashes: Array<{ collection: string, id: string, path: string }> = []
      let position = events.position(threadId)
      for (const change of changes) {
        if (change.type === 'control') continue
        const resolved = resolve(threadId, change)
        if (resolved === undefined) continue
        const event: StoreEvent = resolved.action.type === 'collection' ? resolved.action : codec.encode(resolved.action)
        const key = keyOf(time, logId, body.length)
        const denied = access.deny(threadId, key, logId, event)
        if (denied !== undefined) throw denied
        const { persisted, clashes: taken } = fold(threadId, ++position, key, event, resolved)
        if (event.type !== 'collection') for (const path of taken) clashes.push({ collection: event.collection, id: event.id, path })
        body.push(event)
        folded.push(persisted)
      }
      assertUnique(threadId, clashes)
      if (body.length === 0 && control.length === 0) return undefined
      const encoded = encodeRecordBody({ codec: codec.name, events: body, control })
      events.putBatch(threadId, encoded.events, body.length, folded)
      noteFolded(threadId, keyOf(time, logId, Math.max(0, body.length - 1)), control.length > 0)
      const record = logs.appendWithin(threadId, logId, encoded, time)
      return { record, events: folded, access: outcomes }
    }),

    ingestWithin: checked => aborting(() => {
      const { threadId, logId } = checked
      const record = logs.acceptWithin(checked)
      if (record.content === undefined) return { record, events: [], access: [] }
      const body = bodyOf(record.content.body)
      const time = record.content.time
      const control = body.control ?? []
      const controlKeys = control.map((_event, index) => keyOf(time, logId, index - control.length))
      const latest = control.length > 0 ? access.latest(threadId) : undefined
      let outcomes: AccessOutcome[]
      const taken: Array<{ key: EventKey, event: StoreEvent }> = []
      const late = latest !== undefined && compareEventKeys(controlKeys[0]!, latest) < 0
      // Folding the thread again costs every event it holds: only for what could change the outcome, so no key
      // holder can make a peer do it for a grant it has no right to, or a Join for no invite.
      if (late && control.some((event, index) => access.couldApply(threadId, controlKeys[index]!, logId, event))) {
        // Membership or access changed "in the past" of what is folded: whatever came after may now be allowed or
        // refused differently, so the thread is folded again from its logs, and every peer ends at the same views.
        refold(threadId)
        const refusals = new Map(access.refusals(threadId).map(refusal => [JSON.stringify(refusal.key), refusal]))
        outcomes = control.map((event, index) => {
          const refusal = refusals.get(JSON.stringify(controlKeys[index]))
          return refusal === undefined ? { key: controlKeys[index]!, logId, event } : { key: controlKeys[index]!, logId, event, refused: new ThreadsError(refusal.name, refusal.code, refusal.message) }
        })
        body.events.forEach((event, index) => {
          const key = keyOf(time, logId, index)
          if (!refusals.has(JSON.stringify(key))) taken.push({ key, event })
        })
        const start = events.position(threadId)
        const folded = taken.map(({ key, event }, index) => ({
          position: start + index + 1,
          key,
          event,
          ...(event.type === 'collection' ? {} : { entity: views.get(threadId, event.collection, event.id) })
        }))
        events.putBatch(threadId, body.eventBytes, body.events.length, folded)
        return { record, events: folded, access: outcomes }
      }
      outcomes = control.map((event, index) => access.apply(threadId, controlKeys[index]!, logId, event))
      const start = events.position(threadId)
      const folded: PersistedEvent[] = []
      body.events.forEach((event, index) => {
        const key = keyOf(time, logId, index)
        const denied = access.deny(threadId, key, logId, event)
        if (denied !== undefined) access.refuse(threadId, key, logId, denied)
        else folded.push(fold(threadId, start + folded.length + 1, key, event).persisted)
      })
      events.putBatch(threadId, body.eventBytes, body.events.length, folded)
      noteFolded(threadId, keyOf(time, logId, Math.max(0, body.events.length - 1)), control.length > 0)
      return { record, events: folded, access: outcomes }
    }),

    invalidate: forget,

    dropWithin (threadId) {
      access.clear(threadId)
      views.drop(threadId)
      events.drop(threadId)
      numbers.drop(threadId)
      const tid = threadId.toString()
      for (const slot of [...validators.keys()]) if (slot.startsWith(`${tid}/`)) validators.delete(slot)
    },

    pin: () => storage.pin(),

    definition: (threadId, collection) => reading(() => views.definition(threadId, collection)),
    collections: threadId => reading(() => views.collections(threadId)),
    get: (threadId, collection, id) => reading(() => views.get(threadId, collection, id)),
    find: (threadId, collection, query) => reading(() => {
      committedDefinition(threadId, collection)
      return views.find(threadId, collection, query)
    }),
    plan: (threadId, collection, query) => reading(() => {
      committedDefinition(threadId, collection)
      return views.plan(threadId, collection, query)
    }),
    count: (threadId, collection) => reading(() => views.count(threadId, collection)),
    position: threadId => reading(() => events.position(threadId)),
    eventsAfter: (threadId, position, limit) => reading(() => events.after(threadId, position, limit)),

    async snapshot (threadId) {
      return await transaction(() => {
        const position = events.position(threadId)
        views.snapshot(threadId, position, function * (from) { for (const { event } of persistedSince(threadId, from)) yield event })
        return position
      })
    },

    snapshotPosition: threadId => views.snapshotPosition(threadId),

    async restore (threadId) {
      return await transaction(() => {
        // Whether an event of an access-controlled thread counts depends on ACL events that may arrive after any
        // snapshot, and the arrival index keeps what was folded then: only the logs say what counts now.
        if (threadId.isAccessControlled) return refold(threadId)
        let folded = 0
        for (const { key, event } of persistedSince(threadId, views.restore(threadId))) {
          if (event.type === 'collection') views.define(threadId, { name: event.collection, schema: event.schema, indexes: event.indexes, at: key })
          else views.fold(threadId, key, event, codec, events, views.view(threadId, event.collection, event.id))
          folded++
        }
        return folded
      })
    },

    async rebuild (threadId) {
      // Inside the transaction, so no commit can land between reading the logs and replacing the views. Arrival
      // positions stay as they were: listeners' cursors and the snapshot still mean what they meant.
      return await transaction(() => refold(threadId))
    },

    async foldIfOutdated (threadId) {
      if (logs.metadata.get(threadId, DERIVED_LAYOUT) === CURRENT_LAYOUT) return 0
      return await transaction(() => {
        const written = logs.keys.logs(threadId).some(logId => logs.head(threadId, logId).counter > 0)
        const folded = written ? refold(threadId) : 0
        logs.metadata.put(threadId, DERIVED_LAYOUT, CURRENT_LAYOUT)
        return folded
      })
    },

    async compact (threadId, keepAfter = Number.MAX_SAFE_INTEGER) {
      return await transaction(() => events.compact(threadId, Math.min(keepAfter, views.snapshotPosition(threadId))))
    }
  }
  return engine
}
