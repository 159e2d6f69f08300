import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import type { RecordBlocks } from '../../codecs/record.ts'
import { seededRandom } from '../helpers/seeded-random.ts'
import { dumpStore, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'
import { carry } from '../helpers/carry.ts'

/**
 * Enforcement, as a property: peers that receive the same records, in any interleaving of the logs, end at the
 * same views, and a revoked writer's records after its revocation show in none of them, even when they arrive
 * before the revocation does.
 */

const OFFLINE = { network: false, invites: { retryMs: 60_000 } } as const
/** Seed 0 is the hardest order: every log whole, the revoked writer's first and the owner's (with the revoke) last. */
const SEEDS = [0, 1, 2, 3, 4, 5, 6]
const tick = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 3)) }

/** Every record of `db`'s own log, as its writer holds them. */
function ownRecords (peer: TempPeer, db: Store): [string, RecordBlocks[]] {
  return [db.logId!, peer.peer.logs.records(db.id, db.logId!).map(record => record.blocks)]
}

/** Ingests all of `logs` into `db`, interleaving the logs as `next` draws, each log in its own order. */
async function deliverShuffled (db: Store, logs: Map<string, RecordBlocks[]>, next: () => number): Promise<void> {
  const cursors = [...logs.entries()].map(([logId, records]) => ({ logId, records, at: 0 }))
  for (let left = cursors.filter(c => c.records.length > 0); left.length > 0; left = cursors.filter(c => c.at < c.records.length)) {
    const cursor = left[Math.floor(next() * left.length)]!
    await db.ingest(cursor.logId, cursor.records[cursor.at++]!)
  }
}

describe('access control across peers', () => {
  it('converges on the same views in any arrival order, without the revoked writer\'s later records', async () => {
    const owner = await tempPeer(OFFLINE)
    const kept = await tempPeer(OFFLINE)
    const revoked = await tempPeer(OFFLINE)
    const observers: TempPeer[] = []
    try {
      const ownerDb = await owner.peer.newStore({ variant: ThreadVariant.AccessControlled })
      await ownerDb.registerSchema('Note', { type: 'object' })
      const keptDb = await kept.peer.join((await ownerDb.invite(kept.peer.peerId)).toString())
      const revokedDb = await revoked.peer.join((await ownerDb.invite(revoked.peer.peerId)).toString())
      for (const [peer, db] of [[kept, keptDb], [revoked, revokedDb]] as const) await carry(owner.peer, { peer: peer.peer, store: db })
      await revokedDb.collection('Note').create([{ _id: 'before-1', by: 'revoked' }])
      await keptDb.collection('Note').create([{ _id: 'kept-1', by: 'kept' }])
      await carry(revoked.peer, { peer: owner.peer, store: ownerDb })
      await tick()
      await ownerDb.acl.revoke(revoked.peer.peerId, ['write'])
      await tick()
      // The revoked writer has not heard of it, and writes on.
      await revokedDb.collection('Note').create([{ _id: 'after-1', by: 'revoked' }, { _id: 'after-2', by: 'revoked' }])
      await revokedDb.collection('Note').save([{ _id: 'before-1', by: 'revoked, overwritten after' }])
      await keptDb.collection('Note').create([{ _id: 'kept-2', by: 'kept' }])

      const all = new Map([ownRecords(owner, ownerDb), ownRecords(kept, keptDb), ownRecords(revoked, revokedDb)])
      const views: string[] = []
      for (const seed of SEEDS) {
        const observer = await tempPeer(OFFLINE)
        observers.push(observer)
        const db = await observer.peer.openStore(ownerDb.id, { key: ownerDb.key })
        if (seed === 0) {
          for (const logId of [revokedDb.logId!, keptDb.logId!, ownerDb.logId!]) for (const record of all.get(logId)!) await db.ingest(logId, record)
        } else {
          await deliverShuffled(db, all, seededRandom(seed))
        }
        const notes = await db.collection('Note').find()
        assert.deepEqual(notes.map(note => note._id).sort(), ['before-1', 'kept-1', 'kept-2'], `seed ${seed}`)
        assert.equal(notes.find(note => note._id === 'before-1')?.by, 'revoked', `seed ${seed}: the save after the revoke is not applied`)
        assert.equal(db.acl.refused().filter(refusal => refusal.code === 'ERR_ACCESS_DENIED').length, 3, `seed ${seed}`)
        views.push(dumpStore(observer.peer, ['views']).replaceAll(observer.peer.peerId, ''))
        const rebuilt = await db.rebuild()
        assert.ok(rebuilt > 0)
        assert.equal(dumpStore(observer.peer, ['views']).replaceAll(observer.peer.peerId, ''), views.at(-1), `seed ${seed}: a rebuild from the logs agrees`)
      }
      assert.equal(new Set(views).size, 1, 'every arrival order gave byte-identical views')
    } finally {
      await Promise.all([owner, kept, revoked, ...observers].map(async peer => { await peer.dispose() }))
    }
  })
})
