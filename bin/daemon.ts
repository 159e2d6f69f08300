import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { listenOf, listOf, withPeer, type Command } from './command.ts'
import { UsageError } from './errors.ts'

/**
 * `threads daemon`: a long-running peer on a path. It opens every store it holds, so each syncs with its peers,
 * prints where it listens, and stops cleanly on SIGINT or SIGTERM. It logs under libp2p's `debug` namespaces:
 * `DEBUG=threads:*` for its own lines, `DEBUG=libp2p:*` for libp2p's.
 */

const log = logger('threads:daemon')

/** A peer ID as libp2p writes it, whichever form it was given in; a typo would refuse everyone without a word. */
function peerIdOf (text: string): string {
  try {
    return peerIdFromString(text).toString()
  } catch {
    throw new UsageError(`--replicate-for takes peer IDs or "anyone", not ${JSON.stringify(text)}`)
  }
}

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'Runs a peer that keeps every store at the path in sync until stopped (SIGINT or SIGTERM).',
  usage: '[--listen MULTIADDR]… [--replicate-for PEER_ID | anyone]… [--trace FILE]',
  arguments: [],
  options: { listen: { type: 'string', multiple: true }, 'replicate-for': { type: 'string', multiple: true }, trace: { type: 'string' } },
  async run (values, _positionals, out) {
    const path = values.path as string
    const listen = listenOf(values) ?? ['/ip4/0.0.0.0/tcp/4006']
    // Listening before the peer starts: a signal while it starts still stops it cleanly.
    const stopped = new Promise<string>(resolve => {
      process.once('SIGINT', () => { resolve('SIGINT') })
      process.once('SIGTERM', () => { resolve('SIGTERM') })
    })
    // Peers whose stores this daemon replicates when asked (`add-replicator`); no one's unless named.
    const named = listOf(values['replicate-for'])
    const replicateFor = named.includes('anyone') ? 'anyone' : named.map(peerIdOf)
    await withPeer(values, { network: true, listen, trace: values.trace as string | undefined, replicateFor }, async peer => {
      const addresses = peer.addresses.map(String)
      const stores = peer.stores()
      for (const id of stores) await peer.store(id)
      log('serving %d stores from %s', stores.length, path)
      out.result([`peer ${peer.peerId!}`, ...addresses.map(address => `listening on ${address}`), `serving ${stores.length} stores from ${path}`].join('\n'),
        { peerId: peer.peerId, addresses, stores: stores.map(String), path })
      log('stopping on %s', await stopped)
    })
    out.result('stopped', { stopped: true })
  }
}
