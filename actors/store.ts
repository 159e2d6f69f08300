import type { Draft } from 'immer'
import { copyJson, draftUpdate, fitsKey, KEY_LIMITS, type AclTarget, type Entity, type IndexDefinition } from '../codecs/event-codec.ts'
import { arrange, compareStrings, Query, queryMatches, type QueryJSON } from '../codecs/query.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RecordBlocks } from '../codecs/record.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { ThreadKey } from '../codecs/thread-key.ts'
import { isRole, ROLES, type AclDocument, type Role } from '../codecs/acl.ts'
import { Ed25519PublicKey } from '../codecs/ed25519.ts'
import type { Invite } from '../codecs/invite.ts'
import type { Refusal } from '../storage/access-store.ts'
import { EntityNotFoundError, InvalidArgumentError, SchemaViolationError, UnknownCollectionError } from '../storage/errors.ts'
import type { InviteOptions } from './invitations.ts'
import { withId, type Change, type StoreEngine } from '../storage/store-engine.ts'
import { idFieldOf } from '../storage/view-store.ts'
import type { CollectionDefinition, QueryPlan } from '../storage/view-store.ts'
import type { ChangeCallback, ListenerErrorCallback, ListenFilter, ThreadRuntime, TransactionOptions } from './thread-runtime.ts'

/**
 * The store interface of the paper: collections of JSON-schema entities in one thread, with transactions,
 * queries, listeners, and key-value and document views on top. Every write is a job for the thread's
 * dispatcher; every read is of committed state (plus, inside a write transaction, its own writes).
 */

export type QueryInput = Query | QueryJSON

export interface RegisterOptions {
  indexes?: readonly IndexDefinition[]
}

/** Reads, against committed state; inside a write transaction, against that state with the transaction's writes on top. */
export interface CollectionReader<T extends Entity = Entity> {
  /** True when every ID names an existing entity. */
  has (ids: readonly string[]): Promise<boolean>
  findById (id: string): Promise<T | undefined>
  find (query?: QueryInput): Promise<T[]>
}

export interface CollectionWriter<T extends Entity = Entity> extends CollectionReader<T> {
  /** Creates entities, assigning an ID to each that has none (or an empty one); returns the IDs in order. */
  create (entities: readonly T[]): Promise<string[]>
  /** Replaces existing entities; saving one that does not exist is an `EntityNotFoundError`. */
  save (entities: readonly T[]): Promise<void>
  /** Changes an existing entity through an immer draft. */
  update (id: string, recipe: (draft: Draft<T>) => void): Promise<void>
  delete (ids: readonly string[]): Promise<void>
}

export interface Collection<T extends Entity = Entity> extends CollectionWriter<T> {
  readonly name: string
  /** How `find` would read: through an index, or by scanning. */
  plan (query: QueryInput): QueryPlan
}

export interface KeyValueStore {
  put (key: string, value: Entity[string]): Promise<void>
  get (key: string): Promise<Entity[string] | undefined>
  del (key: string): Promise<void>
}

export interface DocumentStore<T extends Entity = Entity> {
  /** Stores a document, creating or replacing it; returns its key. */
  put (document: T): Promise<string>
  get (key: string): Promise<T | undefined>
  del (key: string): Promise<void>
  query (query?: QueryInput): Promise<T[]>
}

/** One ACL: read it, grant roles, revoke them. Changes are events in our log, folded by every peer. */
export interface AclHandle {
  get (): AclDocument
  grant (peerId: string, roles: Role | readonly Role[]): Promise<void>
  revoke (peerId: string, roles: Role | readonly Role[]): Promise<void>
}

/** The ACLs of an access-controlled thread: the thread's own, its entities', and the one saying who changes them. */
export interface StoreAcl extends AclHandle {
  /** The ACL of one entity; once it names anyone, a write to the entity needs its roles as well as the thread's. */
  entity (collection: string, id: string): AclHandle
  /** Who may change the thread's ACLs: the owner, and whoever the owner grants `write` here. */
  readonly admin: AclHandle
  /** What this peer folded but refused: writes the ACL did not allow, grants without rights, mismatched Joins. */
  refused (): Refusal[]
}

