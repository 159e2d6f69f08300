import type { InspectionEvent, Observer } from 'xstate'
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { parseThreadAddress, toMultiaddr } from '../codecs/address.ts'
import { ThreadId, ThreadVariant } from '../codecs/thread-id.ts'
import type { ThreadsNode } from '../net/node.ts'
import type { MisbehaviourLimits } from '../net/penalties.ts'
import type { ReplicateFor } from './network.ts'
import type { RefusalCounts } from '../net/requests.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import { randomBytes } from 'node:crypto'
import { isDefaultRole, type DefaultRole } from '../codecs/acl.ts'
import { toHex, type EventCodec } from '../codecs/event-codec.ts'
import type { Invite } from '../codecs/invite.ts'
import { ownedThreadId, signLogBinding } from '../codecs/ownership.ts'
import { peerIdentity } from '../net/node.ts'
import { InvalidArgumentError, NetworkUnavailableError, ReadOnlyStoreError, UnknownThreadError } from '../storage/errors.ts'
import { createInvitations, type InvitationStatus, type InvitationTiming, type Invitations, type ReceivedInvite } from './invitations.ts'
import { createLogStore, type LogStore } from '../storage/log-store.ts'
import { createStoreEngine, type StoreEngine } from '../storage/store-engine.ts'
import { settle } from '../storage/settled.ts'
import { openStorage, type Storage } from '../storage/storage.ts'
import { startNetwork, threadAddressOf, type Network } from './network.ts'
import { createStore, type Store } from './store.ts'
import { assertTimeout, startThread, type ThreadRuntime } from './thread-runtime.ts'
import { createTraceRecorder } from './trace.ts'

/**
 * A peer: one LMDB environment, the logs and stores in it, and the actors of every store it has opened.
 * Closing it stops the actors and closes storage; opening the same path again brings everything back.
 */

export interface PeerInit {
  /** Directory of the peer's LMDB environment; created when missing. */
  path: string
  /** Take a snapshot of a store's views every this many events (0: only on request). */
  snapshotEvery?: number
  /**
   * How long a transaction's body may run, in milliseconds, before the transaction ends with `TransactionTimeoutError`
   * and nothing of it committed: a write transaction holds every writer of its store back while its body runs. A
   * minute unless told otherwise; at most 2,147,483,647 ms (about 24.8 days), or `Infinity` for no limit. A transaction
   * may set its own (`{ timeout }`).
   */
  transactionTimeout?: number
  /**
   * How actions become events and events fold into entities: RFC 6902 patches (`jsonPatchCodec`) unless told
   * otherwise. Records name the codec that wrote them, and a store folds only its own codec's records, so every
   * peer of a thread needs the same one.
   */
  codec?: EventCodec
  /** Receives every inspection event of every actor of the peer (an XState inspector). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /**
   * A file to record every inspection event of the peer's actors in, as JSON lines (see actors/trace.ts), for the
   * trace viewer in visualizations/. Written as it goes, bounded, and complete once the peer is closed.
   */
  trace?: string
  /** Multiaddrs to listen on; loopback on a free port unless told otherwise. */
  listen?: string[]
  /** Multiaddrs to give other peers instead of the ones listened on (a proxy or a NAT in front of this peer). */
  announce?: string[]
  /** How each log's sync actor paces itself; the defaults poll a quiet log once a minute. */
  sync?: Partial<SyncTiming>
  /** Run a libp2p node and sync with other peers (the default); false keeps the peer to itself. */
  network?: boolean
  /** How invites retry peers that cannot be reached: every second, eight times, unless told otherwise. */
  invites?: Partial<InvitationTiming>
  /** When a peer that keeps sending what is refused gets disconnected, and for how long. */
  misbehaviour?: MisbehaviourLimits
  /**
   * Whose requests to replicate a thread (`addReplicator`) this peer takes: their peer IDs, or `'anyone'`. By default
   * no one's, so no stranger can fill this peer's disk; a replica made by invite needs no entry here.
   */
  replicateFor?: ReplicateFor
}

