import { createActor, fromPromise, waitFor, type Actor, type InspectionEvent, type Observer } from 'xstate'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { addressesFrom, peerIdOf } from '../codecs/address.ts'
import { toHex, type ControlEvent } from '../codecs/event-codec.ts'
import { Ed25519PublicKey, type Ed25519PrivateKey } from '../codecs/ed25519.ts'
import { InvalidInviteError, InviteExpiredError, InviteNotForUsError } from '../codecs/errors.ts'
import { Invite, inviteSecrets, isInviteRole, rolesOfInvite, tokenHash, type InviteContent, type InviteRole } from '../codecs/invite.ts'
import { signLogBinding } from '../codecs/ownership.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { InviteAnswer } from '../codecs/wire.ts'
import { inviteeMachine } from '../machines/invitee.machine.ts'
import { inviterMachine, type InviterResume } from '../machines/inviter.machine.ts'
import type { AccessOutcome } from '../storage/access-store.ts'
import { ADDRESS_TTL, isStorableAddr } from '../storage/addr-book.ts'
import { AccessDeniedError, InvalidArgumentError, InviteReplayedError, NetworkUnavailableError, TooManyInvitesError } from '../storage/errors.ts'
import type { LogStore } from '../storage/log-store.ts'
import type { Storage } from '../storage/storage.ts'
import type { StoreEngine } from '../storage/store-engine.ts'
import type { Network } from './network.ts'
import type { ThreadRuntime } from './thread-runtime.ts'

/**
 * Invites and Joins as actors: an inviter actor per invite this peer makes, an invitee actor per invite it
 * receives. The machines hold the handshake's control flow; the effects here author the control events through
 * the thread's dispatcher, seal and open invites, and reach peers through the network. Received invites are kept
 * in LMDB until answered, so a restart keeps what was pending.
 */

export interface InviteOptions {
  /** What the invite makes its invitee; `write` unless told otherwise. */
  role?: InviteRole
  /** Milliseconds the invite stays valid; a week unless told otherwise. */
  expiresIn?: number
  /** Where the invitee listens, when libp2p does not know yet. */
  address?: string | Multiaddr
}

/** An invite this peer received, opened and checked, waiting for an answer (or answered). */
export interface ReceivedInvite {
  readonly id: string
  readonly threadId: ThreadId
  readonly inviter: string
  readonly role: InviteRole
  readonly expires: number
  /** The invitee machine's state: `pending` until answered. */
  readonly state: string
  /** Takes the thread in; resolves with its thread ID once joined (or once the join waits for peers to return). */
  accept (): Promise<ThreadId>
  decline (): Promise<void>
}

/** Where one invite's handshake stands, on this peer's side of it. */
export interface InvitationStatus {
  readonly side: 'inviter' | 'invitee'
  /** The state of the side's machine (`awaiting join`, `joined`, `pending`, `synced`…). */
  readonly state: string
  /** Joins refused for the invite (inviter side): duplicates, mismatches, late ones. */
  readonly refusedJoins: number
  /** Why the handshake failed or last had to wait. */
  readonly error?: unknown
}

export interface InvitationTiming {
  /** First wait before reaching an unreachable peer again; an invitee doubles it each time. */
  retryMs: number
  /** How many failed tries in a row an invitee makes before it gives up. */
  maxAttempts: number
}

export interface InvitationsInit {
  storage: Storage
  logs: LogStore
  engine: StoreEngine
  identity: Ed25519PrivateKey
  /** The peer's network, once it runs (invites may arrive while the peer is still starting). */
  network: () => Network | undefined
  timing: InvitationTiming
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** The running thread, if this peer has it open. */
  runtimeOf: (threadId: ThreadId) => ThreadRuntime | undefined
  /** The running thread, its store opened first when it is not open (an invite outlives a restart). */
  openRuntime: (threadId: ThreadId) => Promise<ThreadRuntime>
  /** Takes in a thread as `role`: a writer gets its own log (returned), a reader none, a replica no store. */
  adopt: (threadId: ThreadId, role: InviteRole) => Promise<string | undefined>
}

