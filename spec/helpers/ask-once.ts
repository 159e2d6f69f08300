import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Request, Response } from '../../codecs/wire.ts'
import type { ThreadsNode } from '../../net/node.ts'
import { createRequester, type Requester } from '../../net/requests.ts'

/** Runs `use` with a requester of `node`'s own, whose kept streams are closed once `use` is done, however it ends. */
export async function withRequester<T> (node: ThreadsNode, use: (requester: Requester) => Promise<T>): Promise<T> {
  const requester = createRequester({ node })
  try {
    return await use(requester)
  } finally {
    requester.stop()
  }
}

/** One request from `node`, whose stream is closed once it is answered: how a stranger asks something once. */
export async function askOnce (node: ThreadsNode, peer: PeerId | Multiaddr, message: Request): Promise<Response> {
  return await withRequester(node, async requester => await requester.request(peer, message))
}
