import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../actors/peer.ts'
import { createStore } from '../actors/store.ts'
import { startThread } from '../actors/thread-runtime.ts'
import { traceEntryOf, type TraceEntry } from '../actors/trace.ts'
import { NetworkUnavailableError } from '../storage/errors.ts'
import { createLogStore } from '../storage/log-store.ts'
import { createStoreEngine } from '../storage/store-engine.ts'
import { openStorage } from '../storage/storage.ts'
import { mergeEdges, type Diagram, type DiagramNode } from './diagram.ts'

/**
 * The overview of how a peer's actors talk, taken from the actors themselves rather than drawn: one thread's
 * actor system runs every kind of job (a record from another log, writes, a listener, both kinds of transaction,
 * a snapshot, pushes and pulls, against stand-in network moves) under inspection, and every event one actor sent
 * another becomes an arrow between their kinds (the machine, or the effect, each runs).
 */

export const OUTSIDE = 'store API & network'
const SETTLE_MS = 100

export async function recordOverview (): Promise<Diagram> {
  const dir = await mkdtemp(join(tmpdir(), 'threads-overview-'))
  const entries: TraceEntry[] = []
  try {
    // Another writer's records, for the observed peer to take in as if they came over the network.
    const writer = await createPeer({ path: join(dir, 'writer'), network: false })
    const theirs = await writer.newStore()
    await theirs.registerSchema('Note', { type: 'object' })
    await theirs.collection('Note').create([{ text: 'from another log' }])
    const records = writer.logs.records(theirs.id, theirs.logId!)
    await writer.close()

    const storage = await openStorage({ path: join(dir, 'observed') })
    const logs = createLogStore({ storage })
    const engine = createStoreEngine({ storage, logs })
    await logs.addThread(theirs.id, theirs.key)
    const own = await logs.createLog(theirs.id)
    const runtime = startThread({
      storage,
      logs,
      engine,
      threadId: theirs.id,
      logId: own.id,
      snapshotEvery: 0,
      transactionTimeout: 60_000,
      inspect: event => { const entry = traceEntryOf(event, 0); if (entry !== undefined) entries.push(entry) },
      sync: { gossip: () => {}, push: async () => ({ unreached: [] }), pull: async () => 0, pullFrom: async () => 0, heldElsewhere: () => true, pollMs: 3_600_000, pushDelayMs: 0, backoffMs: 1, maxBackoffMs: 1, maxAttempts: 1 }
    })
    const store = createStore({ runtime, engine, logId: own.id, key: theirs.key, address: () => undefined, sync: async () => 0, addReplicator: async () => {}, invite: async () => { throw new NetworkUnavailableError('the overview runs one thread without invitations') } })
    runtime.syncLogs()
    for (const record of records) await runtime.ingest(theirs.logId!, record.blocks)
    runtime.syncLogs()
    const stop = store.listen({}, () => {})
    await store.collection('Note').create([{ text: 'ours' }])
    await store.writeTransaction('Note', async tx => { await tx.create([{ text: 'in a transaction' }]) })
    await store.readTransaction('Note', async tx => await tx.find())
    await store.snapshot()
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    stop()
    await runtime.close()
    logs.addrs.close()
    await storage.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return overviewOf(entries)
}

/** Arrows between kinds of actor, for every event (other than XState's own) one sent another, and every start. */
export function overviewOf (entries: readonly TraceEntry[]): Diagram {
  // Each kind is drawn as deep as the actors of that kind sit in the supervision tree, below what sends to them.
  const kinds = new Map<string, { kind: string, machine: boolean, depth: number }>()
  for (const entry of entries) {
    if (entry.kind !== 'actor') continue
    const depth = entry.parent === undefined ? 1 : (kinds.get(entry.parent)?.depth ?? 0) + 1
    kinds.set(entry.actor, { kind: entry.machine ?? entry.src ?? entry.actor, machine: entry.machine !== undefined, depth })
  }
  const depthOf = new Map([...kinds.values()].map(kind => [kind.kind, kind.depth]))
  const kindOf = (actor: string | undefined): string => actor === undefined ? OUTSIDE : kinds.get(actor)?.kind ?? actor
  const edges: Array<{ from: string, to: string, label: string }> = []
  for (const entry of entries) {
    if (entry.kind === 'actor' && entry.parent !== undefined) edges.push({ from: kindOf(entry.parent), to: kindOf(entry.actor), label: 'starts' })
    if (entry.kind === 'event' && !entry.event.type.startsWith('xstate.')) edges.push({ from: kindOf(entry.from), to: kindOf(entry.to), label: entry.event.type })
  }
  const byName = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
  const sorted = edges.sort((a, b) => byName(a.from, b.from) || byName(a.to, b.to) || byName(a.label, b.label))
  const machines = new Set([...kinds.values()].filter(kind => kind.machine).map(kind => kind.kind))
  const effects = new Set([...kinds.values()].filter(kind => !kind.machine).map(kind => kind.kind))
  const nodes: DiagramNode[] = [
    { id: OUTSIDE, title: OUTSIDE, lines: ['calls on a Store', 'records from other peers'], shape: 'outside', layer: 0 },
    ...[...machines].sort(byName).map(kind => ({ id: kind, title: kind, lines: ['machine'], shape: 'machine' as const, layer: depthOf.get(kind)! })),
    ...[...effects].sort(byName).map(kind => ({ id: kind, title: kind, lines: ['effect'], shape: 'effect' as const, layer: depthOf.get(kind)! }))
  ]
  return { name: 'overview', title: 'How the actors of a thread talk', nodes, edges: mergeEdges(sorted) }
}
