import { multiaddr, registry, V, type Multiaddr } from '@multiformats/multiaddr'
import { CODE_P2P } from '@multiformats/multiaddr'
import { base58btc } from 'multiformats/bases/base58'
import { Ed25519PublicKey } from './ed25519.ts'
import { InvalidAddressError } from './errors.ts'
import { ThreadId } from './thread-id.ts'

/**
 * Thread and log addresses are peer multiaddrs with one more component:
 *   /ip4/…/tcp/…/p2p/<peer>/thread/<tid>   (code 406, the reference's)
 *   /ip4/…/tcp/…/p2p/<peer>/ipel/<logid>   (the paper's per-log form; no code is registered for it in the
 *                                            multicodec table, so it takes one from the private-use range)
 */

export const CODE_THREAD = 406
export const CODE_IPEL = 0x300001

function registerOnce (code: number, codec: Parameters<typeof registry.addProtocol>[0]): void {
  try {
    registry.getProtocol(code)
  } catch {
    registry.addProtocol(codec)
  }
}

registerOnce(CODE_THREAD, {
  code: CODE_THREAD,
  name: 'thread',
  size: V,
  valueToBytes: value => ThreadId.fromString(value).bytes as Uint8Array<ArrayBuffer>,
  bytesToValue: bytes => ThreadId.fromBytes(bytes).toString(),
  validate: value => { ThreadId.fromString(value) }
})

registerOnce(CODE_IPEL, {
  code: CODE_IPEL,
  name: 'ipel',
  size: V,
  valueToBytes: value => base58btc.baseDecode(Ed25519PublicKey.fromLogId(value).logId) as Uint8Array<ArrayBuffer>,
  bytesToValue: bytes => Ed25519PublicKey.fromLogId(base58btc.baseEncode(bytes)).logId,
  validate: value => { Ed25519PublicKey.fromLogId(value) }
})

/** A multiaddr from what a caller gave; one that does not parse is an `InvalidAddressError`. */
export function toMultiaddr (input: Multiaddr | string | Uint8Array): Multiaddr {
  try {
    return multiaddr(input)
  } catch (cause) {
    throw new InvalidAddressError(`not a multiaddr: ${typeof input === 'string' ? JSON.stringify(input.slice(0, 200)) : 'bytes'}`, { cause })
  }
}

/** The multiaddrs among bytes a peer sent; what does not parse is left out. */
export function addressesFrom (list: readonly Uint8Array[]): Multiaddr[] {
  return list.flatMap(bytes => {
    try {
      return [multiaddr(bytes)]
    } catch {
      return []
    }
  })
}

export interface ParsedAddress {
  /** The peer part, ending in `/p2p/<peer>`. */
  readonly peer: Multiaddr
  readonly peerId: string
}

function splitPeer (addr: Multiaddr, code: number, name: string): { peer: ParsedAddress, value: string } {
  const components = addr.getComponents()
  const last = components.at(-1)
  const p2p = components.at(-2)
  if (last?.code !== code || last.value === undefined) throw new InvalidAddressError(`${addr.toString()} does not end in /${name}/…`)
  if (p2p?.code !== CODE_P2P || p2p.value === undefined) throw new InvalidAddressError(`${addr.toString()} has no /p2p/<peer> before /${name}`)
  return { peer: { peer: multiaddr(components.slice(0, -1)), peerId: p2p.value }, value: last.value }
}

/** The peer an address reaches: the value of its last `/p2p` component, if it has one. */
export function peerIdOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().findLast(component => component.code === CODE_P2P)?.value
}

export function threadAddress (peer: Multiaddr | string, threadId: ThreadId): Multiaddr {
  const base = toMultiaddr(peer)
  if (base.getComponents().at(-1)?.code !== CODE_P2P) throw new InvalidAddressError(`${base.toString()} does not end in /p2p/<peer>`)
  return base.encapsulate(`/thread/${threadId.toString()}`)
}

export interface ThreadAddress extends ParsedAddress {
  readonly threadId: ThreadId
}

export function parseThreadAddress (input: Multiaddr | string | Uint8Array): ThreadAddress {
  const { peer, value } = splitPeer(toMultiaddr(input), CODE_THREAD, 'thread')
  return { ...peer, threadId: ThreadId.fromString(value) }
}

export function logAddress (peer: Multiaddr | string, logId: string): Multiaddr {
  const base = toMultiaddr(peer)
  if (base.getComponents().at(-1)?.code !== CODE_P2P) throw new InvalidAddressError(`${base.toString()} does not end in /p2p/<peer>`)
  try {
    return base.encapsulate(`/ipel/${logId}`)
  } catch (cause) {
    throw new InvalidAddressError(`not a log ID: ${JSON.stringify(logId.slice(0, 80))}`, { cause })
  }
}

export interface LogAddress extends ParsedAddress {
  readonly logId: string
}

export function parseLogAddress (input: Multiaddr | string | Uint8Array): LogAddress {
  const { peer, value } = splitPeer(toMultiaddr(input), CODE_IPEL, 'ipel')
  return { ...peer, logId: value }
}

export { multiaddr, type Multiaddr }
