import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { seededRandom } from '../helpers/seeded-random.ts'

/**
 * A fault layer between peers on 127.0.0.1: a TCP proxy in front of each peer's listener, which the peer announces
 * instead of its own address, so every connection to it passes through. Each chunk read from either side can be
 * delayed (with jitter, in order), dropped, duplicated or swapped with the next one; links can be cut; and the
 * peers can be split into groups whose links to each other are cut and stay cut until the partition heals.
 *
 * Noise authenticates every frame, so a dropped, duplicated or reordered chunk is caught by the receiving peer,
 * which closes the connection: over TCP a lost message is a lost connection. `loss` is therefore the share of
 * links that lose a chunk at a random point of their next 4 KiB, and with it the link: that share of the links
 * open (at least one) and each new link with that chance. 4 KiB is a handful of records, so a scenario of a few
 * writes loses as much as a long one.
 */

/** A lossy link loses a chunk somewhere in its next this many bytes. */
const LOSS_WITHIN = 4 * 1024
/** A chunk held back to swap with the next one goes on alone after this long, if no next one comes. */
const HOLD_MS = 20

export interface Faults {
  /** Added to every chunk's trip, in ms. */
  delayMs: number
  /** Up to this much more, at random; chunks keep their order. */
  jitterMs: number
  /** Share of links that lose a chunk, and so the link: of those open (at least one), and the chance of each new one. */
  loss: number
  /** Share of chunks sent twice. */
  duplicate: number
  /** Share of chunks swapped with the one after them. */
  reorder: number
}

export const NO_FAULTS: Readonly<Faults> = Object.freeze({ delayMs: 0, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0 })

/** A peer as the fault layer sees it: its name, and how to tell which peer is at the far end of one of its links. */
export interface ProxiedPeer {
  readonly name: string
  /** The peer's listening port, which the proxy forwards to. */
  readonly port: number
  /**
   * The name of the peer whose connection reached this one from `port` (the proxy's side of the link), once this
   * peer has it; undefined until the handshake is done.
   */
  readonly peerAt: (port: number) => string | undefined
}

export interface FaultyNetwork {
  /** Starts a proxy for a peer not yet listening; returns the port to announce. Call `attach` once it listens. */
  reserve (): Promise<{ port: number, attach: (peer: ProxiedPeer) => void }>
  set (faults: Partial<Faults>): void
  /** Cuts every link between peers of different groups, and keeps them cut until `heal`. */
  partition (groups: ReadonlyArray<readonly string[]>): void
  heal (): void
  /** So far: links opened, links cut (by any fault or partition), chunks lost (each cutting its link), duplicated and reordered. */
  readonly stats: { links: number, cut: number, dropped: number, duplicated: number, reordered: number }
  close (): Promise<void>
}

interface Link {
  readonly client: Socket
  readonly upstream: Socket
  /** The proxy's own port on the upstream socket: the remote port the proxied peer sees. */
  upstreamPort?: number
  /** The peer that dialed, once known. */
  from?: string
  /** Bytes after which the link loses a chunk; infinite for a link spared by `loss`. */
  loseAt: number
  carried: number
  cut: boolean
}

