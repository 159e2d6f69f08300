import type { InspectionEvent, Observer } from 'xstate'
import { ThreadId, type ThreadVariant } from '../codecs/thread-id.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import { UnknownThreadError } from '../storage/errors.ts'
import { createLogStore, type LogStore } from '../storage/log-store.ts'
import { createStoreEngine, type StoreEngine } from '../storage/store-engine.ts'
import { openStorage, type Storage } from '../storage/storage.ts'
import { createStore, type Store } from './store.ts'
import { startThread, type ThreadRuntime } from './thread-runtime.ts'

/**
 * A peer: one LMDB environment, the logs and stores in it, and the actors of every store it has opened.
 * Closing it stops the actors and closes storage; opening the same path again brings everything back.
 */

export interface PeerInit {
  /** Directory of the peer's LMDB environment; created when missing. */
  path: string
  /** Take a snapshot of a store's views every this many events (0: only on request). */
  snapshotEvery?: number
  /** Receives every inspection event of every actor of the peer (an XState inspector). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

export interface NewStoreOptions {
  variant?: ThreadVariant
}

export interface Peer {
  readonly storage: Storage
  readonly logs: LogStore
  /** A new thread with a log of our own in it, as a store. */
  newStore (options?: NewStoreOptions): Promise<Store>
  /** A store this peer holds, by thread ID (or its string). */
  store (id: ThreadId | string): Promise<Store>
  /**
   * The store of a thread known from elsewhere by its ID and key, with a log of our own in it: how a peer joins a
   * thread shared out of band. Opening one this peer already holds returns it.
   */
  openStore (id: ThreadId | string, options: { key: ThreadKey | string }): Promise<Store>
  /** The threads this peer holds a store in. */
  stores (): ThreadId[]
  close (): Promise<void>
}

const DEFAULT_SNAPSHOT_EVERY = 10_000
const OWN_LOG = 'store/own-log'

export async function createPeer (init: PeerInit): Promise<Peer> {
  const storage = await openStorage({ path: init.path })
  const logs = createLogStore({ storage })
  const engine: StoreEngine = createStoreEngine({ storage, logs })
  const runtimes = new Map<string, ThreadRuntime>()
  const stores = new Map<string, Store>()

  const open = (threadId: ThreadId, logId: string): Store => {
    const tid = threadId.toString()
    let store = stores.get(tid)
    if (store === undefined) {
      const runtime = startThread({
        logs,
        storage,
        engine,
        threadId,
        logId,
        snapshotEvery: init.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
        inspect: init.inspect
      })
      runtimes.set(tid, runtime)
      store = createStore({ runtime, engine, logId, key: logs.getThread(threadId).key })
      stores.set(tid, store)
    }
    return store
  }

  const peer: Peer = {
    storage,
    logs,

    async newStore (options = {}) {
      const thread = await logs.createThread({ variant: options.variant })
      const log = await logs.createLog(thread.id)
      await storage.transaction(() => logs.metadata.put(thread.id, OWN_LOG, log.id))
      return open(thread.id, log.id)
    },

    async store (id) {
      const threadId = ThreadId.from(id)
      const logId = logs.hasThread(threadId) ? logs.metadata.get(threadId, OWN_LOG) : undefined
      if (typeof logId !== 'string') throw new UnknownThreadError(`this peer holds no store in thread ${threadId.toString()}`)
      return open(threadId, logId)
    },

    async openStore (id, options) {
      const threadId = ThreadId.from(id)
      const key = typeof options.key === 'string' ? ThreadKey.fromString(options.key) : options.key
      await logs.addThread(threadId, key)
      const existing = logs.metadata.get(threadId, OWN_LOG)
      if (typeof existing === 'string') return open(threadId, existing)
      const log = await logs.createLog(threadId)
      await storage.transaction(() => logs.metadata.put(threadId, OWN_LOG, log.id))
      return open(threadId, log.id)
    },

    stores () {
      return logs.threads().filter(threadId => typeof logs.metadata.get(threadId, OWN_LOG) === 'string')
    },

    async close () {
      await Promise.all([...runtimes.values()].map(runtime => runtime.close()))
      runtimes.clear()
      stores.clear()
      logs.addrs.close()
      await storage.close()
    }
  }
  return peer
}