export interface Invitations {
  /** Authors an invite in `threadId` and starts delivering it; resolves with the sealed invite once authored. */
  invite (threadId: ThreadId, invitee: string | Ed25519PublicKey, options?: InviteOptions): Promise<Invite>
  /** Takes an invite handed over: checks and opens it; throws a `ThreadsError` when it is not good or was answered. */
  receive (input: Invite | Uint8Array | string): Promise<ReceivedInvite>
  /**
   * Takes an invite delivered over the network. The same invite delivered again while it is pending or being
   * answered is no news (an inviter retries); once it was answered, it is a replay.
   */
  deliver (bytes: Uint8Array): Promise<void>
  /** Received invites still waiting for an answer. */
  pending (): ReceivedInvite[]
  /** Takes up again the invites a previous run left pending (expired ones end as such). */
  resume (): Promise<void>
  /** Where the handshake of an invite this peer made or received stands. */
  status (inviteId: string): InvitationStatus | undefined
  /** Hears what a thread's control events did: Joins answer this peer's invites. */
  noteAccess (threadId: ThreadId, outcomes: readonly AccessOutcome[]): void
  /**
   * Takes an invitee's answer; throws a `ThreadsError` to refuse it. A decline the invite takes (one that comes while it
   * still waits for an answer) is on disk when this resolves, so its grant is taken back even if this peer stops first.
   */
  reply (threadId: ThreadId, inviteId: string, answer: InviteAnswer, peer: string): Promise<void>
  /** A peer connected: invites waiting for it try again. */
  connected (peer: string): void
  /**
   * Forgets the thread's invites, inside the caller's transaction as the thread is removed: stops the actors of those
   * this peer made and of those it answered, and removes their records. Invites still waiting for an answer stay.
   */
  dropThreadWithin (threadId: ThreadId): void
  /** Stops every invite's actor, and lets what they were writing about themselves finish. */
  stop (): Promise<void>
}

const WEEK_MS = 7 * 24 * 60 * 60 * 1000
const MAX_PENDING_INVITES = 1024
const MAX_PENDING_PER_INVITER = 16
/** Where an invitee's handshake has gone as far as it goes without the thread's peers. */
const FINISHED = new Set(['synced', 'waiting for peers', 'declined', 'expired', 'failed'])
/**
 * What a received invite's record says of it, by its machine's state: `accepted` from the user's answer, `join
 * authored` once a writer's Join is in its log, until the handshake ends, so a restart takes an accepted invite up
 * where it stood; then the end it came to.
 */
const RECORDED: Readonly<Record<string, string>> = {
  accepting: 'accepted',
  'join authored': 'join authored',
  synced: 'synced',
  declined: 'declined',
  expired: 'expired',
  failed: 'failed'
}
/** Where an inviter's handshake is over: nothing of it needs keeping across a restart. */
const ANSWERED = new Set<string>(['joined', 'declined', 'expired', 'failed'])

interface InviteeEntry {
  actor: Actor<typeof inviteeMachine>
  invite: Invite
  /** The invite's content, once opened. */
  content?: InviteContent
  /** How far its handshake had come before a restart: it goes on from there, whatever the time. */
  resumed?: 'accepted' | 'join authored'
}

/** An invite this peer made, kept until it is answered or expires, so a restart takes it up again. */
interface StoredSent {
  threadId: string
  inviterLog: string
  invitee: string
  expires: number
  address?: string
  invite: Uint8Array
  delivered: boolean
  /** The invitee declined, and the grant the invite brought may not have been taken back yet. */
  declined?: boolean
}

interface StoredReceived {
  invite: Uint8Array
  state: string
}


