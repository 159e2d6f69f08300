import { allows, effectiveRoles, rolesOf, type AclDocument, type AclOperation, type DefaultRole, type Role } from '../codecs/acl.ts'
import { fromHex, type AclEvent, type AclTarget, type ControlEvent, type StoreEvent } from '../codecs/event-codec.ts'
import { InviteExpiredError, InvalidInviteError, ThreadsError } from '../codecs/errors.ts'
import { tokenHash, type InviteRole } from '../codecs/invite.ts'
import { ownsThread, verifyLogBinding } from '../codecs/ownership.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { AccessDeniedError, DuplicateJoinError, InvalidGenesisError, JoinMismatchError } from './errors.ts'
import { compareEventKeys, type EventKey } from './event-store.ts'
import type { Storage } from './storage.ts'

/**
 * Who belongs to a thread and what they may do, folded from its control events: which peer each log is bound to
 * (by the owner's genesis or an invitee's Join), the invites made, and the ACL operations. Everything here is
 * derived from the logs and written inside the transaction that folds the events it comes from; a rebuild
 * clears it and folds it again. Refused control events, and writes the ACL did not allow, are kept as refusals.
 */

export interface StoredInvite {
  readonly id: string
  readonly inviterLog: string
  readonly invitee: string
  readonly role: InviteRole
  readonly expires: number
  readonly tokenHash: string
  readonly at: EventKey
  /** The log whose Join used the invite. */
  readonly joinedBy?: string
}

export interface Refusal {
  readonly key: EventKey
  readonly logId: string
  /** The refusal's error name and code, as a `ThreadsError` carries them. */
  readonly name: string
  readonly code: string
  readonly message: string
}

/** What folding one control event did. */
export interface AccessOutcome {
  readonly key: EventKey
  readonly logId: string
  readonly event: ControlEvent
  readonly refused?: ThreadsError
}

export interface AccessStore {
  /** Folds one control event authored in `logId` at `key`; a refused one changes nothing but the refusals. */
  apply (threadId: ThreadId, key: EventKey, logId: string, event: ControlEvent): AccessOutcome
  /**
   * Whether a control event arriving "in the past" of what is folded could count once the thread is folded again
   * in key order: if not (a stranger's grant, a Join for no invite), folding again would change nothing.
   */
  couldApply (threadId: ThreadId, key: EventKey, logId: string, event: ControlEvent): boolean
  /** Why the author of `logId` may not make `event` at `key`; undefined when it may (always, in a raw thread). */
  deny (threadId: ThreadId, key: EventKey, logId: string, event: StoreEvent): AccessDeniedError | undefined
  /** Keeps a refusal of something authored in `logId` at `key`. */
  refuse (threadId: ThreadId, key: EventKey, logId: string, error: ThreadsError): void
  /** The ACL as everything folded so far leaves it. */
  acl (threadId: ThreadId, target: AclTarget): AclDocument
  /** Tags of the operations on `peer` in `target` folded so far: what a new operation on it has seen. */
  observed (threadId: ThreadId, target: AclTarget, peer: string): string[]
  /** An invite made in `inviterLog` with ID `id`. */
  invite (threadId: ThreadId, inviterLog: string, id: string): StoredInvite | undefined
  /**
   * The ACL events that take back the thread grant an invite brought, for an invite its invitee declined:
   * a revoke of the roles the grant added and, for a peer the ACL named nowhere before, a grant of what the default
   * gave it (a named peer has no default). None when the invite was used or granted nothing, or when the peer's
   * entry changed after the grant: whoever changed it meant to.
   */
  withdrawal (threadId: ThreadId, inviterLog: string, id: string): AclEvent[]
  /** The peer a log is bound to. */
  peerOf (threadId: ThreadId, logId: string): string | undefined
  /** The latest key of anything folded, so an event that arrives "in the past" of it can be told. */
  latest (threadId: ThreadId): EventKey | undefined
  note (threadId: ThreadId, key: EventKey): void
  refusals (threadId: ThreadId): Refusal[]
  /** Forgets everything about the thread, before it is folded again from the logs. */
  clear (threadId: ThreadId): void
}

type Key = Array<string | number>

