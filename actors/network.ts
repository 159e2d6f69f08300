import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { addressesFrom, CODE_THREAD, peerIdOf, threadAddress } from '../codecs/address.ts'
import { Ed25519PublicKey } from '../codecs/ed25519.ts'
import { open, seal } from '../codecs/sealed-box.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import type { RecordBlocks } from '../codecs/record.ts'
import { InvalidAddressError, MalformedMessageError, ReplicationRefusedError, ThreadsError } from '../codecs/errors.ts'
import { decodeGossip, encodeGossip, recordPages, type GossipRecords, type InviteAnswer, type Request } from '../codecs/wire.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { ADDRESS_TTL, isStorableAddr, PERMANENT_ADDR_TTL } from '../storage/addr-book.ts'
import { MissingAncestorError, ReplayedRecordError } from '../storage/errors.ts'
import type { Settled } from '../storage/settled.ts'
import type { LogStore } from '../storage/log-store.ts'
import type { PushOutcome } from '../machines/log-sync.machine.ts'
import type { Storage } from '../storage/storage.ts'
import { judgeGossip, type GossipVerdict } from '../net/gossip-verdict.ts'
import { createThreadsNode, peerIdentity, peerKey, type ThreadsNode } from '../net/node.ts'
import { createPenalties, type MisbehaviourLimits } from '../net/penalties.ts'
import { createRequester, DEFAULT_REQUEST_LIMITS, serveRequests, type RefusalCounts, type RequestServer } from '../net/requests.ts'
import { checkThreadKey, pullThread, pushLog, pushRecords, type Pulled, type PullProgress } from '../net/sync.ts'
import { createThreadService } from '../net/thread-service.ts'

/**
 * A peer's network side: its libp2p node, the `/threads/1.0.0` server, and the moves sync is made of: pulling a
 * thread from a peer, pushing a new record to the thread's other peers, and remembering where logs live. Records
 * that arrive go to the store's dispatcher (`ingest`), exactly like local writes.
 */

/** Peers whose requests to replicate a thread are taken: their peer IDs, or anyone's. */
export type ReplicateFor = 'anyone' | readonly string[]

export interface NetworkInit {
  storage: Storage
  logs: LogStore
  listen?: string[]
  /** Multiaddrs to give other peers instead of the ones listened on. */
  announce?: string[]
  /** When a peer that keeps sending what is refused gets disconnected, and for how long. */
  misbehaviour?: MisbehaviourLimits
  /** Whose requests to replicate a thread this peer takes; no one's when absent. */
  replicateFor?: ReplicateFor
  /** Takes consecutive records of `logId` into the thread, in order; says what became of each. */
  ingest: (threadId: ThreadId, logId: string, records: readonly RecordBlocks[]) => Promise<Array<Settled<unknown>>>
  /** Told when a log of a thread becomes known, or a peer holding it does (announced, learned in a pull, or pushed). */
  onLog: (threadId: ThreadId, logId: string) => void
  /**
   * Told when peer `from` sent records of `logId` ahead of their ancestors; true when the thread's sync actor fetches
   * them, false when this peer should pull them from `from` at once.
   */
  onAncestorsMissing: (threadId: ThreadId, logId: string, from: string) => boolean
  /** Told when a peer holding `logId` connects: that log may have news. */
  onPeerHoldsLog: (threadId: ThreadId, logId: string) => void
  /** Told when any peer connects. */
  onPeerConnect: (peer: string) => void
  /** Takes an invite a peer delivered; throws a `ThreadsError` to refuse it. */
  onInvite: (invite: Uint8Array, peer: string) => Promise<void>
  /** Takes an invitee's answer; throws a `ThreadsError` to refuse it. */
  onInviteReply: (threadId: ThreadId, inviteId: string, answer: InviteAnswer, peer: string) => Promise<void>
}