export function createInvitations (init: InvitationsInit): Invitations {
  const { logs, engine, identity, storage } = init
  const self = identity.publicKey.logId
  const received = storage.valueDatabase<StoredReceived>('received-invites')
  const sent = storage.valueDatabase<StoredSent>('sent-invites')
  const inviters = new Map<string, { actor: Actor<typeof inviterMachine>, invitee: string, threadId: ThreadId }>()
  const invitees = new Map<string, InviteeEntry>()
  // Where each invite stands is written as its actor moves; closing waits for those writes, so a restart (or the
  // next command) knows an answered invite for what it is.
  const writing = new Set<Promise<unknown>>()
  const remember = (write: Promise<unknown>): void => {
    const settled = write.catch(() => undefined).finally(() => writing.delete(settled))
    writing.add(settled)
  }

  const requireNetwork = (): Network => {
    const network = init.network()
    if (network === undefined) throw new NetworkUnavailableError('this peer runs without networking')
    return network
  }

  const parseAddress = (address: string | Multiaddr): Multiaddr => {
    try {
      return typeof address === 'string' ? multiaddr(address) : address
    } catch (cause) {
      throw new InvalidArgumentError(`not a multiaddr: ${String(address)}`, { cause })
    }
  }

  /** Sends to the first of `targets` that answers; throws the last failure when none does. */
  const sendToAny = async (targets: ReadonlyArray<Multiaddr | string>, send: (to: Multiaddr | string) => Promise<void>): Promise<void> => {
    let failure: unknown = new NetworkUnavailableError('no peer of the thread is known')
    for (const target of targets) {
      try {
        await send(target)
        return
      } catch (error) {
        failure = error
      }
    }
    throw failure
  }

  /** Where the thread's peers are, as the invite listed them and as we learned since: one address per peer. */
  const peersOfInvite = (content: InviteContent): Multiaddr[] => {
    const byPeer = new Map<string, Multiaddr>()
    const listed = content.logs.flatMap(log => addressesFrom(log.addrs))
    for (const addr of [...listed, ...(init.network()?.peersOf(content.threadId) ?? [])]) {
      const peer = peerIdOf(addr)
      if (peer !== undefined && peer !== self && !byPeer.has(peer)) byPeer.set(peer, addr)
    }
    return [...byPeer.values()]
  }

  const inviterAddresses = (content: InviteContent): Array<Multiaddr | string> =>
    [...peersOfInvite(content).filter(addr => peerIdOf(addr) === content.inviter), content.inviter]

  const runtime = (threadId: ThreadId): ThreadRuntime => {
    const running = init.runtimeOf(threadId)
    if (running === undefined) throw new InvalidArgumentError(`no store of thread ${threadId.toString()} is open here`)
    return running
  }

  const invitations: Invitations = {
    async invite (threadId, invitee, options = {}) {
      const role = options.role ?? 'write'
      if (!isInviteRole(role)) throw new InvalidArgumentError(`an invite's role is replicate, read or write, not ${String(role)}`)
      const expiresIn = options.expiresIn ?? WEEK_MS
      if (!Number.isSafeInteger(expiresIn) || expiresIn <= 0) throw new InvalidArgumentError('an invite expires a positive whole number of milliseconds from now')
      const address = options.address === undefined ? undefined : parseAddress(options.address)
      const inviteeId = typeof invitee === 'string' ? Ed25519PublicKey.fromLogId(invitee).logId : invitee.logId
      if (address !== undefined && peerIdOf(address) !== inviteeId) throw new InvalidArgumentError(`${address.toString()} is not the address of ${inviteeId}`)
      if (inviteeId === self) throw new InvalidArgumentError('a peer cannot invite itself')
      const thread = runtime(threadId)
      const { id, token } = inviteSecrets()
      const expires = Date.now() + expiresIn

      const authorInvite = async (): Promise<Invite> => {
        const control: ControlEvent[] = [{ type: 'invite', id, invitee: inviteeId, role, expires, tokenHash: tokenHash(token) }]
        if (threadId.isAccessControlled) {
          const target = { kind: 'thread' } as const
          control.push({ type: 'acl', op: 'grant', target, peer: inviteeId, roles: rolesOfInvite(role), observed: engine.access.observed(threadId, target, inviteeId) })
        }
        await thread.commit(control.map(event => ({ type: 'control', event })))
        const key = logs.threadKey(threadId)
        const invite = Invite.seal({
          id,
          threadId,
          inviter: self,
          inviterLog: thread.logId!,
          invitee: inviteeId,
          role,
          expires,
          key: role === 'replicate' ? key.serviceOnly() : key,
          logs: logs.keys.logs(threadId).map(logId => ({ id: logId, addrs: logs.addrs.addrs(threadId, logId).map(addr => addr.bytes) })),
          time: logs.clock.last,
          token,
          ...(threadId.isAccessControlled ? { acl: engine.access.acl(threadId, { kind: 'thread' }) } : {})
        }, identity)
        const record: StoredSent = { threadId: threadId.toString(), inviterLog: thread.logId!, invitee: inviteeId, expires, invite: invite.bytes, delivered: false, ...(address === undefined ? {} : { address: address.toString() }) }
        await storage.transaction(() => sent.putSync(id, record))
        return invite
      }
      const { actor, authored } = startInviter(id, threadId, inviteeId, expires, address, authorInvite)
      const composed = await waitFor(actor, snapshot => snapshot.value !== 'starting' && snapshot.value !== 'composing', { timeout: Infinity })
      if (composed.value === 'failed') {
        inviters.delete(id)
        throw composed.context.error
      }
      return await authored
    },

    async receive (input) {
      const invite = Invite.from(input)
      const known = invitees.get(invite.id)
      const answered = known?.actor.getSnapshot().value
      if (answered !== undefined && answered !== 'pending') throw new InviteReplayedError(`invite ${invite.id} was already ${String(answered)}`)
      if (known !== undefined) {
        if (!Buffer.from(known.invite.bytes).equals(invite.bytes)) throw new InvalidInviteError(`invite ${invite.id} differs from the one received before`)
        return handle(invite.id)
      }
      const entry: InviteeEntry = { actor: undefined as unknown as Actor<typeof inviteeMachine>, invite }
      entry.actor = startInvitee(entry)
      const opened = await waitFor(entry.actor, snapshot => snapshot.value !== 'received' && snapshot.value !== 'opening', { timeout: Infinity })
      if (opened.value === 'failed') {
        entry.actor.stop()
        throw opened.context.error
      }
      invitees.set(invite.id, entry)
      await storage.transaction(() => received.putSync(invite.id, { invite: invite.bytes, state: 'pending' }))
      return handle(invite.id)
    },

    async resume () {
      for (const { key, value } of sent.getRange()) {
        const invite = Invite.fromBytes(value.invite)
        const joined = engine.access.invite(invite.threadId, value.inviterLog, String(key))?.joinedBy !== undefined
        startInviter(invite.id, invite.threadId, value.invitee, value.expires, value.address === undefined ? undefined : multiaddr(value.address), async () => invite,
          joined ? 'joined' : value.declined === true ? 'declined' : value.delivered ? 'delivered' : 'undelivered')
      }
      for (const { value } of received.getRange()) {
        if (value.state === 'pending') await invitations.receive(value.invite).catch(() => undefined)
        if (value.state === 'accepted' || value.state === 'join authored') {
          const invite = Invite.fromBytes(value.invite)
          const entry: InviteeEntry = { actor: undefined as unknown as Actor<typeof inviteeMachine>, invite, resumed: value.state }
          entry.actor = startInvitee(entry)
          invitees.set(invite.id, entry)
        }
      }
    },

    async deliver (bytes) {
      const invite = Invite.from(bytes)
      const known = invitees.get(invite.id)
      const answering = known !== undefined && known.actor.getSnapshot().status === 'active'
      if (answering && Buffer.from(known.invite.bytes).equals(invite.bytes)) return
      await invitations.receive(invite)
    },

    pending () {
      return [...invitees.keys()].filter(id => invitees.get(id)!.actor.getSnapshot().value === 'pending').map(handle)
    },

    status (inviteId) {
      const made = inviters.get(inviteId)?.actor.getSnapshot()
      if (made !== undefined) return { side: 'inviter', state: made.value as string, refusedJoins: made.context.refusedJoins, ...(made.context.error === undefined ? {} : { error: made.context.error }) }
      const taken = invitees.get(inviteId)?.actor.getSnapshot()
      if (taken !== undefined) return { side: 'invitee', state: taken.value as string, refusedJoins: 0, ...(taken.context.error === undefined ? {} : { error: taken.context.error }) }
      return undefined
    },

    noteAccess (threadId, outcomes) {
      for (const { event, logId, refused } of outcomes) {
        if (event.type !== 'join') continue
        const inviter = inviters.get(event.invite)
        if (inviter === undefined || !inviter.threadId.equals(threadId) || init.runtimeOf(threadId)?.logId !== event.inviterLog) continue
        inviter.actor.send(refused === undefined ? { type: 'join seen', logId } : { type: 'join refused', code: refused.code })
      }
    },

    async reply (threadId, inviteId, answer, peer) {
      const inviter = inviters.get(inviteId)
      if (inviter === undefined || !inviter.threadId.equals(threadId)) throw new InvalidInviteError(`no invite ${inviteId} of this peer's is waiting for an answer`)
      if (inviter.invitee !== peer) throw new AccessDeniedError(`only ${inviter.invitee} answers invite ${inviteId}`)
      const event = { type: answer === 'accept' ? 'accepted' : 'declined' } as const
      const withdraws = event.type === 'declined' && inviter.actor.getSnapshot().can(event)
      // Taken at once, so the moment it arrived decides against an expiry; written down before the withdrawal commits,
      // which waits for its store. Read inside the write: a record removed meanwhile stays removed.
      inviter.actor.send(event)
      if (withdraws) {
        await storage.transaction(() => {
          const stored = sent.get(inviteId)
          if (stored !== undefined) sent.putSync(inviteId, { ...stored, declined: true })
        })
      }
    },

    connected (peer) {
      for (const { actor, invitee } of inviters.values()) {
        if (invitee === peer) actor.send({ type: 'invitee connected' })
      }
      for (const { actor, content } of invitees.values()) {
        if (content !== undefined && peersOfInvite(content).some(addr => peerIdOf(addr) === peer)) actor.send({ type: 'peer connected' })
      }
    },

    dropThreadWithin (threadId) {
      for (const [id, inviter] of inviters) {
        if (!inviter.threadId.equals(threadId)) continue
        inviter.actor.stop()
        inviters.delete(id)
      }
      for (const { key, value } of [...sent.getRange()]) if (value.threadId === threadId.toString()) sent.removeSync(key)
      for (const [id, entry] of invitees) {
        if (!entry.invite.threadId.equals(threadId) || entry.actor.getSnapshot().value === 'pending') continue
        entry.actor.stop()
        invitees.delete(id)
      }
      for (const { key, value } of [...received.getRange()]) {
        if (value.state !== 'pending' && Invite.fromBytes(value.invite).threadId.equals(threadId)) received.removeSync(key)
      }
    },

    async stop () {
      for (const { actor } of inviters.values()) actor.stop()
      for (const { actor } of invitees.values()) actor.stop()
      inviters.clear()
      invitees.clear()
      await Promise.all(writing)
    }
  }

  /** Starts the actor of an invite this peer makes (or made, before a restart: `resume` says where it stood). */
  function startInviter (
    id: string, threadId: ThreadId, invitee: string, expires: number, address: Multiaddr | undefined, author: () => Promise<Invite>, resume?: InviterResume
  ): { actor: Actor<typeof inviterMachine>, authored: Promise<Invite> } {
    const authored = resume === undefined ? Promise.withResolvers<Invite>() : undefined
    let sealed: Promise<Invite> = resume === undefined ? authored!.promise : author()
    const authorInvite = fromPromise<void, { inviteId: string }>(async () => {
      try {
        const invite = await author()
        sealed = Promise.resolve(invite)
        authored?.resolve(invite)
      } catch (error) {
        authored?.reject(error)
        throw error
      }
    })
    const deliverInvite = fromPromise<void, { inviteId: string }>(async () => {
      const net = requireNetwork()
      await net.send(address ?? invitee, { type: 'invite', invite: (await sealed).bytes })
      // Read inside the write: a decline marked meanwhile stays marked, and a record removed meanwhile stays removed.
      await storage.transaction(() => {
        const stored = sent.get(id)
        if (stored !== undefined) sent.putSync(id, { ...stored, delivered: true })
      })
    })
    const withdrawGrant = fromPromise<void, { inviteId: string }>(async () => {
      if (!threadId.isAccessControlled) return
      const thread = await init.openRuntime(threadId)
      const events = engine.access.withdrawal(threadId, thread.logId!, id)
      if (events.length > 0) await thread.commit(events.map(event => ({ type: 'control', event })))
    })
    const actor = createActor(inviterMachine.provide({ actors: { 'author invite': authorInvite, 'deliver invite': deliverInvite, 'withdraw grant': withdrawGrant } }), {
      id: `invite:${id}`,
      systemId: `thread:${threadId.toString()}/invite:${id}`,
      input: { inviteId: id, invitee, expires, retryMs: init.timing.retryMs, ...(resume === undefined ? {} : { resume }) },
      inspect: init.inspect
    })
    actor.subscribe(snapshot => {
      if (ANSWERED.has(snapshot.value) && sent.get(id) !== undefined) remember(storage.transaction(() => sent.removeSync(id)))
    })
    inviters.set(id, { actor, invitee, threadId })
    actor.start()
    authored?.promise.catch(() => undefined)
    return { actor, authored: authored?.promise ?? sealed }
  }

  function startInvitee (entry: InviteeEntry): Actor<typeof inviteeMachine> {
    const { invite } = entry
    const content = (): InviteContent => entry.content!
    let logId: string | undefined

    const checkEnvelope = fromPromise<void, { inviteId: string }>(async () => {
      if (invite.invitee !== self) throw new InviteNotForUsError(`invite ${invite.id} is for ${invite.invitee}, not this peer`)
      const stored = received.get(invite.id)
      if (stored !== undefined && stored.state !== 'pending' && entry.resumed === undefined) throw new InviteReplayedError(`invite ${invite.id} was already ${stored.state}`)
    })
    const openInvite = fromPromise<{ role: InviteRole, expires: number }, { inviteId: string }>(async () => {
      const opened = invite.open(identity)
      if (entry.resumed !== undefined) {
        entry.content = opened
        return { role: opened.role, expires: opened.expires }
      }
      if (opened.expires <= Date.now()) throw new InviteExpiredError(`invite ${invite.id} expired at ${new Date(opened.expires).toISOString()}`)
      // Anyone can seal an invite to us; what waits for an answer is bounded, per inviter and in all.
      const waiting = [...invitees.values()].filter(other => other.actor.getSnapshot().value === 'pending')
      if (waiting.length >= MAX_PENDING_INVITES) throw new TooManyInvitesError(`${waiting.length} invites already wait for an answer`)
      if (waiting.filter(other => other.content?.inviter === opened.inviter).length >= MAX_PENDING_PER_INVITER) {
        throw new TooManyInvitesError(`${MAX_PENDING_PER_INVITER} invites from ${opened.inviter} already wait for an answer`)
      }
      entry.content = opened
      return { role: opened.role, expires: opened.expires }
    })
    const acceptInvite = fromPromise<{ logId?: string }, { inviteId: string }>(async () => {
      const { threadId, key, expires, time } = content()
      if (entry.resumed === undefined && expires <= Date.now()) throw new InviteExpiredError(`invite ${invite.id} expired at ${new Date(expires).toISOString()}`)
      // Whatever we write next comes after the invite in every peer's order.
      logs.clock.observe(time)
      await logs.addThread(threadId, key)
      for (const log of content().logs) {
        if (!logs.hasLog(threadId, log.id)) await logs.addLog(threadId, Ed25519PublicKey.fromLogId(log.id))
        const addrs = addressesFrom(log.addrs).filter(addr => isStorableAddr(addr) && peerIdOf(addr) !== self)
        if (addrs.length > 0) logs.addrs.addAddrs(threadId, log.id, addrs, ADDRESS_TTL)
      }
      logId = await init.adopt(threadId, content().role)
      return logId === undefined ? {} : { logId }
    })
    const authorJoin = fromPromise<void, { inviteId: string }>(async () => {
      const { threadId, token } = content()
      const binding = signLogBinding(identity, threadId, logId!)
      const event: ControlEvent = { type: 'join', invite: invite.id, inviterLog: content().inviterLog, peer: self, token: toHex(token), binding: toHex(binding) }
      await runtime(threadId).commit([{ type: 'control', event }])
    })
    const announceJoin = fromPromise<void, { inviteId: string }>(async () => {
      const net = requireNetwork()
      const { threadId } = content()
      await sendToAny(peersOfInvite(content()), async to => { await net.announce(threadId, logId!, to as Multiaddr) })
      init.runtimeOf(threadId)?.syncLogs()
    })
    const syncThread = fromPromise<void, { inviteId: string }>(async () => {
      const net = requireNetwork()
      const { threadId, role } = content()
      const peers = peersOfInvite(content())
      if (peers.length === 0) throw new NetworkUnavailableError('no peer of the thread is known')
      const pulled = await Promise.allSettled(peers.map(async addr => await net.pull(threadId, addr)))
      const reached = pulled.find(outcome => outcome.status === 'fulfilled')
      if (reached === undefined) throw (pulled[0] as PromiseRejectedResult).reason
      // A writer's Join tells the inviter; a reader or replica authors none, so it says so directly.
      if (role !== 'write') await sendToAny(inviterAddresses(content()), async to => { await net.send(to, { type: 'invite-reply', threadId, inviteId: invite.id, answer: 'accept' }) }).catch(() => undefined)
    })
    const sendDecline = fromPromise<void, { inviteId: string }>(async () => {
      const net = requireNetwork()
      const { threadId } = content()
      await sendToAny(inviterAddresses(content()), async to => { await net.send(to, { type: 'invite-reply', threadId, inviteId: invite.id, answer: 'decline' }) })
    })

    const actor = createActor(inviteeMachine.provide({
      actors: {
        'check envelope': checkEnvelope,
        'open invite': openInvite,
        'accept invite': acceptInvite,
        'author join': authorJoin,
        'announce join': announceJoin,
        'sync thread': syncThread,
        'send decline': sendDecline
      }
    }), {
      id: `invitee:${invite.id}`,
      systemId: `invitee:${invite.id}`,
      input: { inviteId: invite.id, retryMs: init.timing.retryMs, maxAttempts: init.timing.maxAttempts, ...(entry.resumed === undefined ? {} : { resumed: entry.resumed }) },
      inspect: init.inspect
    })
    actor.subscribe(snapshot => {
      const state = RECORDED[snapshot.value as string]
      const stored = received.get(invite.id)
      if (state === undefined || stored === undefined || stored.state === state) return
      // A resumed handshake passes through accepting again: what it had done before stays recorded.
      if (state === 'accepted' && stored.state === 'join authored') return
      remember(storage.transaction(() => received.putSync(invite.id, { invite: invite.bytes, state })))
    })
    actor.start()
    return actor
  }

  /** The user's handle on a received invite. */
  function handle (inviteId: string): ReceivedInvite {
    const entry = invitees.get(inviteId)!
    const content = entry.content!
    const answer = async (event: { type: 'accept' } | { type: 'decline' }): Promise<string> => {
      const state = entry.actor.getSnapshot().value as string
      if (state === 'expired') throw new InviteExpiredError(`invite ${inviteId} expired before it was answered`)
      if (state !== 'pending') throw new InviteReplayedError(`invite ${inviteId} is ${state}, not pending`)
      entry.actor.send(event)
      const done = await waitFor(entry.actor, snapshot => FINISHED.has(snapshot.value as string), { timeout: Infinity })
      if (done.value === 'failed') throw done.context.error
      if (done.value === 'expired') throw new InviteExpiredError(`invite ${inviteId} expired before it was answered`)
      return done.value as string
    }
    return {
      id: inviteId,
      threadId: content.threadId,
      inviter: content.inviter,
      role: content.role,
      expires: content.expires,
      get state () { return entry.actor.getSnapshot().value as string },
      async accept () {
        await answer({ type: 'accept' })
        return content.threadId
      },
      async decline () {
        await answer({ type: 'decline' })
      }
    }
  }

  return invitations
}
