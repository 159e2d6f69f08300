import type { InspectionEvent, Observer } from 'xstate'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { parseThreadAddress } from '../codecs/address.ts'
import { Ed25519PublicKey } from '../codecs/ed25519.ts'
import { ThreadId, type ThreadVariant } from '../codecs/thread-id.ts'
import type { ThreadsNode } from '../net/node.ts'
import type { MisbehaviourLimits } from '../net/penalties.ts'
import type { RefusalCounts } from '../net/requests.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import { NetworkUnavailableError, UnknownThreadError } from '../storage/errors.ts'
import { createLogStore, type LogStore } from '../storage/log-store.ts'
import { createStoreEngine, type StoreEngine } from '../storage/store-engine.ts'
import { openStorage, type Storage } from '../storage/storage.ts'
import { startNetwork, threadAddressOf } from './network.ts'
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
  /** Multiaddrs to listen on; loopback on a free port unless told otherwise. */
  listen?: string[]
  /** Multiaddrs to give other peers instead of the ones listened on (a proxy or a NAT in front of this peer). */
  announce?: string[]
  /** How each log's sync actor paces itself; the defaults poll a quiet log once a minute. */
  sync?: Partial<SyncTiming>
  /** Run a libp2p node and sync with other peers (the default); false keeps the peer to itself. */
  network?: boolean
  /** When a peer that keeps sending what is refused gets disconnected, and for how long. */
  misbehaviour?: MisbehaviourLimits
}

export interface NewStoreOptions {
  variant?: ThreadVariant
}

export interface Peer {
  readonly storage: Storage
  readonly logs: LogStore
  /** The libp2p peer ID; undefined without networking. */
  readonly peerId: string | undefined
  /** Where this peer listens (or what it announces instead), each ending in `/p2p/<peerId>`. */
  readonly addresses: Multiaddr[]
  /** The libp2p node; undefined without networking. */
  readonly libp2p: ThreadsNode | undefined
  /** What this peer's server refused, per remote peer and error code. */
  readonly refusals: RefusalCounts
  /** Peers disconnected for misbehaving, each with the time (ms since the epoch) it will be let back. */
  readonly banned: ReadonlyMap<string, number>
  /** A new thread with a log of our own in it, as a store. */
  newStore (options?: NewStoreOptions): Promise<Store>
  /** A store this peer holds, by thread ID (or its string). */
  store (id: ThreadId | string): Promise<Store>
  /**
   * The store of a thread known from elsewhere, with a log of our own in it: how a peer joins a thread shared out
   * of band. Given a thread address (`/ip4/…/p2p/<peer>/thread/<tid>`), it pulls the thread from that peer first.
   * Opening one this peer already holds returns it.
   */
  openStore (idOrAddress: ThreadId | string, options: { key: ThreadKey | string }): Promise<Store>
  /** The threads this peer holds a store in. */
  stores (): ThreadId[]
  /** Connects to a peer (or the peer in a store's address), so gossip and requests flow between the two. */
  connect (address: string | Multiaddr): Promise<void>
  close (): Promise<void>
}

const DEFAULT_SNAPSHOT_EVERY = 10_000

export interface SyncTiming {
  /** Milliseconds between pulls of a quiet log (with jitter). */
  pollMs: number
  /** First wait after a failed push or pull; doubles with each failure in a row, up to `maxBackoffMs`. */
  backoffMs: number
  maxBackoffMs: number
  /** Failures in a row after which a log's sync rests until something asks it to sync again. */
  maxAttempts: number
}

/** A slow poll (not a fast one that makes sync look slow), and backoff. */
export const DEFAULT_SYNC_TIMING: Readonly<SyncTiming> = Object.freeze({ pollMs: 60_000, backoffMs: 250, maxBackoffMs: 30_000, maxAttempts: 8 })
const OWN_LOG = 'store/own-log'