export interface NewStoreOptions {
  /** `ThreadVariant.AccessControlled` makes this peer the thread's owner, with an ACL it controls. */
  variant?: ThreadVariant
  /** The role of peers an access-controlled thread's ACL does not name; `no-access` unless told otherwise. */
  defaultRole?: DefaultRole
}

export interface Peer {
  readonly storage: Storage
  readonly logs: LogStore
  /** The peer's identity: its libp2p peer ID, which invites and ACLs name. */
  readonly peerId: string
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
   * Opening one this peer already holds returns it. Given an address, the key is checked with that peer first: a key
   * it refuses or that does not open its records, or a peer that cannot be reached, fails the open
   * (`RequestFailedError`, `DecryptionError`) and stores nothing; given a thread ID alone, the key is taken as it is.
   */
  openStore (idOrAddress: ThreadId | string, options: { key: ThreadKey | string }): Promise<Store>
  /** The threads this peer holds a store in. */
  stores (): ThreadId[]
  /**
   * Removes a thread this peer holds (a store or a replica): its key, logs and records, views, indexes, events,
   * snapshots, ACLs and addresses, and the invites it made or answered in it, in one storage transaction, after
   * stopping its actors and leaving its gossip topic. Nothing of it is served or kept afterwards; a store of it still
   * held is `closed` and refuses reads and writes (`StorageClosedError`), and while it goes nothing opens it
   * (`UnknownThreadError`). Its peers keep their copies: joining it again takes it in afresh.
   */
  deleteStore (id: ThreadId | string): Promise<void>
  /**
   * Accepts an invite (delivered, or handed over as a string) and takes the thread in: a writer gets a log of its
   * own and authors a Join; a reader reads. Resolves with the store once joined, or once the join waits for the
   * thread's peers to come back. A `replicate` invite makes no store: accept it from `invites()`.
   */
  join (invite: Invite | string | Uint8Array): Promise<Store>
  /** Invites received and not yet answered. */
  invites (): ReceivedInvite[]
  /** Where the handshake of an invite this peer made or received stands. */
  invitation (inviteId: string): InvitationStatus | undefined
  /** Connects to a peer (or the peer in a store's address), so gossip and requests flow between the two. */
  connect (address: string | Multiaddr): Promise<void>
  /**
   * Pushes what each own log still holds back (waiting up to 2 s for those pushes), stops the network, lets jobs
   * already handed to storage finish, and closes storage. Calls made while it closes wait for the same close.
   */
  close (): Promise<void>
}

const DEFAULT_SNAPSHOT_EVERY = 10_000
const DEFAULT_TRANSACTION_TIMEOUT = 60_000

export interface SyncTiming {
  /** Milliseconds between pulls of a quiet log (with jitter). */
  pollMs: number
  /**
   * How long our own log's direct push waits after its records were gossiped: the gossiped copy reaches the peers
   * first, and what is committed meanwhile goes in the same push.
   */
  pushDelayMs: number
  /** First wait after a failed push or pull; doubles with each failure in a row, up to `maxBackoffMs`. */
  backoffMs: number
  maxBackoffMs: number
  /** Failures in a row after which a log's sync rests until something asks it to sync again. */
  maxAttempts: number
}

/**
 * A slow poll (not a fast one that makes sync look slow), and backoff. The direct push waits a tenth of a second: the
 * peers gossip reached take it only to find every record held, and a push every few commits took the time of the
 * commits it met on both ends (measured: writes heard 0.3–0.6 ms sooner at the median than with a 20 ms hold).
 */
export const DEFAULT_SYNC_TIMING: Readonly<SyncTiming> = Object.freeze({ pollMs: 60_000, pushDelayMs: 100, backoffMs: 250, maxBackoffMs: 30_000, maxAttempts: 8 })
const OWN_LOG = 'store/own-log'
/** Marks a thread this peer reads (by invite) without writing to it. */
const READER = 'store/reader'
const INVITE_TIMING = { retryMs: 1000, maxAttempts: 8 }

