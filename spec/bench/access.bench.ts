import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../actors/peer.ts'
import type { Store } from '../../actors/store.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import { carry } from '../helpers/carry.ts'
import { median } from './measure.ts'

/**
 * Invites and access control: a write invite's whole handshake between two peers over TCP on 127.0.0.1, and what
 * enforcing an ACL costs a peer taking in records: the same records folded into a raw thread and into an
 * access-controlled one, and a late revoke that makes the peer fold the thread again.
 */

const HANDSHAKES = 15
const RECORDS = 3000

/** How long `into` takes to fold every record `from` holds, one at a time; throws unless every one became an entity. */
async function foldAll (from: Peer, into: { peer: Peer, store: Store }): Promise<number> {
  const started = performance.now()
  await carry(from, into)
  const ms = performance.now() - started
  const folded = (await into.store.collection('Note').find()).length
  if (folded !== RECORDS) throw new Error(`${folded} of ${RECORDS} records were folded`)
  return ms
}

export async function run (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'threads-access-bench-'))
  const peers: Peer[] = []
  const peer = async (name: string, network = true): Promise<Peer> => {
    // Every peer is up: a delivery retry could only land inside a timed handshake, so none comes within the run.
    const made = await createPeer({ path: join(root, name), network, snapshotEvery: 0, invites: { retryMs: 60_000 } })
    peers.push(made)
    return made
  }
  try {
    const alice = await peer('alice')
    const db = await alice.newStore()
    await db.registerSchema('Note', { type: 'object' })
    const took: number[] = []
    for (let i = 0; i < HANDSHAKES; i++) {
      const bob = await peer(`bob-${i}`)
      const started = performance.now()
      const invite = await db.invite(bob.peerId, { address: bob.addresses[0]! })
      await bob.join(invite)
      const deadline = Date.now() + 30_000
      while (alice.invitation(invite.id)?.state !== 'joined') {
        if (Date.now() > deadline) throw new Error(`handshake ${i}: the inviter never saw the Join (${alice.invitation(invite.id)?.state})`)
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      took.push(performance.now() - started)
      await bob.close()
    }
    console.log('\nInvites over TCP loopback')
    console.log(`  write invite: authored, delivered, accepted, Join authored and synced, inviter sees the Join: median ${median(took).toFixed(1)} ms of ${HANDSHAKES}`)

    const rates: Record<string, number> = {}
    let refold = ''
    for (const variant of [ThreadVariant.Raw, ThreadVariant.AccessControlled]) {
      const owner = await peer(`owner-${variant}`, false)
      const source = await owner.newStore({ variant })
      await source.registerSchema('Note', { type: 'object' })
      const notes = source.collection('Note')
      for (let n = 0; n < RECORDS; n += 64) await Promise.all(Array.from({ length: Math.min(64, RECORDS - n) }, (_, i) => notes.create([{ n: n + i }])))
      const observer = await peer(`observer-${variant}`, false)
      const copy = await observer.openStore(source.id, { key: source.key })
      const ms = await foldAll(owner, { peer: observer, store: copy })
      rates[variant === ThreadVariant.Raw ? 'raw' : 'acl'] = RECORDS / (ms / 1000)
      if (variant === ThreadVariant.AccessControlled) {
        // What an ACL change arriving "in the past" costs: the peer folds the whole thread again from its logs.
        const started = performance.now()
        const events = await copy.rebuild()
        refold = `  fold the access-controlled thread again from its logs (${events.toLocaleString('en')} events, as a late ACL change does): ${(performance.now() - started).toFixed(0)} ms`
      }
    }
    console.log('\nAccess control while taking in records')
    console.log(`  ${RECORDS.toLocaleString('en')} records folded, raw thread:              ${Math.round(rates.raw!)} records/s`)
    console.log(`  ${RECORDS.toLocaleString('en')} records folded, access-controlled thread: ${Math.round(rates.acl!)} records/s (${((rates.acl! / rates.raw!) * 100).toFixed(0)} % of raw)`)
    console.log(refold)
  } finally {
    for (const made of peers) await made.close()
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.main) await run()
