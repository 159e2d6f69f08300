import { createHash, randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { base64url } from 'multiformats/bases/base64'
import { isDefaultRole, isRole, type AclDocument, type Role } from './acl.ts'
import { asBytes, asMap } from './block.ts'
import { Ed25519PublicKey, type Ed25519PrivateKey } from './ed25519.ts'
import { InvalidInviteError, InviteNotForUsError, ThreadsError } from './errors.ts'
import { timestampFromWire, timestampToWire, type Timestamp } from './hlc.ts'
import { open, seal } from './sealed-box.ts'
import { ThreadId } from './thread-id.ts'
import { ThreadKey } from './thread-key.ts'

/**
 * Invites (the paper's §Log Synchronization): what a thread's member hands a peer so it can join. The content —
 * the thread's key set, its logs and where they live, the invite's role, expiry and a one-time token, and the
 * ACL of an access-controlled thread — is signed by the inviting peer and sealed to the invitee's identity key,
 * so only the invitee opens it and can tell who sent it. The envelope around the box names the thread, the
 * invite and the invitee in the clear, so a peer can refuse an invite meant for someone else without opening it.
 */

/** What an invite makes its invitee: a replica (service key), a reader (service and read keys) or a writer. */
export type InviteRole = 'replicate' | 'read' | 'write'
export const INVITE_ROLES: readonly InviteRole[] = ['replicate', 'read', 'write']

export function isInviteRole (value: unknown): value is InviteRole {
  return typeof value === 'string' && (INVITE_ROLES as readonly string[]).includes(value)
}

/** The ACL roles an invite of `role` grants in an access-controlled thread. */
export function rolesOfInvite (role: InviteRole): Role[] {
  return [role]
}

export interface InvitedLog {
  readonly id: string
  readonly addrs: readonly Uint8Array[]
}

export interface InviteContent {
  readonly id: string
  readonly threadId: ThreadId
  /** The inviting peer's ID; the content is signed with its identity key. */
  readonly inviter: string
  /** The log the Invite event is in: with the invite's ID, what a Join names. */
  readonly inviterLog: string
  readonly invitee: string
  readonly role: InviteRole
  /** Milliseconds since the epoch after which the invite is void. */
  readonly expires: number
  /** The thread's key set: the service key, and the read key unless the role is `replicate`. */
  readonly key: ThreadKey
  readonly logs: readonly InvitedLog[]
  /** The clock of the record the invite was authored in: a Join comes after it. */
  readonly time: Timestamp
  /** Proves a Join answers this invite; the thread's log holds only its hash. */
  readonly token: Uint8Array
  /** The thread's ACL when the invite was made (access-controlled threads). */
  readonly acl?: AclDocument
}

const TOKEN_BYTES = 32
const VERSION = 1

/** A fresh invite ID and token. */
export function inviteSecrets (): { id: string, token: Uint8Array } {
  return { id: base64url.baseEncode(randomBytes(16)), token: new Uint8Array(randomBytes(TOKEN_BYTES)) }
}

/** The hash of an invite's token, as the invite event in the thread carries it. */
export function tokenHash (token: Uint8Array): string {
  return createHash('sha256').update(token).digest('hex')
}

/** A sealed invite as it travels: to the invitee directly, or out of band as a string. */
export class Invite {
  readonly id: string
  readonly threadId: ThreadId
  readonly invitee: string
  readonly box: Uint8Array

  private constructor (id: string, threadId: ThreadId, invitee: string, box: Uint8Array) {
    this.id = id
    this.threadId = threadId
    this.invitee = invitee
    this.box = box
  }

  /** Seals `content` to its invitee, signed by the inviting peer's identity key. */
  static seal (content: InviteContent, inviter: Ed25519PrivateKey): Invite {
    if (inviter.publicKey.logId !== content.inviter) throw new InvalidInviteError('an invite is signed by the peer it names as inviter')
    const signed = encodeContent(content)
    const box = seal(Ed25519PublicKey.fromLogId(content.invitee), dagCbor.encode({ content: signed, sig: inviter.sign(signed) }))
    return new Invite(content.id, content.threadId, content.invitee, box)
  }

  static fromBytes (bytes: Uint8Array): Invite {
    return parse(() => {
      const node = asMap(dagCbor.decode(bytes), 'invite')
      if (node.v !== VERSION) throw new InvalidInviteError(`invite version ${String(node.v)} is not ${VERSION}`)
      if (typeof node.id !== 'string' || node.id.length === 0 || node.id.length > 64) throw new InvalidInviteError('invite has no ID')
      if (typeof node.invitee !== 'string') throw new InvalidInviteError('invite names no invitee')
      return new Invite(node.id, ThreadId.fromBytes(asBytes(node.thread, 'invite thread')), node.invitee, asBytes(node.box, 'invite box'))
    })
  }

  /** From `toString`'s form, or the bytes, or an invite. */
  static from (input: Invite | Uint8Array | string): Invite {
    if (input instanceof Invite) return input
    if (input instanceof Uint8Array) return Invite.fromBytes(input)
    let bytes: Uint8Array
    try {
      bytes = base64url.decode(input)
    } catch (cause) {
      throw new InvalidInviteError('not an invite string', { cause })
    }
    return Invite.fromBytes(bytes)
  }

  get bytes (): Uint8Array {
    return dagCbor.encode({ v: VERSION, id: this.id, thread: this.threadId.bytes, invitee: this.invitee, box: this.box })
  }

  toString (): string {
    return base64url.encode(this.bytes)
  }

  /**
   * Opens the invite with the invitee's identity key and checks it: sent to this key, signed by the inviter it
   * names, and about the thread, invite and invitee its envelope names. Expiry is the caller's to judge.
   */
  open (identity: Ed25519PrivateKey): InviteContent {
    if (identity.publicKey.logId !== this.invitee) throw new InviteNotForUsError(`invite ${this.id} is for ${this.invitee}, not this peer`)
    return parse(() => {
      const sealed = asMap(dagCbor.decode(open(identity, this.box)), 'sealed invite')
      const signed = asBytes(sealed.content, 'invite content')
      const content = decodeContent(signed)
      if (!Ed25519PublicKey.fromLogId(content.inviter).verify(signed, asBytes(sealed.sig, 'invite signature'))) {
        throw new InvalidInviteError(`invite ${this.id} is not signed by ${content.inviter}`)
      }
      if (content.id !== this.id || !content.threadId.equals(this.threadId) || content.invitee !== this.invitee) {
        throw new InvalidInviteError(`invite ${this.id}: its envelope does not match what is sealed inside`)
      }
      return content
    })
  }
}

/** Runs a decode, turning any failure into an `InvalidInviteError` that keeps the cause. */
function parse<T> (decode: () => T): T {
  try {
    return decode()
  } catch (error) {
    if (error instanceof InvalidInviteError || error instanceof InviteNotForUsError) throw error
    const message = error instanceof ThreadsError ? error.message : 'undecodable'
    throw new InvalidInviteError(`invite does not decode: ${message}`, { cause: error })
  }
}

function encodeContent (content: InviteContent): Uint8Array {
  return dagCbor.encode({
    id: content.id,
    thread: content.threadId.bytes,
    inviter: content.inviter,
    inviterLog: content.inviterLog,
    invitee: content.invitee,
    role: content.role,
    expires: content.expires,
    key: content.key.bytes,
    logs: content.logs.map(log => ({ id: log.id, addrs: [...log.addrs] })),
    time: timestampToWire(content.time),
    token: content.token,
    ...(content.acl === undefined ? {} : { acl: { default: content.acl.default, peers: content.acl.peers } })
  })
}

function decodeContent (bytes: Uint8Array): InviteContent {
  const node = asMap(dagCbor.decode(bytes), 'invite content')
  const { id, inviter, inviterLog, invitee, role, expires, logs, acl } = node
  if (typeof id !== 'string' || typeof inviter !== 'string' || typeof inviterLog !== 'string' || typeof invitee !== 'string') throw new InvalidInviteError('invite content lacks its names')
  if (!isInviteRole(role)) throw new InvalidInviteError(`invite role ${String(role)} is not one of ${INVITE_ROLES.join(', ')}`)
  if (!Number.isSafeInteger(expires)) throw new InvalidInviteError('invite expiry is not a time')
  if (!Array.isArray(logs)) throw new InvalidInviteError('invite lists no logs')
  const key = ThreadKey.fromBytes(asBytes(node.key, 'invite key'))
  if (key.canRead === (role === 'replicate')) throw new InvalidInviteError(`a ${role} invite carries the wrong key set`)
  return {
    id,
    threadId: ThreadId.fromBytes(asBytes(node.thread, 'invite thread')),
    inviter,
    inviterLog,
    invitee,
    role,
    expires: expires as number,
    key,
    logs: logs.map(entry => {
      const log = asMap(entry, 'invited log')
      if (typeof log.id !== 'string' || !Array.isArray(log.addrs)) throw new InvalidInviteError('invited log is malformed')
      // A log ID is its key: one that is none would fail the join only once the thread's key was stored.
      return { id: Ed25519PublicKey.fromLogId(log.id).logId, addrs: log.addrs.map(addr => asBytes(addr, 'log address')) }
    }),
    time: timestampFromWire(node.time),
    token: asBytes(node.token, 'invite token', TOKEN_BYTES),
    ...(acl === undefined ? {} : { acl: decodeAcl(acl) })
  }
}

function decodeAcl (value: unknown): AclDocument {
  const node = asMap(value, 'invite ACL')
  if (!isDefaultRole(node.default)) throw new InvalidInviteError('invite ACL has no default role')
  const peers = asMap(node.peers, 'invite ACL peers')
  for (const roles of Object.values(peers)) {
    if (!Array.isArray(roles) || !roles.every(isRole)) throw new InvalidInviteError('invite ACL names an unknown role')
  }
  return { default: node.default, peers: peers as AclDocument['peers'] }
}