export async function createPeer (init: PeerInit): Promise<Peer> {
  const transactionTimeout = init.transactionTimeout ?? DEFAULT_TRANSACTION_TIMEOUT
  assertTimeout(transactionTimeout)
  // First, so a trace file that cannot be written is refused before the peer touches anything.
  const recorder = init.trace === undefined ? undefined : createTraceRecorder({ file: init.trace })
  const storage = await openStorage({ path: init.path }).catch(async (error: unknown) => {
    await recorder?.close()
    throw error
  })
  const identity = await peerIdentity(storage)
  const self = identity.publicKey.logId
  const logs = createLogStore({ storage })
  const engine: StoreEngine = createStoreEngine({ storage, logs, codec: init.codec })
  const runtimes = new Map<string, ThreadRuntime>()
  const stores = new Map<string, Store>()
  recorder?.start(self)
  const inspectors = [init.inspect, recorder?.inspect].filter(inspector => inspector !== undefined)
  const inspect = inspectors.length < 2
    ? inspectors[0]
    : (event: InspectionEvent) => { for (const inspector of inspectors) typeof inspector === 'function' ? inspector(event) : inspector.next?.(event) }
  // Known to invitations once started: invites can arrive while the network is still starting.
  let running: Network | undefined
  const invitations: Invitations = createInvitations({
    storage,
    logs,
    engine,
    identity,
    network: () => running,
    timing: { ...INVITE_TIMING, ...init.invites },
    inspect,
    runtimeOf: threadId => runtimes.get(threadId.toString()),
    openRuntime: async threadId => {
      await openHeld(threadId)
      return runtimes.get(threadId.toString())!
    },
    adopt: async (threadId, role) => {
      switch (role) {
        case 'write': {
          const logId = await ownLogOf(threadId)
          await open(threadId, logId)
          return logId
        }
        case 'read':
          await storage.transaction(() => logs.metadata.put(threadId, READER, true))
          await open(threadId, undefined)
          return undefined
        case 'replicate':
          await running?.advertise(threadId)
          return undefined
      }
    }
  })

  const network = init.network === false
    ? undefined
    : await startNetwork({
      storage,
      logs,
      listen: init.listen,
      announce: init.announce,
      misbehaviour: init.misbehaviour,
      replicateFor: init.replicateFor,
      ingest: async (threadId, logId, records) => {
        const runtime = runtimes.get(threadId.toString())
        if (runtime !== undefined) return await Promise.all(records.map(async record => await settle(runtime.ingest(logId, record))))
        // A thread this peer replicates: it holds the service key alone, so it verifies, links and stores the
        // records, and serves them, without ever reading them.
        if (!logs.hasThread(threadId) || logs.threadKey(threadId).canRead) throw new UnknownThreadError(`no store of thread ${threadId.toString()} is open here`)
        const [first] = records
        if (first !== undefined && !logs.hasLog(threadId, logId)) {
          const learnt = await settle(logs.addLogOf(threadId, logId, first))
          if (!learnt.ok) return records.map(() => learnt)
        }
        return await Promise.all(records.map(async record => await settle(logs.accept(threadId, logId, record))))
      },
      onLog: threadId => { runtimes.get(threadId.toString())?.syncLogs(false) },
      onAncestorsMissing: (threadId, logId, from) => runtimes.get(threadId.toString())?.fetchMissingAncestors(logId, from) ?? false,
      onPeerHoldsLog: (threadId, logId) => { runtimes.get(threadId.toString())?.syncLog(logId) },
      onPeerConnect: peer => { invitations.connected(peer) },
      onInvite: async invite => { await invitations.deliver(invite) },
      onInviteReply: async (threadId, inviteId, answer, peer) => { await invitations.reply(threadId, inviteId, answer, peer) }
    })
  running = network

  /** Our log in a thread: the one we have, or a new one. */
  const ownLogOf = async (threadId: ThreadId): Promise<string> => {
    const existing = logs.metadata.get(threadId, OWN_LOG)
    if (typeof existing === 'string') return existing
    const log = await logs.createLog(threadId)
    await storage.transaction(() => logs.metadata.put(threadId, OWN_LOG, log.id))
    return log.id
  }

  /** Threads being deleted: nothing opens them again until their removal has committed. */
  const deleting = new Set<string>()
  const assertNotDeleting = (threadId: ThreadId): void => {
    if (deleting.has(threadId.toString())) throw new UnknownThreadError(`thread ${threadId.toString()} is being deleted here`)
  }

  const open = async (threadId: ThreadId, logId: string | undefined): Promise<Store> => {
    const tid = threadId.toString()
    assertNotDeleting(threadId)
    // A store last written by an earlier build may keep its views in a layout this one does not read: its logs do.
    if (!stores.has(tid)) await engine.foldIfOutdated(threadId)
    assertNotDeleting(threadId)
    let store = stores.get(tid)
    if (store === undefined) {
      const runtime = startThread({
        logs,
        storage,
        engine,
        threadId,
        logId,
        snapshotEvery: init.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
        transactionTimeout,
        inspect,
        onAccess: outcomes => { invitations.noteAccess(threadId, outcomes) },
        sync: network === undefined
          ? undefined
          : {
              gossip: (log, records) => { network.gossip(threadId, log, records) },
              push: async (log, records, to) => await network.push(threadId, log, records, to),
              pull: async (log, progress) => await network.pullLog(threadId, log, progress),
              pullFrom: async peers => await network.pullFrom(threadId, peers.map(peer => peerIdFromString(peer))),
              heldElsewhere: log => network.holdersOf(threadId, log).length > 0,
              ...DEFAULT_SYNC_TIMING,
              ...init.sync
            }
      })
      runtimes.set(tid, runtime)
      store = createStore({
        runtime,
        engine,
        logId,
        // The key alone: `getThread` would also derive every log's key pair, which opening a store has no use for.
        key: logs.threadKey(threadId),
        address: () => network === undefined ? undefined : threadAddressOf(network, threadId)?.toString(),
        addReplicator: async address => {
          if (network === undefined) throw new NetworkUnavailableError('this peer runs without networking')
          if (logId === undefined) throw new ReadOnlyStoreError('a reader has no log of its own to replicate')
          await network.addReplicator(threadId, logId, toMultiaddr(address))
        },
        sync: async () => network === undefined ? 0 : await network.pullAll(threadId),
        invite: async (invitee, options) => await invitations.invite(threadId, invitee, options)
      })
      stores.set(tid, store)
      if (network !== undefined) {
        network.advertise(threadId, logId)
        // Every log another peer holds gets its sync actor, and each catches up on what was written while this store
        // was closed; our own log gets its actor with its first commit.
        runtime.syncLogs()
      }
    }
    return store
  }

  /** The store of a thread this peer writes or reads, opened if it is not. */
  async function openHeld (threadId: ThreadId): Promise<Store> {
    const held = logs.hasThread(threadId)
    const logId = held ? logs.metadata.get(threadId, OWN_LOG) : undefined
    const reader = held && logs.metadata.get(threadId, READER) === true
    if (typeof logId !== 'string' && !reader) throw new UnknownThreadError(`this peer holds no store in thread ${threadId.toString()}`)
    return await open(threadId, typeof logId === 'string' ? logId : undefined)
  }

  await invitations.resume()

  let closing: Promise<void> | undefined
  const peer: Peer = {
    storage,
    logs,
    peerId: self,
    libp2p: network?.node,
    get addresses () { return network?.addresses() ?? [] },
    get refusals () { return network?.refusals ?? new Map() },
    get banned () { return network?.banned ?? new Map() },

    async newStore (options = {}) {
      const defaultRole = options.defaultRole ?? 'no-access'
      if (!isDefaultRole(defaultRole)) throw new InvalidArgumentError(`a default role is no-access or one of the roles, not ${String(defaultRole)}`)
      if (options.variant !== ThreadVariant.AccessControlled) {
        const thread = await logs.createThread({ variant: options.variant })
        return await open(thread.id, await ownLogOf(thread.id))
      }
      // The owner's ID and a nonce derive the thread ID, and the genesis, the first record of the owner's log,
      // says so: every peer can check who owns the thread, and only the owner could have made it.
      const nonce = new Uint8Array(randomBytes(16))
      const thread = await logs.createThread({ id: ownedThreadId(self, nonce) })
      const logId = await ownLogOf(thread.id)
      const store = await open(thread.id, logId)
      const binding = toHex(signLogBinding(identity, thread.id, logId))
      await runtimes.get(thread.id.toString())!.commit([{
        type: 'control',
        event: { type: 'genesis', peer: self, nonce: toHex(nonce), binding, default: defaultRole }
      }])
      return store
    },

    store: async id => await openHeld(ThreadId.from(id)),

    async join (input) {
      const invite = await invitations.receive(input)
      if (invite.role === 'replicate') throw new InvalidArgumentError('a replicate invite makes this peer a replica, which has no store: accept it from invites()')
      return await peer.store(await invite.accept())
    },

    invites: () => invitations.pending(),
    invitation: inviteId => invitations.status(inviteId),

    async openStore (idOrAddress, options) {
      const address = typeof idOrAddress === 'string' && idOrAddress.startsWith('/') ? parseThreadAddress(idOrAddress) : undefined
      const threadId = address?.threadId ?? ThreadId.from(idOrAddress)
      const key = typeof options.key === 'string' ? ThreadKey.fromString(options.key) : options.key
      // A key the thread's peer refuses leaves nothing behind: stored, it would stand in the way of the right one.
      const held = logs.hasThread(threadId) ? logs.threadKey(threadId) : undefined
      const adds = held === undefined || (key.canRead && !held.canRead)
      if (adds && address !== undefined && network !== undefined) await network.checkKey(threadId, key, address.peer)
      await logs.addThread(threadId, key)
      const store = await open(threadId, await ownLogOf(threadId))
      if (address !== undefined && network !== undefined) {
        await network.pull(threadId, address.peer)
        await network.announce(threadId, store.logId!, address.peer)
      }
      return store
    },

    async connect (address) {
      if (network === undefined) throw new NetworkUnavailableError('this peer runs without networking')
      await network.connect(toMultiaddr(address))
    },

    async deleteStore (id) {
      const threadId = ThreadId.from(id)
      assertNotDeleting(threadId)
      if (!logs.hasThread(threadId)) throw new UnknownThreadError(`this peer holds no thread ${threadId.toString()}`)
      const tid = threadId.toString()
      deleting.add(tid)
      try {
        await runtimes.get(tid)?.close()
        runtimes.delete(tid)
        stores.delete(tid)
        network?.withdraw(threadId)
        await storage.transaction(() => {
          invitations.dropThreadWithin(threadId)
          engine.dropWithin(threadId)
          logs.dropThreadWithin(threadId)
        })
      } finally {
        deleting.delete(tid)
      }
    },

    stores () {
      return logs.threads().filter(threadId => typeof logs.metadata.get(threadId, OWN_LOG) === 'string' || logs.metadata.get(threadId, READER) === true)
    },

    async close () {
      if (storage.closed) return
      closing ??= (async () => {
        // Before the network stops: the last commits reach the peers directly, not only by gossip.
        await Promise.all([...runtimes.values()].map(runtime => runtime.pushHeld()))
        await invitations.stop()
        await network?.stop()
        await Promise.all([...runtimes.values()].map(runtime => runtime.close()))
        await recorder?.close()
        runtimes.clear()
        stores.clear()
        logs.addrs.close()
        await storage.close()
      })()
      await closing
    }
  }
  return peer
}
