import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Request, Response } from '../../codecs/wire.ts'
import type { ThreadsNode } from '../../net/node.ts'
import { createRequester } from '../../net/requests.ts'

/** One request from `node`, whose stream is closed once it is answered: how a stranger asks something once. */
export async function askOnce (node: ThreadsNode, peer: PeerId | Multiaddr, message: Request): Promise<Response> {
  const requester = createRequester({ node })
  try {
    return await requester.request(peer, message)
  } finally {
    requester.stop()
  }
}
