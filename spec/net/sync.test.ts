import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Peer } from '../../actors/peer.ts'
import type { Store } from '../../actors/store.ts'
import { DecryptionError } from '../../codecs/errors.ts'
import { UnknownThreadError } from '../../storage/errors.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { Query } from '../../codecs/query.ts'
import { RequestFailedError } from '../../net/requests.ts'
import { passesThrough, stateRecorder } from '../helpers/state-recorder.ts'
import { dumpStore, tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'

const EVERY_DATABASE = ['keys', 'metadata', 'heads', 'log-records', 'addrs', 'views', 'events', 'thread-numbers', 'access']

/** Peers on real libp2p over TCP on 127.0.0.1, each with its own LMDB environment. */
describe('sync between peers', () => {
  let alice: TempPeer
  let bob: TempPeer
  let aliceDb: Store
  let bobDb: Store
  const names = async (db: Store): Promise<string[]> => (await db.collection('Person').find(Query.where('age').ge(0))).map(p => p.name as string).sort()

  before(async () => {
    alice = await tempPeer()
    bob = await tempPeer()
    aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Person', { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } }, { indexes: [{ path: 'age' }] })
    await aliceDb.collection('Person').create([{ name: 'ann', age: 30 }, { name: 'bo', age: 40 }])
  })

  after(async () => {
    await alice.dispose()
    await bob.dispose()
  })

  it('gives every peer and store an address on loopback', () => {
    assert.ok(alice.peer.addresses.length > 0)
    for (const addr of alice.peer.addresses) assert.match(addr.toString(), /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    assert.match(aliceDb.address!, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+\/thread\/b\w+$/)
  })

  it('opens a store from an address and a key: logs, records and collections come over the network', async () => {
    bobDb = await bob.peer.openStore(aliceDb.address!, { key: aliceDb.key.toString() })
    assert.deepEqual(await names(bobDb), ['ann', 'bo'])
    assert.equal(bobDb.collection('Person').plan(Query.where('age').eq(30)).using, 'index:age')
  })

  it('pushes new records both ways as they are written', async () => {
    await aliceDb.collection('Person').create([{ name: 'cy', age: 50 }])
    await until(async () => (await names(bobDb)).includes('cy'), 'alice\'s new record at bob', 5000)
    await bobDb.collection('Person').create([{ name: 'dee', age: 60 }])
    await until(async () => (await names(aliceDb)).includes('dee'), 'bob\'s record at alice', 5000)
    await aliceDb.collection('Person').create([{ name: 'eve', age: 70 }])
    await until(async () => (await names(bobDb)).includes('eve'), 'alice\'s next record at bob, now that she knows where he is', 5000)
    assert.deepEqual(await names(aliceDb), await names(bobDb))
  })

  it('catches a peer up on what it missed while closed', async () => {
    const id = bobDb.id
    await bob.peer.close()
    for (let i = 0; i < 50; i++) await aliceDb.collection('Person').create([{ name: `offline-${String(i).padStart(2, '0')}`, age: i }])
    const reopened: Peer = await bob.reopen()
    bobDb = await reopened.store(id)
    await bobDb.sync()
    await until(async () => (await names(bobDb)).length === (await names(aliceDb)).length, 'bob to catch up', 5000)
    assert.deepEqual(await names(bobDb), await names(aliceDb))
  })

  it('gives a peer without the service key nothing, counts the refusal, and stores nothing of the wrong key', async () => {
    const carol = await tempPeer()
    try {
      const before = dumpStore(carol.peer, EVERY_DATABASE)
      await assert.rejects(carol.peer.openStore(aliceDb.address!, { key: ThreadKey.random() }), (e: unknown) =>
        e instanceof RequestFailedError && e.remoteCode === 'ERR_INVALID_PROOF')
      assert.equal(alice.peer.refusals.get(carol.peer.peerId!)?.get('ERR_INVALID_PROOF'), 1)
      assert.equal(dumpStore(carol.peer, EVERY_DATABASE), before)
      assert.deepEqual(carol.peer.stores(), [])
      await assert.rejects(carol.peer.store(aliceDb.id), (e: unknown) => e instanceof UnknownThreadError)
      const opened = await carol.peer.openStore(aliceDb.address!, { key: aliceDb.key })
      assert.deepEqual(await names(opened), await names(aliceDb))
    } finally {
      await carol.dispose()
    }
  })

  it('refuses a key whose read part does not open the thread\'s records, and stores nothing of it', async () => {
    const dave = await tempPeer()
    try {
      const before = dumpStore(dave.peer, EVERY_DATABASE)
      const wrongRead = ThreadKey.of(aliceDb.key.service, ThreadKey.random().read)
      await assert.rejects(dave.peer.openStore(aliceDb.address!, { key: wrongRead }), (e: unknown) => e instanceof DecryptionError)
      assert.equal(dumpStore(dave.peer, EVERY_DATABASE), before)
      assert.deepEqual(dave.peer.stores(), [])
      const opened = await dave.peer.openStore(aliceDb.address!, { key: aliceDb.key })
      assert.deepEqual(await names(opened), await names(aliceDb))
    } finally {
      await dave.dispose()
    }
  })

  it('resumes a pull cut short by a restart and ends complete', async () => {
    const writer = await tempPeer()
    const recorder = stateRecorder('log:')
    const joiner = await tempPeer({ inspect: recorder.inspect })
    try {
      const db = await writer.peer.newStore()
      await db.registerSchema('Item', { type: 'object' })
      for (let n = 0; n < 2000; n += 100) await Promise.all(Array.from({ length: 100 }, (_, i) => db.collection('Item').create([{ n: n + i }])))
      const total = writer.peer.logs.head(db.id, db.logId!).counter
      const held = (): number => joiner.peer.logs.hasLog(db.id, db.logId!) ? joiner.peer.logs.head(db.id, db.logId!).counter : 0
      const opening = joiner.peer.openStore(db.address!, { key: db.key }).catch(() => undefined)
      await until(() => held() > 0, 'the pull to start', 10_000)
      const cut = held()
      await joiner.peer.close()
      await opening
      assert.ok(cut < total, `the restart came mid-pull (${cut} of ${total})`)
      recorder.clear()
      const again = await (await joiner.reopen()).store(db.id)
      await again.sync()
      await until(() => held() === total, 'the pull to finish after the restart', 20_000)
      assert.equal((await again.collection('Item').find()).length, 2000)
      // The writer never heard of the joiner, so only the joiner's pull brought the rest: its steps show it.
      const steps = recorder.states(`log:${db.logId!}/sync`)
      const pull = ['pulling.comparing edges', 'pulling.listing logs', 'pulling.fetching', 'pulling.handing to the dispatcher', 'idle']
      assert.ok(passesThrough(steps, pull), `the writer's log at the joiner went ${steps.join(' → ')}`)
    } finally {
      await writer.dispose()
      await joiner.dispose()
    }
  })
})
