import { createServer, type AddressInfo } from 'node:net'
import type { Store } from '../../actors/store.ts'
import type { SyncTiming } from '../../actors/peer.ts'
import { tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'
import { createFaultyNetwork, type Faults, type FaultyNetwork } from './fault-proxy.ts'

/**
 * Scenarios on real peers whose every connection passes through the fault layer: they write to one store while
 * the network drops, delays, duplicates and reorders, or splits them into groups; then the faults stop and the
 * time until every peer holds the same views is measured.
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

export async function startCluster (size: number, seed: number, sync: Partial<SyncTiming>): Promise<Cluster> {
  const net = createFaultyNetwork(seed)
  const peers: TempPeer[] = []
  const names = Array.from({ length: size }, (_, i) => `p${i}`)
  const nameOf = new Map<string, string>()
  try {
    for (const name of names) {
      const { port: announced, attach } = await net.reserve()
      const port = await freePort()
      const temp = await tempPeer({ listen: [`/ip4/127.0.0.1/tcp/${port}`], announce: [`/ip4/127.0.0.1/tcp/${announced}`], sync }, 'threads-faults-')
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
    const origin = await peers[0]!.peer.newStore()
    await origin.registerSchema('Item', { type: 'object' })
    const stores = [origin]
    for (const temp of peers.slice(1)) stores.push(await temp.peer.openStore(origin.address!, { key: origin.key }))
    // Each joiner announced its log to the origin only; a round of pulls spreads every log and its addresses.
    for (const db of stores) await db.sync()
    return {
      names,
      peers,
      stores,
      net,
      async dispose () {
        await net.close()
        for (const temp of peers) await temp.dispose()
      }
    }
  } catch (error) {
    await net.close()
    for (const temp of peers) await temp.dispose()
    throw error
  }
}

const view = async (db: Store): Promise<string> => JSON.stringify(await db.collection('Item').find())

/** Waits until every store holds the same `expected` items; returns how long that took. */
export async function converged (stores: readonly Store[], expected: number, what: string, ms: number): Promise<number> {
  const started = performance.now()
  await until(async () => {
    const views = await Promise.all(stores.map(view))
    return views.every(one => one === views[0]) && (JSON.parse(views[0]!) as unknown[]).length === expected
  }, what, ms)
  return performance.now() - started
}

/** Every store writes `each` items, one commit each, all stores at once. */
export async function writeEverywhere (cluster: Cluster, each: number, round: string): Promise<void> {
  await Promise.all(cluster.stores.map(async (db, who) => {
    for (let n = 0; n < each; n++) await db.collection('Item').create([{ _id: `${round}-${who}-${n}`, who, n }])
  }))
}

export interface ScenarioResult {
  readonly name: string
  /** From the faults stopping (or the partition healing) to every peer holding the same views. */
  readonly convergeMs: number
  readonly links: number
  readonly cut: number
}

/** Writes while `faults` hold, stops them, and times convergence. */
export async function underFaults (cluster: Cluster, name: string, faults: Partial<Faults>, each: number, expected: number, ms: number): Promise<ScenarioResult> {
  const before = { ...cluster.net.stats }
  cluster.net.set(faults)
  await writeEverywhere(cluster, each, name)
  // Let the faults bite for a moment after the last write, as they would on a real network.
  await new Promise(resolve => setTimeout(resolve, 300))
  cluster.net.set({ delayMs: 0, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0 })
  const convergeMs = await converged(cluster.stores, expected, `every peer to converge after ${name}`, ms)
  return { name, convergeMs, links: cluster.net.stats.links - before.links, cut: cluster.net.stats.cut - before.cut }
}

/** Splits the peers into `groups` (by index), writes on every side, heals, and times convergence. */
export async function partitioned (cluster: Cluster, name: string, groups: ReadonlyArray<readonly number[]>, each: number, expected: number, holdMs: number, ms: number): Promise<ScenarioResult & { sidesAgreeMs: number }> {
  const before = { ...cluster.net.stats }
  cluster.net.partition(groups.map(group => group.map(i => cluster.names[i]!)))
  const started = performance.now()
  await writeEverywhere(cluster, each, name)
  // Each side converges on its own writes while the partition stands.
  for (const group of groups) {
    const side = group.map(i => cluster.stores[i]!)
    await until(async () => {
      const views = await Promise.all(side.map(view))
      return views.every(one => one === views[0])
    }, `the side ${group.join(',')} of ${name} to agree`, ms)
  }
  const sidesAgreeMs = performance.now() - started
  await new Promise(resolve => setTimeout(resolve, Math.max(0, holdMs - sidesAgreeMs)))
  cluster.net.heal()
  const convergeMs = await converged(cluster.stores, expected, `every peer to converge after ${name} healed`, ms)
  return { name, convergeMs, sidesAgreeMs, links: cluster.net.stats.links - before.links, cut: cluster.net.stats.cut - before.cut }
}