export interface Network {
  readonly node: ThreadsNode
  readonly peerId: string
  /** Where this peer listens, each ending in `/p2p/<peerId>`. */
  addresses (): Multiaddr[]
  /** What the server refused, per peer and error code. */
  readonly refusals: RefusalCounts
  /** Peers disconnected for misbehaving, each with the time (ms since the epoch) it will be let back. */
  readonly banned: ReadonlyMap<string, number>
  /** Joins the thread's gossip topic, and records that our own log (if we write) lives at our addresses, now only those. */
  advertise (threadId: ThreadId, logId?: string): void
  /** Leaves the thread's gossip topic: the thread is no longer held here. */
  withdraw (threadId: ThreadId): void
  /** Opens a connection to a peer (a store's address works too), so gossip and requests can flow. */
  connect (to: Multiaddr): Promise<void>
  /**
   * Asks the peer at `to` to replicate the thread: hands it the service key only (sealed to its identity), and
   * lists it as a holder of our own log, so pushes reach it and readers can pull from it.
   */
  addReplicator (threadId: ThreadId, logId: string, to: Multiaddr): Promise<void>
  /** Pulls from one peer (by address or ID) every record of the thread it has and we lack; returns how many. */
  pull (threadId: ThreadId, from: Multiaddr | PeerId, progress?: PullProgress): Promise<number>
  /**
   * Asks the peer at `to` whether `key` is the thread's (see `checkThreadKey`), storing nothing; fails with the
   * peer's refusal (`RequestFailedError`) or with the error of a record that does not open with the key.
   */
  checkKey (threadId: ThreadId, key: ThreadKey, to: Multiaddr | PeerId): Promise<void>
  /** Announces our own log of the thread, and our addresses, to one peer, so it pushes to us. */
  announce (threadId: ThreadId, logId: string, to: Multiaddr | PeerId): Promise<void>
  /** Pulls from every peer known to hold a log of the thread; returns how many records came. */
  pullAll (threadId: ThreadId): Promise<number>
  /**
   * Publishes consecutive records of our own log on the thread's gossip topic, when they fit in one message and someone
   * is on the topic: gossip reaches readers no one knows about, and is the fast way, but says nothing of who got the
   * records. Never throws.
   */
  gossip (threadId: ThreadId, logId: string, records: readonly RecordBlocks[]): void
  /**
   * Pushes consecutive records of our own log directly to every peer known to hold a log of the thread, or to those
   * of `to` (peer IDs) only; says which it could not reach, and fails when it reached none.
   */
  push (threadId: ThreadId, logId: string, records: readonly RecordBlocks[], to?: readonly string[]): Promise<PushOutcome>
  /**
   * Pulls from the peers known to hold `logId` (its writer, its replicas); returns how many records came. Fails when
   * every peer's pull failed, or failed on this log: one that took in only other logs' records does not count, and a
   * log in step counts whatever other logs the peer refused.
   */
  pullLog (threadId: ThreadId, logId: string, progress?: PullProgress): Promise<number>
  /** Pulls from each of `peers`; returns how many records came, and fails only when every pull failed. */
  pullFrom (threadId: ThreadId, peers: ReadonlyArray<Multiaddr | PeerId>, progress?: PullProgress): Promise<number>
  /** One address per peer, other than this one, known to hold `logId`. */
  holdersOf (threadId: ThreadId, logId: string): Multiaddr[]
  /** One address per peer, other than this one, that holds a log of the thread. */
  peersOf (threadId: ThreadId): Multiaddr[]
  /** Sends one message to a peer, by address or by peer ID (dialled where libp2p knows it to be). */
  send (to: Multiaddr | string, message: Request): Promise<void>
  stop (): Promise<void>
}

/** Gossipsub carries messages up to 1 MiB; a larger batch travels only by direct push and pull. */
const MAX_GOSSIP_BYTES = 1024 * 1024 - 1024
/** Room in a gossip message for everything but its records: its other fields and gossipsub's envelope. */
const GOSSIP_ENVELOPE_BYTES = 1024

