import { createHash } from 'node:crypto'
import type { Ed25519PrivateKey } from './ed25519.ts'
import { Ed25519PublicKey } from './ed25519.ts'
import { ThreadId, ThreadVariant } from './thread-id.ts'

/**
 * Who owns what in an access-controlled thread. A peer binds a log to itself by signing the thread and the log
 * with its identity key, so a log's records count as that peer's and no one can claim someone else's log. The
 * thread's owner is the peer whose ID, with a nonce, hashes to the thread ID: anyone can check the claim, and no
 * one but the owner can make it.
 */

const utf8 = new TextEncoder()
const BINDING_CONTEXT = utf8.encode('threads/log-binding/v1')
const GENESIS_CONTEXT = 'threads/acl-genesis/v1'

function bindingMessage (threadId: ThreadId, logId: string): Uint8Array {
  const log = utf8.encode(logId)
  const out = new Uint8Array(BINDING_CONTEXT.length + threadId.bytes.length + log.length)
  out.set(BINDING_CONTEXT)
  out.set(threadId.bytes, BINDING_CONTEXT.length)
  out.set(log, BINDING_CONTEXT.length + threadId.bytes.length)
  return out
}

/** The peer's signature binding `logId` of `threadId` to it. */
export function signLogBinding (peer: Ed25519PrivateKey, threadId: ThreadId, logId: string): Uint8Array {
  return peer.sign(bindingMessage(threadId, logId))
}

/** True when `signature` binds `logId` of `threadId` to `peerId`; false for anything malformed. */
export function verifyLogBinding (peerId: string, threadId: ThreadId, logId: string, signature: Uint8Array): boolean {
  try {
    return Ed25519PublicKey.fromLogId(peerId).verify(bindingMessage(threadId, logId), signature)
  } catch {
    return false
  }
}

function ownedRandom (owner: string, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(GENESIS_CONTEXT).update(owner).update(nonce).digest())
}

/** The ID of the access-controlled thread `owner` creates with `nonce`. */
export function ownedThreadId (owner: string, nonce: Uint8Array): ThreadId {
  return ThreadId.create({ variant: ThreadVariant.AccessControlled, random: ownedRandom(owner, nonce) })
}

/** True when `owner` with `nonce` derives `threadId`. */
export function ownsThread (owner: string, nonce: Uint8Array, threadId: ThreadId): boolean {
  return threadId.variant === ThreadVariant.AccessControlled && ownedThreadId(owner, nonce).equals(threadId)
}