export interface Store {
  readonly id: ThreadId
  /** Our own log in the store's thread; undefined when this peer only reads the thread. */
  readonly logId: string | undefined
  /** The thread's key, to share out of band with peers that should read (and write) it. */
  readonly key: ThreadKey
  /** Where other peers reach this store: `/ip4/…/tcp/…/p2p/<peer>/thread/<tid>`; undefined without networking. */
  readonly address: string | undefined
  /**
   * True once this handle is closed, by its peer closing or by `peer.deleteStore`: every call on it then refuses with
   * `StorageClosedError`. The peer hands out a live handle again while it holds the thread.
   */
  readonly closed: boolean
  registerSchema (name: string, schema: Entity, options?: RegisterOptions): Promise<void>
  collection<T extends Entity = Entity> (name: string): Collection<T>
  collections (): CollectionDefinition[]
  /**
   * Runs `body` alone: writes wait for it, its reads see committed state and its own writes, and it commits whole or
   * not at all. A body still running at its time limit (`options.timeout`, else the peer's `transactionTimeout`) is
   * left behind: the transaction rejects with `TransactionTimeoutError`, commits nothing, and lets writers go on.
   */
  writeTransaction<R> (collection: string, body: (tx: CollectionWriter) => Promise<R>, options?: TransactionOptions): Promise<R>
  /**
   * Runs `body` against the state committed when it begins: it waits for no writer, and no commit meanwhile shows in
   * its reads. At its time limit it rejects with `TransactionTimeoutError` and lets go of that state.
   */
  readTransaction<R> (collection: string, body: (tx: CollectionReader) => Promise<R>, options?: TransactionOptions): Promise<R>
  /**
   * Calls `callback` for every change the filter matches, in order, from now on, waiting for it before the next;
   * returns a function that stops. A callback that throws stops its listener and the error goes to `onError`
   * (or, without one, to a process warning).
   */
  listen (filter: ListenFilter, callback: ChangeCallback, onError?: ListenerErrorCallback): () => void
  kv (name: string): KeyValueStore
  documents<T extends Entity = Entity> (name: string): DocumentStore<T>
  /** Copies the views at the current position; returns it. Also taken every `snapshotEvery` events. */
  snapshot (): Promise<number>
  /** Drops local events covered by the latest snapshot (local only: other peers are not told). */
  compact (): Promise<number>
  /** Rebuilds the views from the logs alone, or from the latest snapshot and the events after it. */
  rebuild (options?: { from?: 'log' | 'snapshot' }): Promise<number>
  /**
   * Takes in a record of another log of this thread, through the same dispatcher as local writes: it is
   * verified, linked to that log's head, folded into the views and announced to listeners, or refused whole.
   */
  ingest (logId: string, blocks: RecordBlocks): Promise<void>
  /** Pulls from every peer known to hold a log of this thread whatever it has that this peer lacks. */
  sync (): Promise<number>
  /**
   * Asks the peer at `address` to replicate this thread: it gets the service key only, so it verifies, stores and
   * serves our records without being able to read them, and readers can catch up from it while we are away.
   */
  addReplicator (address: string | Multiaddr): Promise<void>
  /**
   * Invites a peer (by peer ID or public key) into the thread: authors the Invite in our log, delivers it to the
   * peer if it can be reached (now or later), and resolves with the sealed invite, which can also be handed over
   * out of band. A `write` invite (the default) makes the invitee a writer with a log of its own.
   */
  invite (invitee: string | Ed25519PublicKey, options?: InviteOptions): Promise<Invite>
  /** The thread's ACLs (access-controlled threads; a raw thread lets every key holder write). */
  readonly acl: StoreAcl
}

export interface StoreInit {
  runtime: ThreadRuntime
  engine: StoreEngine
  logId: string | undefined
  key: ThreadKey
  address: () => string | undefined
  sync: () => Promise<number>
  addReplicator: (address: string | Multiaddr) => Promise<void>
  invite: (invitee: string | Ed25519PublicKey, options?: InviteOptions) => Promise<Invite>
}

const ANY_OBJECT: Entity = { type: 'object' }

/** A write transaction as its writer sees it: its own writes not yet committed, and a check that it still runs. */
interface OpenTransaction {
  readonly pending: Map<string, Entity | null>
  assertRunning (): void
}

