import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AnyActor, InspectionEvent } from 'xstate'
import { actorName } from '../../actors/trace.ts'
import { Query } from '../../codecs/query.ts'
import { tempPeer, until } from '../helpers/temp-peer.ts'

/** What a peer holding many threads keeps running for them: actors only where there is something to do. */
describe('the actors a thread runs', () => {
  it('starts a log\'s sync actor once the log has something to sync: a commit to push, a peer to pull from', async () => {
    const started = new Set<string>()
    const inspect = (event: InspectionEvent): void => {
      const name = actorName(event.actorRef as AnyActor)
      if (event.type === '@xstate.actor' && name.endsWith('/sync')) started.add(name)
    }
    const alice = await tempPeer({ inspect })
    const bob = await tempPeer()
    try {
      const created = await alice.peer.newStore()
      // A log of the thread that no other peer holds: there is nowhere to pull it from.
      const quiet = await alice.peer.logs.createLog(created.id)
      const syncOf = (logId: string): string => `thread:${created.id.toString()}/log:${logId}/sync`
      started.clear()
      const db = await (await alice.reopen()).store(created.id)
      assert.deepEqual([...started], [], 'a store opened with nothing to push and no peer to pull from runs no sync actor')

      await db.registerSchema('Person', { type: 'object' })
      assert.deepEqual([...started], [syncOf(db.logId!)], 'our own log gets its actor with its first commit')

      const bobDb = await bob.peer.openStore(db.address!, { key: db.key })
      await until(() => started.has(syncOf(bobDb.logId!)), 'alice to start syncing bob\'s log once bob announces it', 5000)
      await bobDb.collection('Person').create([{ name: 'bo' }])
      await until(async () => (await db.collection('Person').find(Query.where('name').eq('bo'))).length === 1, 'bob\'s record at alice', 5000)
      assert.equal(started.has(syncOf(quiet.id)), false, 'the log no other peer holds still has nothing to sync')
    } finally {
      await alice.dispose()
      await bob.dispose()
    }
  })

  it('pushes the commits it still holds back before the peer closes, so they reach peers gossip does not', async () => {
    // Polls once an hour: within the test, only a push can bring alice's last note to bob.
    const alice = await tempPeer({ sync: { pollMs: 3_600_000 } })
    const bob = await tempPeer({ sync: { pollMs: 3_600_000 } })
    try {
      const db = await alice.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      const bobDb = await bob.peer.openStore(db.address!, { key: db.key })
      const notesAt = async (store: typeof db): Promise<number> => (await store.collection('Note').find()).length
      await bobDb.collection('Note').create([{ from: 'bob' }])
      await until(async () => await notesAt(db) === 1, 'bob\'s note at alice, so she pushes to him', 5000)
      const topic = db.id.toString()
      bob.peer.libp2p!.services.pubsub.unsubscribe(topic)
      await until(() => !alice.peer.libp2p!.services.pubsub.getSubscribers(topic).some(peer => peer.toString() === bob.peer.peerId), 'alice to see bob leave the gossip topic', 5000)

      await db.collection('Note').create([{ from: 'alice' }])
      await alice.peer.close()
      await until(async () => await notesAt(bobDb) === 2, 'alice\'s last note at bob, pushed as she closed', 3000)
    } finally {
      await alice.dispose()
      await bob.dispose()
    }
  })

  it('runs every thread\'s actors on one machine definition', async () => {
    const logic = new Map<string, unknown>()
    const temp = await tempPeer({
      network: false,
      inspect: event => {
        if (event.type === '@xstate.actor') logic.set(actorName(event.actorRef as AnyActor), (event.actorRef as AnyActor).logic)
      }
    })
    try {
      const [first, second] = [await temp.peer.newStore(), await temp.peer.newStore()]
      for (const role of [undefined, 'dispatcher', 'reducer']) {
        const of = (id: string): unknown => logic.get(role === undefined ? `thread:${id}` : `thread:${id}/${role}`)
        assert.ok(of(first.id.toString()) !== undefined)
        assert.equal(of(first.id.toString()), of(second.id.toString()), `the ${role ?? 'thread'} machine is defined once, not per thread`)
      }
    } finally {
      await temp.dispose()
    }
  })
})