export async function createPeer (init: PeerInit): Promise<Peer> {
  const storage = await openStorage({ path: init.path })
  const logs = createLogStore({ storage })
  const engine: StoreEngine = createStoreEngine({ storage, logs })
  const runtimes = new Map<string, ThreadRuntime>()
  const stores = new Map<string, Store>()
  const network = init.network === false
    ? undefined
    : await startNetwork({
      storage,
      logs,
      listen: init.listen,
      announce: init.announce,
      misbehaviour: init.misbehaviour,
      ingest: async (threadId, logId, record) => {
        const runtime = runtimes.get(threadId.toString())
        if (runtime !== undefined) {
          await runtime.ingest(logId, record)
          return
        }
        // A thread this peer replicates: it holds the service key alone, so it verifies, links and stores the
        // record, and serves it, without ever reading it.
        if (!logs.hasThread(threadId) || logs.getThread(threadId).key.canRead) throw new UnknownThreadError(`no store of thread ${threadId.toString()} is open here`)
        if (logs.keys.publicKey(threadId, logId) === undefined) await logs.addLog(threadId, Ed25519PublicKey.fromLogId(logId))
        await logs.accept(threadId, logId, record)
      },
      onLog: threadId => { runtimes.get(threadId.toString())?.syncLogs(false) },
      onPeerHoldsLog: (threadId, logId) => { runtimes.get(threadId.toString())?.syncLog(logId) }
    })

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
        inspect: init.inspect,
        sync: network === undefined
          ? undefined
          : {
              push: async (log, records) => { await network.push(threadId, log, records) },
              pull: async log => await network.pullLog(threadId, log),
              ...DEFAULT_SYNC_TIMING,
              ...init.sync
            }
      })
      runtimes.set(tid, runtime)
      store = createStore({
        runtime,
        engine,
        logId,
        key: logs.getThread(threadId).key,
        address: () => network === undefined ? undefined : threadAddressOf(network, threadId)?.toString(),
        addReplicator: async address => {
          if (network === undefined) throw new NetworkUnavailableError('this peer runs without networking')
          await network.addReplicator(threadId, logId, typeof address === 'string' ? multiaddr(address) : address)
        },
        sync: async () => network === undefined ? 0 : await network.pullAll(threadId)
      })
      stores.set(tid, store)
      if (network !== undefined) {
        network.advertise(threadId, logId)
        // Every log gets its sync actor, and each catches up on what was written while this store was closed.
        runtime.syncLogs()
      }
    }
    return store
  }

  const peer: Peer = {
    storage,
    logs,
    peerId: network?.peerId,
    libp2p: network?.node,
    get addresses () { return network?.addresses() ?? [] },
    get refusals () { return network?.refusals ?? new Map() },
    get banned () { return network?.banned ?? new Map() },

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

    async openStore (idOrAddress, options) {
      const address = typeof idOrAddress === 'string' && idOrAddress.startsWith('/') ? parseThreadAddress(idOrAddress) : undefined
      const threadId = address?.threadId ?? ThreadId.from(idOrAddress)
      const key = typeof options.key === 'string' ? ThreadKey.fromString(options.key) : options.key
      await logs.addThread(threadId, key)
      const existing = logs.metadata.get(threadId, OWN_LOG)
      let logId: string
      if (typeof existing === 'string') {
        logId = existing
      } else {
        const log = await logs.createLog(threadId)
        await storage.transaction(() => logs.metadata.put(threadId, OWN_LOG, log.id))
        logId = log.id
      }
      const store = open(threadId, logId)
      if (address !== undefined && network !== undefined) {
        await network.pull(threadId, address.peer)
        await network.announce(threadId, logId, address.peer)
      }
      return store
    },

    async connect (address) {
      if (network === undefined) throw new NetworkUnavailableError('this peer runs without networking')
      await network.connect(typeof address === 'string' ? multiaddr(address) : address)
    },

    stores () {
      return logs.threads().filter(threadId => typeof logs.metadata.get(threadId, OWN_LOG) === 'string')
    },

    async close () {
      if (storage.closed) return
      await network?.stop()
      await Promise.all([...runtimes.values()].map(runtime => runtime.close()))
      runtimes.clear()
      stores.clear()
      logs.addrs.close()
      await storage.close()
    }
  }
  return peer
}
