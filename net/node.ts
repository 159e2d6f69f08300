import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type TopicValidatorResult } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Ed25519PrivateKey } from '../codecs/ed25519.ts'
import type { Storage } from '../storage/storage.ts'

/**
 * The peer's libp2p node: TCP, noise, yamux, identify and gossipsub. Its identity key lives in the peer's LMDB
 * environment, so a restarted peer keeps its peer ID.
 */

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/**
 * How many connections the node takes in. libp2p's own defaults (5 new connections a second per host, 10
 * upgrading at once) refuse peers that share a host, as every peer on one machine or behind one NAT does: a
 * dozen of them dialing at once had their sockets reset mid-handshake.
 */
export interface ConnectionLimits {
  /** New inbound connections accepted per second from one IP address. */
  inboundPerHostPerSecond: number
  /** Inbound connections being upgraded (noise, yamux) at once. */
  pendingInbound: number
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  inboundPerHostPerSecond: 100,
  pendingInbound: 64
})

export interface ThreadsNodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on; loopback on a free port unless told otherwise. */
  listen?: string[]
  /** Multiaddrs to give other peers instead of the ones listened on. */
  announce?: string[]
  connections?: ConnectionLimits
  /** Peers to refuse connections to and from, asked at every dial and every inbound handshake. */
  refuse?: (peer: string) => boolean
}

/**
 * Gossipsub as the node runs it: with `asyncValidation` the application reports each message's verdict, which the
 * option's documentation names but the service's published interface leaves out.
 */
export type ThreadsPubsub = ReturnType<ReturnType<typeof gossipsub>> & {
  reportMessageValidationResult: (msgId: string, propagationSource: string, acceptance: TopicValidatorResult) => void
}

export type ThreadsNode = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, pubsub: ThreadsPubsub }>

export async function createThreadsNode (init: ThreadsNodeInit): Promise<ThreadsNode> {
  const limits = init.connections ?? DEFAULT_CONNECTION_LIMITS
  return await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? DEFAULT_LISTEN, announce: init.announce },
    connectionManager: { inboundConnectionThreshold: limits.inboundPerHostPerSecond, maxIncomingPendingConnections: limits.pendingInbound },
    connectionGater: {
      denyDialPeer: peer => init.refuse?.(peer.toString()) ?? false,
      denyInboundEncryptedConnection: peer => init.refuse?.(peer.toString()) ?? false
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // Unsigned, and passed on only once the application took it: see `startNetwork`.
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, globalSignaturePolicy: 'StrictNoSign', asyncValidation: true })
    }
  }) as unknown as ThreadsNode
}

/** The peer's identity key: read from storage, or made and stored on first start. */
export async function peerKey (storage: Storage): Promise<PrivateKey> {
  const db = storage.binaryDatabase('peer')
  const name = new TextEncoder().encode('identity')
  const stored = db.getBinary(name)
  if (stored !== undefined) return privateKeyFromProtobuf(Uint8Array.from(stored))
  const key = await generateKeyPair('Ed25519')
  await storage.transaction(() => db.putSync(name, privateKeyToProtobuf(key)))
  return key
}

/**
 * The peer's identity as an Ed25519 key of ours (libp2p's raw form is seed ‖ public key; ours is the seed): it signs
 * invites and log bindings, and opens what is sealed to this peer.
 */
export async function peerIdentity (storage: Storage): Promise<Ed25519PrivateKey> {
  return Ed25519PrivateKey.fromSeed((await peerKey(storage)).raw.subarray(0, 32))
}