export async function startNetwork (init: NetworkInit): Promise<Network> {
  const { logs, storage } = init
  const privateKey = await peerKey(storage)
  const penalties = createPenalties({
    limits: init.misbehaviour,
    hangUp: async peer => { await node.hangUp(peerIdFromString(peer)) }
  })
  const node = await createThreadsNode({ privateKey, listen: init.listen, announce: init.announce, refuse: penalties.isBanned })
  // Opens what is sealed to this peer, such as a service key handed over for replication.
  const identity = await peerIdentity(storage)
  await node.start()
  const self = node.peerId.toString()
  const requester = createRequester({ node })

  const addresses = (): Multiaddr[] => node.getMultiaddrs().map(addr => peerIdOf(addr) === undefined ? addr.encapsulate(`/p2p/${self}`) : addr)

  /** One address per peer, other than this one, among the addresses of `logIds`. */
  const holders = (threadId: ThreadId, logIds: readonly string[]): Multiaddr[] => {
    const byPeer = new Map<string, Multiaddr>()
    for (const logId of logIds) {
      for (const addr of logs.addrs.addrs(threadId, logId)) {
        const peer = peerIdOf(addr)
        if (peer !== undefined && peer !== self && !byPeer.has(peer)) byPeer.set(peer, addr)
      }
    }
    return [...byPeer.values()]
  }

  /** One address per peer that holds a log of the thread, other than this peer. */
  const peersOf = (threadId: ThreadId): Multiaddr[] => holders(threadId, logs.keys.logs(threadId))

  /**
   * Adds addresses a peer gave (or was reached at) for a log, for `ADDRESS_TTL`. Every push and pull hears them
   * again, and each write is a commit: an address refreshed less than half its TTL ago is left as it is. Returns
   * whether it wrote any.
   */
  const refreshed = new Map<string, number>()
  const noteAddrs = (threadId: ThreadId, logId: string, addrs: readonly Multiaddr[]): boolean => {
    const now = Date.now()
    const stale = addrs.filter(addr => (refreshed.get(`${threadId.toString()} ${logId} ${addr.toString()}`) ?? 0) < now - ADDRESS_TTL / 2)
    if (stale.length === 0) return false
    logs.addrs.addAddrs(threadId, logId, stale, ADDRESS_TTL)
    for (const addr of stale) refreshed.set(`${threadId.toString()} ${logId} ${addr.toString()}`, now)
    return true
  }

  /** Remembers the addresses a peer gave for its logs, so pushes and later pulls can find them. */
  const remember = async (threadId: ThreadId, listed: ReadonlyArray<{ logId: string, addrs: readonly Uint8Array[] }>): Promise<void> => {
    for (const { logId, addrs } of listed) {
      const parsed = addressesFrom(addrs).filter(isStorableAddr)
      // A log another holder of the thread lists is a log of the thread: its ID is its key, and its records will
      // be checked against it one by one.
      if (!logs.hasLog(threadId, logId)) {
        let key: Ed25519PublicKey
        try {
          key = Ed25519PublicKey.fromLogId(logId)
        } catch {
          continue
        }
        await logs.addLog(threadId, key)
      }
      noteAddrs(threadId, logId, parsed)
    }
  }

  const pulls = new Map<string, { done: Promise<Pulled>, again?: Promise<Pulled> }>()

  /**
   * Hands consecutive records of one log to the dispatcher all at once: it keeps them in order and commits them
   * together. A record already held is no news; any other refusal is the first one's.
   */
  const ingestAll = async (threadId: ThreadId, logId: string, records: readonly RecordBlocks[]): Promise<number> => {
    const outcomes = await init.ingest(threadId, logId, records)
    const refused = outcomes.find(outcome => !outcome.ok && !(outcome.error instanceof ReplayedRecordError))
    if (refused !== undefined && !refused.ok) throw refused.error
    return outcomes.filter(outcome => !outcome.ok).length
  }

  const pullOnce = async (threadId: ThreadId, from: Multiaddr | PeerId, progress?: PullProgress): Promise<Pulled> => {
    return await pullThread({
      progress,
      requester,
      logs,
      peer: from,
      threadId,
      key: logs.threadKey(threadId),
      take: async (logId, records) => { await ingestAll(threadId, logId, records) },
      learn: async listed => {
        await remember(threadId, listed)
        for (const { logId } of listed) init.onLog(threadId, logId)
      }
    })
  }

  /**
   * Pulls from one peer for one thread, one pull at a time; a pull asked for while one runs is folded into a single
   * follow-up, since that one will fetch everything the asks were about. The same peer named by address or by ID is
   * one peer.
   */
  const pullPeer = async (threadId: ThreadId, from: Multiaddr | PeerId, progress?: PullProgress): Promise<Pulled> => {
    const slot = `${threadId.toString()} ${isMultiaddr(from) ? peerIdOf(from) ?? from.toString() : from.toString()}`
    const running = pulls.get(slot)
    if (running !== undefined) {
      running.again ??= running.done.catch(() => undefined).then(async () => await pullPeer(threadId, from))
      return await running.again
    }
    const pulling: { done: Promise<Pulled>, again?: Promise<Pulled> } = { done: pullOnce(threadId, from, progress) }
    pulls.set(slot, pulling)
    try {
      return await pulling.done
    } finally {
      if (pulls.get(slot) === pulling) pulls.delete(slot)
    }
  }

  const network: Network = {
    node,
    peerId: self,
    addresses,
    get refusals () { return server.refusals },
    banned: penalties.banned,

    advertise (threadId, logId) {
      if (logId !== undefined) {
        // What this peer listened on before a restart (a port picked by the system) is where it no longer is: only
        // its own addresses go, not a replica's of the same log.
        const current = addresses()
        const gone = logs.addrs.addrs(threadId, logId).filter(addr => peerIdOf(addr) === self && !current.some(now => now.equals(addr)))
        logs.addrs.setAddrs(threadId, logId, current, PERMANENT_ADDR_TTL)
        logs.addrs.setAddrs(threadId, logId, gone, 0)
      }
      node.services.pubsub.subscribe(threadId.toString())
    },

    withdraw (threadId) {
      node.services.pubsub.unsubscribe(threadId.toString())
      // The addresses were dropped with the thread: taken in again, it must write them again.
      const prefix = `${threadId.toString()} `
      for (const slot of [...refreshed.keys()]) if (slot.startsWith(prefix)) refreshed.delete(slot)
    },

    async connect (to) {
      await node.dial(to.decapsulateCode(CODE_THREAD))
    },

    async addReplicator (threadId, logId, to) {
      const replica = to.decapsulateCode(CODE_THREAD)
      const replicaId = peerIdOf(replica)
      if (replicaId === undefined) throw new InvalidAddressError(`${replica.toString()} names no peer`)
      const sealedKey = seal(Ed25519PublicKey.fromLogId(replicaId), logs.threadKey(threadId).service)
      await requester.request(replica, { type: 'replicate', threadId, sealedKey })
      logs.addrs.addAddrs(threadId, logId, [replica], PERMANENT_ADDR_TTL)
    },

    async pull (threadId, from, progress) {
      const pulled = await pullPeer(threadId, from, progress)
      // A pull that took something is progress; one that took nothing but refusals failed.
      if (pulled.records === 0 && pulled.failed.length > 0) throw pulled.failed[0]!.error
      return pulled.records
    },

    async checkKey (threadId, key, to) {
      await checkThreadKey({ requester, peer: to, threadId, key })
    },

    async announce (threadId, logId, to) {
      await pushLog({ requester, peer: to, threadId, key: logs.threadKey(threadId), logId, addrs: addresses().map(addr => addr.bytes) })
    },

    async pullAll (threadId) {
      const pulled = await Promise.allSettled(peersOf(threadId).map(addr => network.pull(threadId, addr)))
      return pulled.reduce((sum, outcome) => sum + (outcome.status === 'fulfilled' ? outcome.value : 0), 0)
    },

    gossip (threadId, logId, records) {
      const topic = threadId.toString()
      // Encoding a message for no one on the topic would be work for nothing.
      if (node.services.pubsub.getSubscribers(topic).length === 0) return
      // A batch too large for one message (large records) reaches readers by their pulls instead.
      if (recordPages(records, MAX_GOSSIP_BYTES - GOSSIP_ENVELOPE_BYTES).length !== 1) return
      const message = encodeGossip({ threadId, logId, records })
      // Gossip is the fast way, not the sure one: what cannot go by it still goes by the direct push and by pulls.
      if (message.length <= MAX_GOSSIP_BYTES) void node.services.pubsub.publish(topic, message).catch(() => undefined)
    },

    async push (threadId, logId, records, to) {
      const peers = peersOf(threadId).filter(addr => to === undefined || to.includes(peerIdOf(addr)!))
      if (peers.length === 0) return { unreached: [] }
      const key = logs.threadKey(threadId)
      // Direct pushes reach the writers we know, gossip mesh or not, and say whether they arrived. Reaching some peers
      // is progress: the log's sync actor sends the others what they missed again. Reaching none is a failure to retry.
      const outcomes = await Promise.allSettled(peers.map(addr => pushRecords({ requester, peer: addr, threadId, key, logId, records })))
      const failures = outcomes.filter(outcome => outcome.status === 'rejected')
      if (failures.length === peers.length) throw (failures[0] as PromiseRejectedResult).reason
      return { unreached: peers.filter((_addr, index) => outcomes[index]!.status === 'rejected').map(addr => peerIdOf(addr)!) }
    },

    async pullLog (threadId, logId, progress) {
      const peers = holders(threadId, [logId])
      if (peers.length === 0) return 0
      const outcomes = await Promise.allSettled(peers.map(peer => pullPeer(threadId, peer, progress)))
      // A pull that took other logs' records but not this one's did not sync this log: its actor tries again.
      const reasons = outcomes.map(outcome => outcome.status === 'rejected' ? outcome.reason : outcome.value.failed.find(failure => failure.logId === logId)?.error)
      if (reasons.every(reason => reason !== undefined)) throw reasons[0]
      return outcomes.reduce((sum, outcome) => sum + (outcome.status === 'fulfilled' ? outcome.value.records : 0), 0)
    },

    async pullFrom (threadId, peers, progress) {
      if (peers.length === 0) return 0
      const outcomes = await Promise.allSettled(peers.map(peer => network.pull(threadId, peer, progress)))
      const pulled = outcomes.filter(outcome => outcome.status === 'fulfilled')
      if (pulled.length === 0) throw (outcomes[0] as PromiseRejectedResult).reason
      return pulled.reduce((sum, outcome) => sum + (outcome as PromiseFulfilledResult<number>).value, 0)
    },

    holdersOf: (threadId, logId) => holders(threadId, [logId]),
    peersOf,

    async send (to, message) {
      await requester.request(typeof to === 'string' ? peerIdFromString(to) : to.decapsulateCode(CODE_THREAD), message)
    },

    async stop () {
      requester.stop()
      await server.stop()
      await node.stop()
    }
  }

  // A peer that connects may hold records we lack: ask the sync actors of the logs it holds to catch up, and only
  // those, so a reconnect does not set every thread pulling at once.
  node.addEventListener('peer:connect', event => {
    const peer = event.detail.toString()
    init.onPeerConnect(peer)
    for (const threadId of logs.threads()) {
      for (const logId of logs.addrs.logsWithAddrs(threadId)) {
        if (logs.addrs.addrs(threadId, logId).some(addr => peerIdOf(addr) === peer)) init.onPeerHoldsLog(threadId, logId)
      }
    }
  })

  /** The log's sync actor fetches what `from` sent ahead of its ancestors; a thread without one pulls at once. */
  const fetchMissingAncestors = async (threadId: ThreadId, logId: string, from: PeerId): Promise<void> => {
    if (!init.onAncestorsMissing(threadId, logId, from.toString())) await network.pull(threadId, from)
  }

  /**
   * Takes records gossiped on a thread's topic. Gossip is not signed: every record proves itself (sealed with the
   * service key, signed with its log's key), and a second signature on the message cost as much as everything else a
   * receiver does with it; anyone who knows a thread's ID can gossip on its topic, and a log not known here is
   * learnt only from a record that proves it (`addLogOf`). What becomes of the records decides whether the message
   * goes on to other peers (`judgeGossip`).
   */
  node.services.pubsub.addEventListener('gossipsub:message', event => {
    const { propagationSource: from, msgId, msg: message } = event.detail
    void (async () => {
      let verdict: GossipVerdict = { acceptance: TopicValidatorResult.Ignore, ancestorsMissing: false }
      let gossip: GossipRecords | undefined
      try {
        gossip = decodeGossip(message.data)
        if (gossip.threadId.toString() !== message.topic) throw new MalformedMessageError('gossip carries only its own topic\'s records')
      } catch (error) {
        gossip = undefined
        verdict = { acceptance: TopicValidatorResult.Reject, refusal: error instanceof ThreadsError ? error.code : 'ERR_INTERNAL', ancestorsMissing: false }
      }
      try {
        if (gossip !== undefined && logs.hasThread(gossip.threadId)) {
          verdict = judgeGossip(await init.ingest(gossip.threadId, gossip.logId, gossip.records), logs.threadKey(gossip.threadId).read !== undefined)
        }
      } catch {
        // The thread closed, or storage failed: nothing to say about the message or its sender.
      }
      node.services.pubsub.reportMessageValidationResult(msgId, from.toString(), verdict.acceptance)
      if (verdict.refusal !== undefined) server.refuse(from.toString(), verdict.refusal)
      if (gossip === undefined || !verdict.ancestorsMissing) return
      // Gossip can outrun the records before it. The peer that passed these on took them, so it holds their
      // ancestors, unless it lies: the log's holders are asked too.
      for (const holder of holders(gossip.threadId, [gossip.logId])) {
        const peer = peerIdOf(holder)
        if (peer !== undefined) init.onAncestorsMissing(gossip.threadId, gossip.logId, peer)
      }
      await fetchMissingAncestors(gossip.threadId, gossip.logId, from).catch(() => undefined)
    })()
  })

  const server: RequestServer = await serveRequests(node, createThreadService({
    logs,
    takeInvite: async (invite, peer) => { await init.onInvite(invite, peer.toString()) },
    takeInviteReply: async (threadId, inviteId, answer, peer) => { await init.onInviteReply(threadId, inviteId, answer, peer.toString()) },
    async takeReplication (threadId, sealedKey, peer) {
      const replicateFor = init.replicateFor ?? []
      if (replicateFor !== 'anyone' && !replicateFor.includes(peer.toString())) {
        throw new ReplicationRefusedError(`this peer does not replicate threads for ${peer.toString()}`)
      }
      const serviceKey = open(identity, sealedKey)
      await logs.addThread(threadId, ThreadKey.of(serviceKey))
      node.services.pubsub.subscribe(threadId.toString())
      await network.pull(threadId, peer)
    },
    async takeLog (threadId, logId, addrs, peer) {
      if (!logs.hasLog(threadId, logId)) await logs.addLog(threadId, Ed25519PublicKey.fromLogId(logId))
      // Only addresses of the peer that announced the log: a peer cannot point others at someone else.
      const own = addressesFrom(addrs).filter(addr => isStorableAddr(addr) && peerIdOf(addr) === peer.toString())
      noteAddrs(threadId, logId, own)
      // A peer announcing its log holds it, with records perhaps written while no one could hear of them (a Join
      // authored while the thread's peers were away): the log catches up now, not at its next poll.
      init.onPeerHoldsLog(threadId, logId)
    },
    async takeRecords (threadId, logId, records, peer) {
      let replayed = 0
      try {
        replayed = await ingestAll(threadId, logId, records)
      } catch (error) {
        // Records whose ancestors have not reached us yet: fetch them (and these) from the peer that pushed them.
        if (!(error instanceof MissingAncestorError)) throw error
        await fetchMissingAncestors(threadId, logId, peer)
      }
      const known = await node.peerStore.get(peer).catch(() => undefined)
      const reachable = (known?.addresses ?? []).map(address => address.multiaddr.encapsulate(`/p2p/${peer.toString()}`))
      // The pusher holds the log: if that is news, the log may now have someone to pull from.
      if (noteAddrs(threadId, logId, reachable)) init.onLog(threadId, logId)
      // A push of records all held already is refused and counted; pushes, gossip and pulls cross paths honestly, so a
      // pusher takes that answer as delivered, and the penalties do not count it against the peer.
      if (records.length > 0 && replayed === records.length) throw new ReplayedRecordError(`every record pushed of log ${logId} is already held`)
      if (replayed > 0) server.refuse(peer.toString(), ReplayedRecordError.code)
    }
  }), DEFAULT_REQUEST_LIMITS, penalties.refused)
  return network
}

/** The address of a thread at this peer: one of its addresses with `/thread/<tid>` on the end. */
export function threadAddressOf (network: Network, threadId: ThreadId): Multiaddr | undefined {
  const [first] = network.addresses()
  return first === undefined ? undefined : threadAddress(first, threadId)
}
