import type { Entity, IndexDefinition } from '../codecs/event-codec.ts'
import type { QueryInput, CollectionWriter, CollectionReader, Store } from './store.ts'
import { createPeer, type Peer, type PeerInit } from './peer.ts'
import type { ListenerErrorCallback, StoreChange, TransactionOptions } from './thread-runtime.ts'
import { TransactionClosedError } from '../storage/errors.ts'
import { idFieldOf } from '../storage/view-store.ts'

/**
 * The paper's `Client` facade (§Illustrative Example): every call names the store by its ID, as a client of a
 * local or remote Threads provider would. It runs over a peer it opens on the given path (or one it is given).
 * Like the paper's example expects, `modelCreate` writes the assigned ID into each entity it is handed.
 */

export interface EntitiesReply<T extends Entity = Entity> {
  entitiesList: T[]
}

export interface EntityReply<T extends Entity = Entity> {
  entity: T | undefined
}

export interface ListenReply<T extends Entity = Entity> {
  collection: string
  action: StoreChange['action']
  ID: string
  entity: T | undefined
}

interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (reason: unknown) => void
}

/** A transaction opened with `start` and closed with `end`, as the paper writes them. */
class ClientTransaction<Handle> {
  readonly #begin: (body: (handle: Handle) => Promise<void>) => Promise<void>
  #handle?: Handle
  #ended?: Deferred<void>
  #finished?: Promise<void>

  constructor (begin: (body: (handle: Handle) => Promise<void>) => Promise<void>) {
    this.#begin = begin
  }

  async start (): Promise<void> {
    // A second start would leave the first body holding the store's write lock with nothing to end it.
    if (this.#ended !== undefined) throw new TransactionClosedError('this transaction was started already; a transaction starts once')
    const started = Promise.withResolvers<Handle>()
    this.#ended = Promise.withResolvers<void>()
    const ended = this.#ended
    this.#finished = this.#begin(async handle => {
      started.resolve(handle)
      await ended.promise
    })
    this.#finished.catch(error => started.reject(error))
    this.#handle = await started.promise
  }

  /**
   * Commits what the transaction collected; rejects (and changes nothing) when any of it is refused, or when the
   * transaction ran past its time limit before this (`TransactionTimeoutError`).
   */
  async end (): Promise<void> {
    this.#ended?.resolve()
    await this.#finished
  }

  /** Ends the transaction without committing anything. */
  async discard (): Promise<void> {
    this.#ended?.reject(new TransactionClosedError('transaction discarded'))
    await this.#finished?.catch(() => {})
  }

  protected get handle (): Handle {
    if (this.#handle === undefined) throw new TransactionClosedError('call start() first')
    return this.#handle
  }
}

export class ReadTransaction<T extends Entity = Entity> extends ClientTransaction<CollectionReader<T>> {
  async has (ids: string[]): Promise<boolean> { return await this.handle.has(ids) }
  async modelFind (query: QueryInput): Promise<EntitiesReply<T>> { return { entitiesList: await this.handle.find(query) } }
  async modelFindByID (id: string): Promise<EntityReply<T>> { return { entity: await this.handle.findById(id) } }
}

export class WriteTransaction<T extends Entity = Entity> extends ClientTransaction<CollectionWriter<T>> {
  readonly #idField: () => string

  constructor (begin: (body: (handle: CollectionWriter<T>) => Promise<void>) => Promise<void>, idField: () => string) {
    super(begin)
    this.#idField = idField
  }

