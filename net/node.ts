import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Storage } from '../storage/storage.ts'

/**
 * The peer's libp2p node: TCP, noise, yamux, identify and gossipsub. Its identity key lives in the peer's LMDB
 * environment, so a restarted peer keeps its peer ID.
 */

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

export interface ThreadsNodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on; loopback on a free port unless told otherwise. */
  listen?: string[]
}

export type ThreadsNode = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, pubsub: ReturnType<ReturnType<typeof gossipsub>> }>

export async function createThreadsNode (init: ThreadsNodeInit): Promise<ThreadsNode> {
  return await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? DEFAULT_LISTEN },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
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