export function createStore (init: StoreInit): Store {
  const { runtime, engine, logId, key } = init
  const threadId = runtime.threadId

  const definitionOf = (collection: string): CollectionDefinition => {
    runtime.assertOpen()
    const definition = engine.definition(threadId, collection)
    if (definition === undefined) throw new UnknownCollectionError(`no collection ${JSON.stringify(collection)} in thread ${threadId.toString()}`)
    return definition
  }

  /** Reads of committed state, each run by `within`: as it comes, or against a state a read transaction pinned. */
  const committedReader = <T extends Entity>(collection: string, within: <R>(read: () => R) => R = read => read()): CollectionReader<T> => ({
    async has (ids) {
      return within(() => {
        definitionOf(collection)
        return ids.every(id => engine.get(threadId, collection, id) !== undefined)
      })
    },
    async findById (id) {
      return within(() => {
        definitionOf(collection)
        return engine.get(threadId, collection, id) as T | undefined
      })
    },
    async find (query = new Query()) {
      const parsed = Query.parse(query)
      runtime.assertOpen()
      return within(() => engine.find(threadId, collection, parsed) as T[])
    }
  })

  /**
   * A writer that hands its changes to `submit`. Inside a write transaction it reads through the transaction's own
   * uncommitted writes first, and only while the transaction runs. It keeps copies of what it is handed, and hands
   * out copies of what it keeps: a caller changing an object afterwards changes neither.
   */
  const writer = <T extends Entity>(collection: string, submit: (changes: Change[]) => Promise<void>, transaction?: OpenTransaction): CollectionWriter<T> => {
    const committed = committedReader<T>(collection)
    const pending = transaction?.pending
    const readable = (): void => {
      transaction?.assertRunning()
      definitionOf(collection)
    }
    const current = (id: string): Entity | undefined => {
      const own = pending?.get(id)
      return own === undefined ? engine.get(threadId, collection, id) : own === null ? undefined : copyJson(own)
    }
    const note = (id: string, entity: Entity | null): void => { pending?.set(id, entity) }
    return {
      async has (ids) {
        readable()
        return ids.every(id => current(id) !== undefined)
      },
      async findById (id) {
        readable()
        return current(id) as T | undefined
      },
      async find (query = new Query()) {
        transaction?.assertRunning()
        if (pending === undefined || pending.size === 0) return await committed.find(query)
        const parsed = Query.parse(query)
        const field = idFieldOf(definitionOf(collection))
        const unarranged: QueryJSON = { ...parsed, sort: undefined, skip: undefined, limit: undefined }
        const rows = engine.find(threadId, collection, unarranged).filter(entity => !pending.has(entity[field] as string))
        for (const entity of pending.values()) if (entity !== null && queryMatches(entity, parsed)) rows.push(copyJson(entity))
        // In ID order before arranging, as committed rows come: ties stand in the same order with or without own writes.
        rows.sort((a, b) => compareStrings(a[field] as string, b[field] as string))
        return arrange(rows, parsed) as T[]
      },
      async create (entities) {
        const definition = definitionOf(collection)
        const field = idFieldOf(definition)
        const identified = entities.map(entity => withId(definition, copyJson(entity)))
        await submit(identified.map(entity => ({ type: 'create', collection, entity })))
        for (const entity of identified) note(entity[field] as string, entity)
        return identified.map(entity => entity[field] as string)
      },
      async save (entities) {
        const field = idFieldOf(definitionOf(collection))
        const copies = entities.map(entity => copyJson(entity))
        await submit(copies.map(entity => ({ type: 'save', collection, entity })))
        for (const entity of copies) note(entity[field] as string, entity)
      },
      async update (id, recipe) {
        if (pending !== undefined) {
          // Inside a transaction the lock keeps committed state still, and the draft must see the transaction's
          // own writes: resolve it here, as a save.
          const base = current(id)
          if (base === undefined) throw new EntityNotFoundError(`cannot update ${collection} ${id}: it does not exist`)
          const { entity } = draftUpdate(base, recipe as (draft: Draft<Entity>) => void)
          // As the engine checks an update outside a transaction: resolved as a save, a changed ID would
          // overwrite (or miss) another entity.
          const field = idFieldOf(definitionOf(collection))
          if (entity[field] !== id) throw new SchemaViolationError(`an update cannot change ${field}`, [])
          await submit([{ type: 'save', collection, entity }])
          note(id, entity)
          return
        }
        await submit([{ type: 'update', collection, id, recipe: recipe as (draft: Draft<Entity>) => void }])
      },
      async delete (ids) {
        await submit(ids.map(id => ({ type: 'delete', collection, id })))
        for (const id of ids) note(id, null)
      }
    }
  }

  const aclHandle = (target: AclTarget): AclHandle => {
    if (target.kind === 'entity' && !(fitsKey(target.collection, KEY_LIMITS.collection) && fitsKey(target.id, KEY_LIMITS.id))) {
      throw new InvalidArgumentError(`an entity's ACL names a collection of 1–${KEY_LIMITS.collection} bytes and an ID of 1–${KEY_LIMITS.id}`)
    }
    const change = async (op: 'grant' | 'revoke', peerId: string, roles: Role | readonly Role[]): Promise<void> => {
      const list = typeof roles === 'string' ? [roles] : [...roles]
      if (list.length === 0 || !list.every(isRole)) throw new InvalidArgumentError(`roles are some of ${ROLES.join(', ')}`)
      const peer = Ed25519PublicKey.fromLogId(peerId).logId
      await runtime.commit([{ type: 'control', event: { type: 'acl', op, target, peer, roles: list, observed: engine.access.observed(threadId, target, peer) } }])
    }
    return {
      get: () => engine.access.acl(threadId, target),
      grant: async (peerId, roles) => { await change('grant', peerId, roles) },
      revoke: async (peerId, roles) => { await change('revoke', peerId, roles) }
    }
  }

  const commitNow = async (changes: Change[]): Promise<void> => {
    if (changes.length > 0) await runtime.commit(changes)
  }

  // One registration per collection, however many first writes race to it; settles, refused or not, once its map
  // entry is gone, so the writes that waited on it go on in the order they came.
  const registering = new Map<string, Promise<void>>()

  /**
   * Commits a key-value or document write. The first write of a collection registers it in the same record, so a
   * write refused registers nothing; later writes go to the dispatcher in the turn they are called, or after the
   * registration they wait on, in the order they came either way.
   */
  const writeImplicit = async (collection: string, change: Change): Promise<void> => {
    for (;;) {
      if (engine.definition(threadId, collection) !== undefined) {
        await runtime.commit([change])
        return
      }
      const under = registering.get(collection)
      if (under !== undefined) {
        await under
        continue
      }
      if (change.type === 'discard') return
      const registration = runtime.commit([{ type: 'collection', collection, schema: ANY_OBJECT, indexes: [] }, change])
      const done = (): void => { registering.delete(collection) }
      registering.set(collection, registration.then(done, done))
      await registration
      return
    }
  }

  const store: Store = {
    id: threadId,
    logId,
    key,
    get address () { return init.address() },
    get closed () { return runtime.closed },
    sync: init.sync,
    addReplicator: init.addReplicator,

    async registerSchema (name, schema, options = {}) {
      await runtime.commit([{ type: 'collection', collection: name, schema, indexes: options.indexes ?? [] }])
    },

    collection<T extends Entity> (name: string): Collection<T> {
      return {
        name,
        ...writer<T>(name, commitNow),
        plan: query => engine.plan(threadId, name, Query.parse(query))
      }
    },

    collections: () => engine.collections(threadId),

    async writeTransaction (collection, body, options) {
      definitionOf(collection)
      return await runtime.transaction('write', async (collect, assertRunning) =>
        await body(writer(collection, async changes => { collect(changes) }, { pending: new Map(), assertRunning })), options)
    },

    async readTransaction (collection, body, options) {
      definitionOf(collection)
      return await runtime.transaction('read', async (_collect, _assertRunning, ended) => {
        // Every read of the body sees the state committed when it began, whatever commits while it awaits, until the
        // transaction ends: when the body returns, or at its time limit while the body is still running.
        const pinned = engine.pin()
        ended.addEventListener('abort', () => { pinned.release() }, { once: true })
        return await body(committedReader(collection, read => pinned.read(read)))
      }, options)
    },

    listen: (filter, callback, onError) => runtime.listen(filter, callback, onError),

    kv (name) {
      const collection = `kv:${name}`
      return {
        async put (key, value) {
          await writeImplicit(collection, { type: 'put', collection, entity: { _id: key, value: copyJson(value) } })
        },
        async get (key) {
          return engine.definition(threadId, collection) === undefined ? undefined : engine.get(threadId, collection, key)?.value
        },
        async del (key) {
          await writeImplicit(collection, { type: 'discard', collection, id: key })
        }
      }
    },

    documents<T extends Entity> (name: string): DocumentStore<T> {
      const collection = `documents:${name}`
      return {
        async put (document) {
          const definition = engine.definition(threadId, collection) ?? { schema: ANY_OBJECT }
          const entity = withId(definition, copyJson(document))
          await writeImplicit(collection, { type: 'put', collection, entity })
          return entity[idFieldOf(definition)] as string
        },
        async get (key) {
          return engine.definition(threadId, collection) === undefined ? undefined : engine.get(threadId, collection, key) as T | undefined
        },
        async del (key) {
          await writeImplicit(collection, { type: 'discard', collection, id: key })
        },
        async query (query = new Query()) {
          const parsed = Query.parse(query)
          return engine.definition(threadId, collection) === undefined ? [] : engine.find(threadId, collection, parsed) as T[]
        }
      }
    },

    snapshot: () => runtime.run('snapshot'),
    compact: () => runtime.run('compact'),
    async rebuild (options = {}) {
      const { from = 'log' } = options
      if (from !== 'log' && from !== 'snapshot') throw new InvalidArgumentError(`a rebuild is from 'log' or 'snapshot', not ${JSON.stringify(from)}`)
      return await runtime.run(from === 'snapshot' ? 'restore' : 'rebuild')
    },

    async ingest (fromLog, blocks) {
      await runtime.ingest(fromLog, blocks)
    },

    invite: init.invite,

    acl: {
      ...aclHandle({ kind: 'thread' }),
      entity: (collection, id) => aclHandle({ kind: 'entity', collection, id }),
      admin: aclHandle({ kind: 'admin' }),
      refused: () => engine.access.refusals(threadId)
    }
  }
  return store
}