/** The key parts naming an ACL: one for the thread's and the admins', three for an entity's. */
const slotOf = (target: AclTarget): Key => target.kind === 'entity' ? ['entity', target.collection, target.id] : [target.kind]
const THREAD_SLOT = slotOf({ kind: 'thread' })
const ADMIN_SLOT = slotOf({ kind: 'admin' })
const tagOf = (key: EventKey): string => key.join('/')

export function createAccessStore (storage: Storage): AccessStore {
  const db = storage.valueDatabase<unknown>('access')
  // Key layout: ['o', tid, ...target slot, peer, ...key] → ACL operation; ['b', tid, logId] → bound peer;
  // ['g', tid] → genesis; ['i', tid, inviterLog, inviteId] → invite; ['l', tid] → latest key; ['r', tid, ...key] → refusal.

  const range = function * (prefix: Key, end?: Key): Generator<{ key: Key, value: unknown }> {
    for (const entry of db.getRange(end === undefined ? { start: prefix } : { start: prefix, end })) {
      const parts = entry.key as Key
      if (!prefix.every((part, i) => parts[i] === part)) return
      yield { key: parts, value: entry.value }
    }
  }

  /** The operations on `peer` in `slot` authored before `key` (all of them without one). */
  const operations = (tid: string, slot: Key, peer: string, until?: EventKey): AclOperation[] => {
    const prefix: Key = ['o', tid, ...slot, peer]
    const out: AclOperation[] = []
    for (const { value } of range(prefix, until === undefined ? undefined : [...prefix, ...until])) out.push(value as AclOperation)
    return out
  }

  /** Whether `slot` has any operation before `key`: an entity's ACL exists only once something is granted on it. */
  const hasOperations = (tid: string, slot: Key, until: EventKey): boolean => {
    for (const { key } of range(['o', tid, ...slot])) {
      if (compareEventKeys(key.slice(3 + slot.length) as unknown as EventKey, until) < 0) return true
    }
    return false
  }

  /** The thread's default role from its genesis on (before `key`, when given); no access before it, and elsewhere. */
  const defaultOf = (tid: string, slot: Key, key?: EventKey): DefaultRole => {
    if (slot[0] !== THREAD_SLOT[0]) return 'no-access'
    const genesis = db.get(['g', tid]) as { default: DefaultRole, at: EventKey } | undefined
    return genesis === undefined || (key !== undefined && compareEventKeys(genesis.at, key) >= 0) ? 'no-access' : genesis.default
  }

  /** A peer's roles at `key`: what the operations before it leave, or the default for a peer none of them names. */
  const rolesAt = (tid: string, slot: Key, peer: string, key: EventKey): readonly Role[] => {
    const before = operations(tid, slot, peer, key)
    return effectiveRoles(before.length > 0 ? rolesOf(before) : undefined, defaultOf(tid, slot, key))
  }

  /** The peer a log is bound to, by the event at `key` (any event, without one): a log is its peer's from its binding on. */
  const boundPeer = (tid: string, logId: string, key?: EventKey): string | undefined => {
    const binding = db.get(['b', tid, logId]) as { peer: string, at: EventKey } | undefined
    return binding === undefined || (key !== undefined && compareEventKeys(binding.at, key) >= 0) ? undefined : binding.peer
  }

  const record = (tid: string, key: EventKey, logId: string, error: ThreadsError): void => {
    db.putSync(['r', tid, ...key], { logId, name: error.name, code: error.code, message: error.message })
  }

  /** Checks a control event against what is folded; throws the refusal, or returns the writes it makes. */
  /**
   * Checks a control event against what is folded; throws the refusal, or returns the writes it makes. Without
   * `firstOnly`, what only the order of arrival decides (a second genesis, an invite ID or an invite used before)
   * is not judged: that is the question whether the event could count, once everything is folded in key order.
   */
  const judge = (threadId: ThreadId, key: EventKey, logId: string, event: ControlEvent, firstOnly = true): () => void => {
    const tid = threadId.toString()
    const controlled = threadId.isAccessControlled
    switch (event.type) {
      case 'genesis': {
        if (!controlled) throw new InvalidGenesisError('a raw thread has no genesis')
        if (firstOnly && db.get(['g', tid]) !== undefined) throw new InvalidGenesisError('the thread already has its genesis')
        if (!ownsThread(event.peer, fromHex(event.nonce), threadId)) throw new InvalidGenesisError(`${event.peer} does not derive thread ${tid}`)
        if (!verifyLogBinding(event.peer, threadId, logId, fromHex(event.binding))) throw new InvalidGenesisError(`log ${logId} is not bound to ${event.peer}`)
        return () => {
          db.putSync(['g', tid], { peer: event.peer, logId, default: event.default, at: key })
          db.putSync(['b', tid, logId], { peer: event.peer, at: key })
          const operation: AclOperation = { tag: tagOf(key), kind: 'grant', roles: ['write', 'delete'], observed: [] }
          db.putSync(['o', tid, ...THREAD_SLOT, event.peer, ...key], operation)
          db.putSync(['o', tid, ...ADMIN_SLOT, event.peer, ...key], operation)
        }
      }
      case 'invite': {
        if (controlled) {
          const author = boundPeer(tid, logId, key)
          if (author === undefined) throw new AccessDeniedError(`log ${logId} belongs to no member, so it cannot invite`)
          // Whoever joins gets the default role, or what an admin grants: admitting members is the admins' alone.
          if (!allows(rolesAt(tid, ADMIN_SLOT, author, key), 'write')) throw new AccessDeniedError(`${author} may not admit members: only an admin of the thread's ACLs invites`)
        }
        if (firstOnly && db.get(['i', tid, logId, event.id]) !== undefined) throw new InvalidInviteError(`invite ${event.id} was already made in log ${logId}`)
        return () => {
          const invite: StoredInvite = {
            id: event.id, inviterLog: logId, invitee: event.invitee, role: event.role, expires: event.expires, tokenHash: event.tokenHash, at: key
          }
          db.putSync(['i', tid, logId, event.id], invite)
        }
      }
      case 'join': {
        // Invites are named within the log that made them, so no one can claim another's invite ID first.
        const invite = db.get(['i', tid, event.inviterLog, event.invite]) as StoredInvite | undefined
        if (invite === undefined) throw new JoinMismatchError(`no invite ${event.invite} in log ${event.inviterLog}`)
        if (invite.invitee !== event.peer) throw new JoinMismatchError(`invite ${event.invite} is for ${invite.invitee}, not ${event.peer}`)
        if (tokenHash(fromHex(event.token)) !== invite.tokenHash) throw new JoinMismatchError(`the Join does not carry invite ${event.invite}'s token`)
        if (!verifyLogBinding(event.peer, threadId, logId, fromHex(event.binding))) throw new JoinMismatchError(`log ${logId} is not bound to ${event.peer}`)
        if (key[0] > invite.expires) throw new InviteExpiredError(`invite ${event.invite} expired before the Join`)
        if (firstOnly && (invite.joinedBy !== undefined || boundPeer(tid, logId) !== undefined)) throw new DuplicateJoinError(`invite ${event.invite} was already used by log ${invite.joinedBy ?? logId}`)
        return () => {
          db.putSync(['i', tid, event.inviterLog, event.invite], { ...invite, joinedBy: logId })
          db.putSync(['b', tid, logId], { peer: event.peer, at: key })
        }
      }
      case 'acl': {
        if (!controlled) throw new AccessDeniedError('a raw thread has no ACL')
        const author = boundPeer(tid, logId, key)
        if (author === undefined || !allows(rolesAt(tid, ADMIN_SLOT, author, key), 'write')) {
          throw new AccessDeniedError(`${author ?? `log ${logId}`} may not change the thread's ACLs`)
        }
        return () => {
          const operation: AclOperation = { tag: tagOf(key), kind: event.op, roles: event.roles, observed: event.observed }
          db.putSync(['o', tid, ...slotOf(event.target), event.peer, ...key], operation)
        }
      }
    }
  }

  const store: AccessStore = {
    apply (threadId, key, logId, event) {
      try {
        judge(threadId, key, logId, event)()
        return { key, logId, event }
      } catch (error) {
        if (!(error instanceof ThreadsError)) throw error
        record(threadId.toString(), key, logId, error)
        return { key, logId, event, refused: error }
      }
    },

    couldApply (threadId, key, logId, event) {
      try {
        judge(threadId, key, logId, event, false)
        return true
      } catch (error) {
        if (error instanceof ThreadsError) return false
        throw error
      }
    },

    deny (threadId, key, logId, event) {
      if (!threadId.isAccessControlled) return undefined
      const tid = threadId.toString()
      const peer = boundPeer(tid, logId, key)
      if (peer === undefined) return new AccessDeniedError(`log ${logId} belongs to no member of the thread at this point`)
      const needed: Role = event.type === 'delete' ? 'delete' : 'write'
      if (!allows(rolesAt(tid, THREAD_SLOT, peer, key), needed)) return new AccessDeniedError(`${peer} lacks ${needed} in the thread's ACL`)
      if (event.type !== 'collection') {
        const slot = slotOf({ kind: 'entity', collection: event.collection, id: event.id })
        if (hasOperations(tid, slot, key) && !allows(rolesAt(tid, slot, peer, key), needed)) {
          return new AccessDeniedError(`${peer} lacks ${needed} in the ACL of ${event.collection} ${event.id}`)
        }
      }
      return undefined
    },

    refuse (threadId, key, logId, error) {
      record(threadId.toString(), key, logId, error)
    },

    acl (threadId, target) {
      const tid = threadId.toString()
      const slot = slotOf(target)
      const byPeer = new Map<string, AclOperation[]>()
      for (const { key, value } of range(['o', tid, ...slot])) {
        const peer = key[2 + slot.length] as string
        let list = byPeer.get(peer)
        if (list === undefined) byPeer.set(peer, list = [])
        list.push(value as AclOperation)
      }
      const peers: { [peerId: string]: Role[] } = {}
      for (const [peer, list] of byPeer) peers[peer] = rolesOf(list)
      return { default: defaultOf(tid, slot), peers }
    },

    observed (threadId, target, peer) {
      return operations(threadId.toString(), slotOf(target), peer).map(operation => operation.tag)
    },

    invite (threadId, inviterLog, id) {
      return db.get(['i', threadId.toString(), inviterLog, id]) as StoredInvite | undefined
    },

    withdrawal (threadId, inviterLog, id) {
      const invite = store.invite(threadId, inviterLog, id)
      if (invite === undefined || invite.joinedBy !== undefined) return []
      const tid = threadId.toString()
      const prefix: Key = ['o', tid, ...THREAD_SLOT, invite.invitee]
      const entries = [...range(prefix)].map(({ key, value }) => ({ key: key.slice(prefix.length) as unknown as EventKey, operation: value as AclOperation }))
      const last = entries.at(-1)
      // The grant is the invite's neighbour in the record that made both.
      const fromInvite = last !== undefined && last.operation.kind === 'grant' && last.key[2] === inviterLog && last.key[0] === invite.at[0] && last.key[1] === invite.at[1]
      if (!fromInvite) return []
      const before = rolesAt(tid, THREAD_SLOT, invite.invitee, last.key)
      const added = last.operation.roles.filter(role => !before.includes(role))
      const byDefaultOnly = before.filter(role => !last.operation.roles.includes(role))
      const target: AclTarget = { kind: 'thread' }
      const observed = entries.map(({ operation }) => operation.tag)
      const events: AclEvent[] = []
      if (added.length > 0) events.push({ type: 'acl', op: 'revoke', target, peer: invite.invitee, roles: added, observed })
      if (entries.length === 1 && byDefaultOnly.length > 0) events.push({ type: 'acl', op: 'grant', target, peer: invite.invitee, roles: byDefaultOnly, observed })
      return events
    },

    peerOf (threadId, logId) {
      return boundPeer(threadId.toString(), logId)
    },

    latest (threadId) {
      return db.get(['l', threadId.toString()]) as EventKey | undefined
    },

    note (threadId, key) {
      const latest = store.latest(threadId)
      if (latest === undefined || compareEventKeys(key, latest) > 0) db.putSync(['l', threadId.toString()], key)
    },

    refusals (threadId) {
      return [...range(['r', threadId.toString()])].map(({ key, value }) => ({ key: key.slice(2) as unknown as EventKey, ...(value as Omit<Refusal, 'key'>) }))
    },

    clear (threadId) {
      const tid = threadId.toString()
      for (const kind of ['o', 'b', 'g', 'i', 'l', 'r']) {
        for (const { key } of [...range([kind, tid])]) db.removeSync(key)
      }
    }
  }
  return store
}