export function createFaultyNetwork (seed: number): FaultyNetwork {
  const random = seededRandom(seed)
  let faults: Faults = { ...NO_FAULTS }
  let groups: Map<string, number> | undefined
  const servers: Server[] = []
  const links = new Set<Link>()
  const stats = { links: 0, cut: 0, dropped: 0, duplicated: 0, reordered: 0 }

  const cut = (link: Link): void => {
    if (link.cut) return
    link.cut = true
    stats.cut++
    link.client.destroy()
    link.upstream.destroy()
  }

  const crossesPartition = (link: Link, to: ProxiedPeer): boolean => {
    if (groups === undefined) return false
    link.from ??= link.upstreamPort === undefined ? undefined : to.peerAt(link.upstreamPort)
    // Until its handshake is done a link's dialer is unknown, and during a partition it carries nothing but that.
    if (link.from === undefined) return false
    return groups.get(link.from) !== groups.get(to.name)
  }

  /** Sends `from`'s chunks on to `to`, in order, through the faults in force when each chunk arrives. */
  const pipe = (link: Link, from: Socket, to: Socket, peer: ProxiedPeer): void => {
    // Delayed chunks wait in one queue, each with its time to go out, and one timer sends them in order: timers of
    // their own, due within the same millisecond, may fire in any order. The end goes out after the last of them.
    const delayed: Array<{ at: number, out: readonly Buffer[] }> = []
    let sending: NodeJS.Timeout | undefined
    let ending = false
    const sendDue = (): void => {
      sending = undefined
      if (link.cut) {
        delayed.length = 0
        return
      }
      while (delayed.length > 0 && delayed[0]!.at <= Date.now()) {
        const { out } = delayed.shift()!
        if (!link.cut) for (const bytes of out) to.write(bytes)
      }
      if (delayed.length > 0) sending = setTimeout(sendDue, delayed[0]!.at - Date.now())
      else if (ending && !link.cut) to.end()
    }
    let held: { chunk: Buffer, timer: NodeJS.Timeout } | undefined
    const write = (out: readonly Buffer[]): void => {
      if (faults.delayMs === 0 && faults.jitterMs === 0 && delayed.length === 0) {
        for (const bytes of out) to.write(bytes)
        return
      }
      // Never earlier than the chunk before it: jitter spreads chunks out, it does not reorder them.
      const at = Math.max(delayed.at(-1)?.at ?? 0, Date.now() + faults.delayMs + random() * faults.jitterMs)
      delayed.push({ at, out })
      sending ??= setTimeout(sendDue, at - Date.now())
    }
    const release = (): Buffer[] => {
      if (held === undefined) return []
      clearTimeout(held.timer)
      const { chunk } = held
      held = undefined
      return [chunk]
    }
    from.on('data', (chunk: Buffer) => {
      if (link.cut) return
      if (crossesPartition(link, peer)) {
        cut(link)
        return
      }
      link.carried += chunk.length
      if (link.carried >= link.loseAt) {
        stats.dropped++
        cut(link)
        return
      }
      const out: Buffer[] = [chunk]
      if (random() < faults.duplicate) {
        stats.duplicated++
        out.push(chunk)
      }
      if (held !== undefined) {
        write([...out, ...release()])
      } else if (random() < faults.reorder) {
        stats.reordered++
        held = { chunk, timer: setTimeout(() => { if (!link.cut) write(release()) }, HOLD_MS) }
        if (out.length > 1) write(out.slice(1))
      } else {
        write(out)
      }
    })
    from.on('end', () => {
      if (link.cut) return
      write(release())
      ending = true
      if (delayed.length === 0) to.end()
    })
    from.on('error', () => { cut(link) })
    from.on('close', () => { links.delete(link); cut(link) })
  }

  return {
    stats,
    async reserve () {
      let peer: ProxiedPeer | undefined
      const server = createServer(client => {
        if (peer === undefined) {
          client.destroy()
          return
        }
        const target = peer
        const upstream = connect({ host: '127.0.0.1', port: target.port })
        const link: Link = {
          client,
          upstream,
          loseAt: random() < faults.loss ? Math.floor(random() * LOSS_WITHIN) : Number.POSITIVE_INFINITY,
          carried: 0,
          cut: false
        }
        stats.links++
        links.add(link)
        upstream.on('connect', () => { link.upstreamPort = upstream.localPort })
        pipe(link, client, upstream, target)
        pipe(link, upstream, client, target)
      })
      servers.push(server)
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      return { port: (server.address() as AddressInfo).port, attach: (attached: ProxiedPeer) => { peer = attached } }
    },
    set (change) {
      faults = { ...faults, ...change }
      // Loss strikes links already open, that share of them and at least one, as well as new ones.
      if (change.loss !== undefined) {
        const open = [...links].map(link => ({ link, order: random() })).sort((a, b) => a.order - b.order).map(({ link }) => link)
        const lossy = faults.loss > 0 ? Math.max(1, Math.round(faults.loss * open.length)) : 0
        open.forEach((link, i) => { link.loseAt = i < lossy ? link.carried + Math.floor(random() * LOSS_WITHIN) : Number.POSITIVE_INFINITY })
      }
    },
    partition (split) {
      groups = new Map(split.flatMap((names, group) => names.map(name => [name, group] as const)))
      // Links whose dialer is not yet known are cut too: nothing may cross while the partition stands.
      for (const link of links) cut(link)
    },
    heal () {
      groups = undefined
    },
    async close () {
      for (const link of links) cut(link)
      await Promise.all(servers.map(async server => await new Promise(resolve => server.close(resolve))))
    }
  }
}