  async modelCreate (entities: T[]): Promise<EntitiesReply<T>> {
    const ids = await this.handle.create(entities)
    return { entitiesList: assignIds(entities, ids, this.#idField()) }
  }

  async has (ids: string[]): Promise<boolean> { return await this.handle.has(ids) }
  async modelSave (entities: T[]): Promise<void> { await this.handle.save(entities) }
  async modelDelete (ids: string[]): Promise<void> { await this.handle.delete(ids) }
  async modelFind (query: QueryInput): Promise<EntitiesReply<T>> { return { entitiesList: await this.handle.find(query) } }
  async modelFindByID (id: string): Promise<EntityReply<T>> { return { entity: await this.handle.findById(id) } }
}

function assignIds<T extends Entity> (entities: T[], ids: string[], field: string): T[] {
  entities.forEach((entity, i) => { (entity as Entity)[field] = ids[i]! })
  return entities
}

export class Client {
  readonly #peer: Promise<Peer>
  readonly #stores = new Map<string, Promise<Store>>()

  constructor (options: PeerInit | Peer) {
    this.#peer = 'newStore' in options ? Promise.resolve(options) : createPeer(options)
  }

  #store (storeId: string): Promise<Store> {
    const cached = this.#stores.get(storeId)
    // A handle the peer closed (it deleted the thread) is asked for again: the peer refuses, or holds the thread anew.
    if (cached !== undefined) return cached.then(store => store.closed ? this.#reopen(storeId, cached) : store)
    return this.#reopen(storeId, undefined)
  }

  #reopen (storeId: string, stale: Promise<Store> | undefined): Promise<Store> {
    const current = this.#stores.get(storeId)
    if (current !== stale && current !== undefined) return current
    const store = this.#peer.then(peer => peer.store(storeId))
    this.#stores.set(storeId, store)
    // A store that could not be opened is asked for again next time, not refused from memory.
    store.catch(() => { if (this.#stores.get(storeId) === store) this.#stores.delete(storeId) })
    return store
  }

  async newStore (): Promise<{ id: string }> {
    const store = await (await this.#peer).newStore()
    this.#stores.set(store.id.toString(), Promise.resolve(store))
    return { id: store.id.toString() }
  }

  async registerSchema (storeId: string, name: string, schema: Entity, indexes: IndexDefinition[] = []): Promise<void> {
    await (await this.#store(storeId)).registerSchema(name, schema, { indexes })
  }

  /** Opens the store's actors; every other call does so too when needed. */
  async start (storeId: string): Promise<void> {
    await this.#store(storeId)
  }

  async modelCreate<T extends Entity> (storeId: string, model: string, entities: T[]): Promise<EntitiesReply<T>> {
    const store = await this.#store(storeId)
    const collection = store.collection<T>(model)
    const ids = await collection.create(entities)
    return { entitiesList: assignIds(entities, ids, this.#idField(store, model)) }
  }

  async modelSave<T extends Entity> (storeId: string, model: string, entities: T[]): Promise<void> {
    await (await this.#store(storeId)).collection<T>(model).save(entities)
  }

  async modelDelete (storeId: string, model: string, ids: string[]): Promise<void> {
    await (await this.#store(storeId)).collection(model).delete(ids)
  }

  async modelHas (storeId: string, model: string, ids: string[]): Promise<boolean> {
    return await (await this.#store(storeId)).collection(model).has(ids)
  }

  async modelFind<T extends Entity> (storeId: string, model: string, query: QueryInput): Promise<EntitiesReply<T>> {
    return { entitiesList: await (await this.#store(storeId)).collection<T>(model).find(query) }
  }

  async modelFindByID<T extends Entity> (storeId: string, model: string, id: string): Promise<EntityReply<T>> {
    return { entity: await (await this.#store(storeId)).collection<T>(model).findById(id) }
  }

  /**
   * Calls back for every change to the entity (or the whole model when `id` is empty); returns a closer. The
   * listener starts once the store is open, before any call made after this one reaches it. A store that cannot be
   * opened, and a callback that throws, go to `onError` (or, without one, to a process warning), as a store's do.
   */
  listen<T extends Entity> (storeId: string, model: string, id: string, callback: (reply: ListenReply<T>) => void, onError?: ListenerErrorCallback): () => void {
    let stop: (() => void) | undefined
    let closed = false
    this.#store(storeId).then(store => {
      if (closed) return
      stop = store.listen({ collection: model, id: id === '' ? undefined : id }, change => {
        callback({ collection: change.collection, action: change.action, ID: change.id, entity: change.entity as T | undefined })
      }, onError)
    }).catch((error: unknown) => {
      if (closed) return
      if (onError !== undefined) onError(error)
      else process.emitWarning(error instanceof Error ? error : new Error(String(error)), 'ListenerStopped')
    })
    return () => {
      closed = true
      stop?.()
    }
  }

  /**
   * A transaction from `start` to `end`, under a time limit (`options.timeout`, else the peer's `transactionTimeout`)
   * counted from when it holds the store's lock.
   */
  writeTransaction<T extends Entity = Entity> (storeId: string, model: string, options?: TransactionOptions): WriteTransaction<T> {
    let store: Store | undefined
    return new WriteTransaction<T>(async body => {
      store = await this.#store(storeId)
      await store.writeTransaction(model, async tx => { await body(tx as CollectionWriter<T>) }, options)
    }, () => this.#idField(store!, model))
  }

  readTransaction<T extends Entity = Entity> (storeId: string, model: string, options?: TransactionOptions): ReadTransaction<T> {
    return new ReadTransaction<T>(async body => {
      const store = await this.#store(storeId)
      await store.readTransaction(model, async tx => { await body(tx as CollectionReader<T>) }, options)
    })
  }

  async close (): Promise<void> {
    await (await this.#peer).close()
  }

  #idField (store: Store, model: string): string {
    const definition = store.collections().find(collection => collection.name === model)
    return definition === undefined ? '_id' : idFieldOf(definition)
  }
}
