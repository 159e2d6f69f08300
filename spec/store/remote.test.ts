import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import type { StoreChange } from '../../actors/thread-runtime.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadsError } from '../../codecs/errors.ts'
import { encodeRecordBody, type StoreEvent } from '../../codecs/event-codec.ts'
import { createRecord } from '../../codecs/record.ts'
import { Query } from '../../codecs/query.ts'
import { MissingAncestorError, ReplayedRecordError } from '../../storage/errors.ts'
import { flipByte } from '../helpers/tamper.ts'
import { dumpStore, tempPeer, until, within, type TempPeer } from '../helpers/temp-peer.ts'

/** Records from another peer's log enter through the dispatcher like local writes: same fold, same listeners. */
describe('records from another log', () => {
  let alice: TempPeer
  let bob: TempPeer
  let aliceDb: Store
  let bobDb: Store

  /** Hands every record of `from`'s own log that `to` lacks over, in log order. */
  const carry = async (from: TempPeer, fromDb: Store, to: Store): Promise<number> => {
    const have = to === bobDb ? bob.peer.logs.head(fromDb.id, fromDb.logId!).counter : alice.peer.logs.head(fromDb.id, fromDb.logId!).counter
    const records = from.peer.logs.records(fromDb.id, fromDb.logId!, { from: have + 1 })
    for (const record of records) await to.ingest(fromDb.logId!, record.blocks)
    return records.length
  }

  const people = async (db: Store): Promise<unknown[]> => await db.collection('Person').find(Query.where('age').ge(0).orderBy('name'))

  before(async () => {
    alice = await tempPeer()
    bob = await tempPeer()
    aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Person', { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } }, { indexes: [{ path: 'age' }] })
    await aliceDb.collection('Person').create([{ _id: 'ann', name: 'Ann', age: 30 }, { _id: 'bo', name: 'Bo', age: 40 }])
    await aliceDb.collection('Person').update('ann', draft => { draft.age = 31 })
    bobDb = await bob.peer.openStore(aliceDb.id, { key: aliceDb.key.toString() })
  })

  after(async () => {
    await alice.dispose()
    await bob.dispose()
  })

  it('folds another peer\'s records into the same views, collections included, and tells listeners', async () => {
    const heard: StoreChange[] = []
    const stop = bobDb.listen({ collection: 'Person' }, change => { heard.push(change) })
    assert.equal(await carry(alice, aliceDb, bobDb), 3)
    assert.deepEqual(await people(bobDb), await people(aliceDb))
    assert.equal(bobDb.collection('Person').plan(Query.where('age').eq(31)).using, 'index:age', 'the collection and its index came with the records')
    await until(() => heard.length === 3, 'three changes')
    assert.deepEqual(heard.map(change => [change.action, change.id, change.entity?.age]), [['create', 'ann', 30], ['create', 'bo', 40], ['save', 'ann', 31]])
    stop()
  })

  it('lets both peers write and converge once each has the other\'s records', async () => {
    await bobDb.collection('Person').create([{ _id: 'cy', name: 'Cy', age: 50 }])
    await bobDb.collection('Person').update('bo', draft => { draft.age = 41 })
    await aliceDb.collection('Person').update('bo', draft => { draft.name = 'Bob' })
    await carry(bob, bobDb, aliceDb)
    await carry(alice, aliceDb, bobDb)
    assert.deepEqual(await people(bobDb), await people(aliceDb))
    const bo = await aliceDb.collection('Person').findById('bo')
    assert.deepEqual({ name: bo?.name, age: bo?.age }, { name: 'Bob', age: 41 }, 'both edits of bo survive, in clock order')
  })

  it('refuses a tampered or replayed record through the dispatcher and changes nothing', async () => {
    await aliceDb.collection('Person').create([{ _id: 'dee', name: 'Dee', age: 60 }])
    const [record] = alice.peer.logs.records(aliceDb.id, aliceDb.logId!, { direction: 'backward', limit: 1 })
    const before = dumpStore(bob.peer)
    await assert.rejects(bobDb.ingest(aliceDb.logId!, { ...record!.blocks, body: flipByte(record!.blocks.body, 10) }), ThreadsError)
    const replay = alice.peer.logs.record(aliceDb.id, aliceDb.logId!, 1)!
    await assert.rejects(bobDb.ingest(aliceDb.logId!, replay.blocks), (e: unknown) => e instanceof ReplayedRecordError)
    assert.equal(dumpStore(bob.peer), before)
    await bobDb.ingest(aliceDb.logId!, record!.blocks)
    assert.equal((await bobDb.collection('Person').findById('dee'))?.age, 60)
  })

  it('checks and takes in once a record that arrives twice, and a bad copy does not stand in for a good one', async () => {
    // Whatever ran before, bob holds all of alice's log so far (on its own, this test starts here).
    await carry(alice, aliceDb, bobDb)
    await aliceDb.collection('Person').create([{ _id: 'eve', name: 'Eve', age: 70 }])
    await aliceDb.collection('Person').create([{ _id: 'fay', name: 'Fay', age: 80 }])
    const [eve, fay] = alice.peer.logs.records(aliceDb.id, aliceDb.logId!, { direction: 'backward', limit: 2 }).reverse()
    const heard: string[] = []
    const stop = bobDb.listen({ collection: 'Person', id: ['eve', 'fay'] }, change => { heard.push(change.id) })
    const logs = bob.peer.logs
    const check = logs.check
    let checks = 0
    logs.check = async (...args) => { checks++; return await check(...args) }
    try {
      // Pushed, then gossiped while the first copy is on its way: the second waits for the first, and is a replay.
      const pushed = bobDb.ingest(aliceDb.logId!, eve!.blocks)
      await new Promise(resolve => setImmediate(resolve))
      const gossiped = assert.rejects(bobDb.ingest(aliceDb.logId!, eve!.blocks), (e: unknown) => e instanceof ReplayedRecordError, 'the second copy is a replay')
      await within(Promise.all([pushed, gossiped]), 'both copies answered', 5000)
      assert.equal(checks, 1, 'checked once')
    } finally {
      logs.check = check
    }

    // A copy with a tampered body has the same record block, so it names the same record: it fails alone.
    const forged = assert.rejects(bobDb.ingest(aliceDb.logId!, { ...fay!.blocks, body: flipByte(fay!.blocks.body, 10) }), ThreadsError)
    await new Promise(resolve => setImmediate(resolve))
    const honest = bobDb.ingest(aliceDb.logId!, fay!.blocks)
    await within(Promise.all([forged, honest]), 'the forged copy and the honest one answered', 5000)
    assert.equal((await bobDb.collection('Person').findById('fay'))?.age, 80)
    await until(() => heard.includes('fay'), 'the change to fay')
    assert.deepEqual(heard, ['eve', 'fay'], 'each record folded once')
    stop()
  })

  it('keeps a log\'s order when an early copy of a record waits for its ancestors', async () => {
    await carry(alice, aliceDb, bobDb)
    for (const name of ['jo', 'kit', 'lu']) await aliceDb.collection('Person').create([{ _id: name, name, age: 2 }])
    const [jo, kit, lu] = alice.peer.logs.records(aliceDb.id, aliceDb.logId!, { direction: 'backward', limit: 3 }).reverse()
    const early = assert.rejects(bobDb.ingest(aliceDb.logId!, kit!.blocks), (e: unknown) => e instanceof MissingAncestorError)
    await new Promise(resolve => setImmediate(resolve))
    const page = await within(Promise.allSettled([jo, kit, lu].map(async record => await bobDb.ingest(aliceDb.logId!, record!.blocks))), 'the page answered', 5000)
    await within(early, 'the early copy answered', 5000)
    assert.deepEqual(page.map(outcome => outcome.status), ['fulfilled', 'fulfilled', 'fulfilled'], 'the page behind it goes in whole, in order')
    assert.deepEqual(await people(bobDb), await people(aliceDb))
  })

  it('answers records still waiting their turn when the store closes with ERR_STORAGE_CLOSED', async () => {
    const carol = await tempPeer()
    try {
      const carolDb = await carol.peer.openStore(aliceDb.id, { key: aliceDb.key.toString() })
      const records = alice.peer.logs.records(aliceDb.id, aliceDb.logId!)
      const taking = records.map(async record => await carolDb.ingest(aliceDb.logId!, record.blocks))
      await carol.peer.close()
      const outcomes = await within(Promise.allSettled(taking), 'every waiting record answered after the close', 5000)
      assert.ok(outcomes.some(outcome => outcome.status === 'rejected'), 'some records were still waiting when the store closed')
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') assert.equal((outcome.reason as ThreadsError).code, 'ERR_STORAGE_CLOSED', String(outcome.reason))
      }
    } finally {
      await carol.dispose()
    }
  })

  it('takes in records that come together as one batch, and a refused one takes no other with it', async () => {
    await carry(alice, aliceDb, bobDb)
    for (const name of ['gus', 'hal', 'ida']) await aliceDb.collection('Person').create([{ _id: name, name, age: 1 }])
    const [gus, hal, ida] = alice.peer.logs.records(aliceDb.id, aliceDb.logId!, { direction: 'backward', limit: 3 }).reverse()
    const before = bob.peer.logs.head(bobDb.id, aliceDb.logId!).counter
    const outcomes = await Promise.allSettled([
      bobDb.ingest(aliceDb.logId!, gus!.blocks),
      bobDb.ingest(aliceDb.logId!, { ...hal!.blocks, body: flipByte(hal!.blocks.body, 10) }),
      bobDb.ingest(aliceDb.logId!, ida!.blocks)
    ])
    assert.deepEqual(outcomes.map(outcome => outcome.status), ['fulfilled', 'rejected', 'rejected'])
    assert.ok((outcomes[2] as PromiseRejectedResult).reason instanceof MissingAncestorError, 'the record after the refused one waits for it')
    assert.equal(bob.peer.logs.head(bobDb.id, aliceDb.logId!).counter, before + 1)
    assert.equal((await bobDb.collection('Person').findById('gus'))?.name, 'gus')
    assert.equal(await bobDb.collection('Person').findById('hal'), undefined)
    await bobDb.ingest(aliceDb.logId!, hal!.blocks)
    await bobDb.ingest(aliceDb.logId!, ida!.blocks)
    assert.deepEqual(await people(bobDb), await people(aliceDb))
  })

  it('indexes a value another log wrote before it heard of the index, however long the value', async () => {
    await aliceDb.registerSchema('Note', { type: 'object' })
    await carry(alice, aliceDb, bobDb)
    const title = 't'.repeat(600)
    await aliceDb.collection('Note').create([{ _id: 'long', title }])
    await bobDb.registerSchema('Note', { type: 'object' }, { indexes: [{ path: 'title' }] })
    await carry(alice, aliceDb, bobDb)
    await carry(bob, bobDb, aliceDb)
    for (const db of [aliceDb, bobDb]) {
      assert.equal(db.collection('Note').plan(Query.where('title').eq(title)).using, 'index:title')
      assert.deepEqual((await db.collection('Note').find(Query.where('title').eq(title))).map(note => note._id), ['long'])
    }
  })

  it('reads a collection that declares a path twice, as earlier writers could, by its first declaration, live and on a rebuild', async () => {
    const logKey = Ed25519PrivateKey.generate()
    const events: StoreEvent[] = [
      { type: 'collection', collection: 'Twice', schema: { type: 'object' }, indexes: [{ path: 'email' }, { path: 'email', unique: true }] },
      { type: 'create', collection: 'Twice', id: 'a', patch: [{ op: 'replace', path: '', value: { _id: 'a', email: 'same' } }] },
      { type: 'create', collection: 'Twice', id: 'b', patch: [{ op: 'replace', path: '', value: { _id: 'b', email: 'same' } }] }
    ]
    const { blocks } = createRecord({ body: encodeRecordBody({ codec: 'json-patch', events }), time: { wall: Date.now(), counter: 0 }, logKey, threadKey: bobDb.key })
    await bobDb.ingest(logKey.publicKey.logId, blocks)
    assert.deepEqual(bobDb.collections().find(definition => definition.name === 'Twice')?.indexes, [{ path: 'email' }])
    assert.deepEqual((await bobDb.collection('Twice').find(Query.where('email').eq('same'))).map(row => row._id), ['a', 'b'])
    const live = dumpStore(bob.peer, ['views'])
    await bobDb.rebuild()
    assert.equal(dumpStore(bob.peer, ['views']), live)
  })

  it('names every entity it hands out by the ID it is stored under, whatever the document from elsewhere says', async () => {
    const heard: StoreChange[] = []
    const stop = bobDb.listen({ collection: 'Person', id: 'spoof' }, change => { heard.push(change) })
    const before = await bobDb.collection('Person').findById('ann')
    const logKey = Ed25519PrivateKey.generate()
    const events: StoreEvent[] = [{ type: 'create', collection: 'Person', id: 'spoof', patch: [{ op: 'replace', path: '', value: { _id: 'ann', name: 'Forged', age: 99 } }] }]
    const { blocks } = createRecord({ body: encodeRecordBody({ codec: 'json-patch', events }), time: { wall: Date.now(), counter: 0 }, logKey, threadKey: bobDb.key })
    await bobDb.ingest(logKey.publicKey.logId, blocks)
    assert.deepEqual(await bobDb.collection('Person').findById('spoof'), { _id: 'spoof', name: 'Forged', age: 99 })
    assert.deepEqual((await bobDb.collection('Person').find(Query.where('age').eq(99))).map(row => row._id), ['spoof'])
    assert.deepEqual((await bobDb.collection('Person').find(Query.where('_id').eq('ann'))).map(row => row.name), [before!.name])
    await until(() => heard.length === 1, 'the change to spoof')
    assert.equal(heard[0]!.entity?._id, 'spoof')
    stop()
  })

  it('keeps a new log\'s order for records that come while the log is being learnt', async () => {
    const carol = await tempPeer()
    try {
      const carolDb = await carol.peer.openStore(aliceDb.id, { key: aliceDb.key })
      for (const record of alice.peer.logs.records(aliceDb.id, aliceDb.logId!)) await carolDb.ingest(aliceDb.logId!, record.blocks)
      for (let i = 0; i < 20; i++) await carolDb.collection('Person').create([{ _id: `carol ${i}`, name: `carol ${i}`, age: i }])
      const records = carol.peer.logs.records(aliceDb.id, carolDb.logId!)
      // Commits in flight keep storage busy: the log becomes known when LMDB commits, before its commit resolves.
      const ingested: Array<Promise<unknown>> = Array.from({ length: 5 }, () => aliceDb.collection('Person').create([{ name: 'busy', age: 1 }]))
      for (const record of records.slice(0, 10)) ingested.push(aliceDb.ingest(carolDb.logId!, record.blocks))
      // Looked for at every turn, not on a timer: the records after it must come in the moment the log is known.
      const deadline = Date.now() + 5000
      while (!alice.peer.logs.hasLog(aliceDb.id, carolDb.logId!) && Date.now() < deadline) await new Promise(resolve => setImmediate(resolve))
      for (const record of records.slice(10)) ingested.push(aliceDb.ingest(carolDb.logId!, record.blocks))
      await within(Promise.all(ingested), 'every record taken in', 5000)
      assert.equal(alice.peer.logs.head(aliceDb.id, carolDb.logId!).counter, 20)
    } finally {
      await carol.dispose()
    }
  })
})
