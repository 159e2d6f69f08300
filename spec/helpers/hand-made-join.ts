import type { Peer } from '../../actors/peer.ts'
import type { Store } from '../../actors/store.ts'
import type { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { toHex, type JoinEvent } from '../../codecs/event-codec.ts'
import { signLogBinding } from '../../codecs/ownership.ts'
import { peerIdentity } from '../../net/node.ts'

export interface HandMadeJoin {
  /** The store joined; its own log is named as the inviter's. */
  readonly store: Store
  /** The peer that joins: its identity key signs the binding of `logKey`'s log to it. */
  readonly joiner: Peer
  /** The key of the log the Join opens, which the test signs its records with. */
  readonly logKey: Ed25519PrivateKey
  readonly invite: string
  /** The invite's token as hex, or anything a test wants to try in its place. */
  readonly token: string
}

/**
 * A Join control event authored as the joiner's peer would author it, for tests that write a log's records by hand
 * (a hostile or impossible log) rather than through `peer.join`.
 */
export async function handMadeJoin ({ store, joiner, logKey, invite, token }: HandMadeJoin): Promise<JoinEvent> {
  const identity = await peerIdentity(joiner.storage)
  return {
    type: 'join',
    invite,
    inviterLog: store.logId!,
    peer: joiner.peerId,
    token,
    binding: toHex(signLogBinding(identity, store.id, logKey.publicKey.logId))
  }
}
