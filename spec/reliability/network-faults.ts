import { createServer, type AddressInfo } from 'node:net'
import type { Store } from '../../actors/store.ts'
import { oneStoreOn, viewsAgree } from '../helpers/shared-store.ts'
import { tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'
import { createFaultyNetwork, NO_FAULTS, type Faults, type FaultyNetwork } from './fault-proxy.ts'

/**
 * Scenarios on real peers whose every connection passes through the fault layer: they write to one store while
 * the network drops, delays, duplicates and reorders, or splits them into groups; then the faults stop and the
 * time until every peer holds the same views is measured. The peers sync on the default timing, which polls a
 * quiet log once a minute: converging well within that shows the healing is not the poll's.
 */

export interface Cluster {
  readonly names: readonly string[]
  readonly peers: readonly TempPeer[]
  readonly stores: readonly Store[]
  readonly net: FaultyNetwork
  dispose (): Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

export async function startCluster (size: number, seed: number): Promise<Cluster> {
  const net = createFaultyNetwork(seed)
  const peers: TempPeer[] = []
  const names = Array.from({ length: size }, (_, i) => `p${i}`)
  const nameOf = new Map<string, string>()
  const dispose = async (): Promise<void> => {
    await net.close()
    for (const temp of peers) await temp.dispose()
  }
  try {
    for (const name of names) {
      const { port: announced, attach } = await net.reserve()
      const port = await freePort()
      const temp = await tempPeer({ listen: [`/ip4/127.0.0.1/tcp/${port}`], announce: [`/ip4/127.0.0.1/tcp/${announced}`] }, 'threads-faults-')
      peers.push(temp)
      nameOf.set(temp.peer.peerId!, name)
      attach({
        name,
        port,
        peerAt: remotePort => {
          const connection = temp.peer.libp2p?.getConnections().find(conn => conn.remoteAddr.getComponents().some(part => part.name === 'tcp' && part.value === String(remotePort)))
          return connection === undefined ? undefined : nameOf.get(connection.remotePeer.toString())
        }
      })
    }
    const stores = await oneStoreOn(peers.map(temp => temp.peer), 'Item')
    return { names, peers, stores, net, dispose }
  } catch (error) {
    await dispose()
    throw error
  }
}

/** Waits until every store holds the same `expected` items; returns how long that took. */
export async function converged (stores: readonly Store[], expected: number, what: string, ms: number): Promise<number> {
  const started = performance.now()
  await until(async () => await viewsAgree(stores, 'Item', expected), what, ms)
  return performance.now() - started
}

/** Every store writes `each` items, one commit each, all stores at once. */
export async function writeEverywhere (cluster: Cluster, each: number, round: string): Promise<void> {
  await Promise.all(cluster.stores.map(async (db, who) => {
    for (let n = 0; n < each; n++) await db.collection('Item').create([{ _id: `${round}-${who}-${n}`, who, n }])
  }))
}

/** What the fault layer did during a scenario: links opened and cut, chunks lost, duplicated and reordered. */
export type FaultCounts = FaultyNetwork['stats']

export interface ScenarioResult {
  readonly name: string
  /** From the faults stopping (or the partition healing) to every peer holding the same views. */
  readonly convergeMs: number
  readonly faults: FaultCounts
}

const since = (before: FaultCounts, now: FaultCounts): FaultCounts => ({
  links: now.links - before.links,
  cut: now.cut - before.cut,
  dropped: now.dropped - before.dropped,
  duplicated: now.duplicated - before.duplicated,
  reordered: now.reordered - before.reordered
})

/** Writes while `faults` hold, stops them, and times convergence. */
export async function underFaults (cluster: Cluster, name: string, faults: Partial<Faults>, each: number, expected: number, ms: number): Promise<ScenarioResult> {
  const before = { ...cluster.net.stats }
  cluster.net.set(faults)
  await writeEverywhere(cluster, each, name)
  // Let the faults bite for a moment after the last write, as they would on a real network.
  await new Promise(resolve => setTimeout(resolve, 300))
  cluster.net.set(NO_FAULTS)
  const convergeMs = await converged(cluster.stores, expected, `every peer to converge after ${name}`, ms)
  return { name, convergeMs, faults: since(before, cluster.net.stats) }
}

/** Splits the peers into `groups` (by index), writes on every side, heals, and times convergence. */
export async function partitioned (cluster: Cluster, name: string, groups: ReadonlyArray<readonly number[]>, each: number, expected: number, holdMs: number, ms: number): Promise<ScenarioResult & { sidesAgreeMs: number }> {
  const before = { ...cluster.net.stats }
  cluster.net.partition(groups.map(group => group.map(i => cluster.names[i]!)))
  const started = performance.now()
  await writeEverywhere(cluster, each, name)
  // Each side converges on its own writes, and only those, while the partition stands.
  const sides = groups.map(group => ({
    group,
    stores: group.map(i => cluster.stores[i]!),
    holds: expected - (cluster.stores.length - group.length) * each
  }))
  for (const side of sides) await until(async () => await viewsAgree(side.stores, 'Item', side.holds), `the side ${side.group.join(',')} of ${name} to agree on its own writes`, ms)
  const sidesAgreeMs = performance.now() - started
  await new Promise(resolve => setTimeout(resolve, Math.max(0, holdMs - sidesAgreeMs)))
  for (const side of sides) {
    if (!await viewsAgree(side.stores, 'Item', side.holds)) throw new Error(`something crossed the partition of ${name} to the side ${side.group.join(',')}`)
  }
  cluster.net.heal()
  const convergeMs = await converged(cluster.stores, expected, `every peer to converge after ${name} healed`, ms)
  return { name, convergeMs, sidesAgreeMs, faults: since(before, cluster.net.stats) }
}
