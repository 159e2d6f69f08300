import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { Query, Where } from '../../codecs/query.ts'
import { dumpStore, tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe('store key-value interface', () => {
  let temp: TempPeer
  let db: Store

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
  })

  after(async () => {
    await temp?.dispose()
  })

  it('gets back what was put, for every kind of JSON value', async () => {
    const kv = db.kv('values')
    const values = {
      string: 'text',
      empty: '',
      number: 42.5,
      zero: 0,
      negative: -7,
      yes: true,
      no: false,
      nothing: null,
      list: [1, 'two', { three: 3 }, [4]],
      object: { nested: { deeper: ['a', null] }, n: 1 }
    }
    for (const [key, value] of Object.entries(values)) await kv.put(key, value)
    for (const [key, value] of Object.entries(values)) assert.deepEqual(await kv.get(key), value, key)
    assert.equal(await kv.get('never-put'), undefined)
  })

  it('answers undefined, and writes nothing, for a name never used', async () => {
    const before = dumpStore(temp.peer)
    assert.equal(await db.kv('unused').get('anything'), undefined)
    await db.kv('unused').del('anything')
    assert.equal(dumpStore(temp.peer), before)
  })

  it('overwrites a key', async () => {
    const kv = db.kv('overwrite')
    await kv.put('k', 1)
    await kv.put('k', { now: 'an object' })
    assert.deepEqual(await kv.get('k'), { now: 'an object' })
    await kv.put('k', 'last')
    assert.equal(await kv.get('k'), 'last')
  })

  it('deletes a key, and deleting a missing key is a no-op', async () => {
    const kv = db.kv('delete')
    await kv.put('a', 1)
    await kv.put('b', 2)
    await kv.del('a')
    assert.equal(await kv.get('a'), undefined)
    assert.equal(await kv.get('b'), 2)
    const before = dumpStore(temp.peer)
    await kv.del('a')
    await kv.del('missing')
    assert.equal(dumpStore(temp.peer), before)
    await kv.put('a', 'again')
    assert.equal(await kv.get('a'), 'again')
  })

  it('keeps names apart, from each other and from document stores', async () => {
    await db.kv('left').put('k', 'left')
    await db.kv('right').put('k', 'right')
    await db.documents('left').put({ _id: 'k', side: 'documents' })
    assert.equal(await db.kv('left').get('k'), 'left')
    assert.equal(await db.kv('right').get('k'), 'right')
    assert.deepEqual(await db.documents('left').get('k'), { _id: 'k', side: 'documents' })
    await db.kv('left').del('k')
    assert.equal(await db.kv('right').get('k'), 'right')
    assert.deepEqual(await db.documents('left').get('k'), { _id: 'k', side: 'documents' })
  })

  it('applies puts and deletes in the order they were called, the first ones into a new name too', async () => {
    for (const name of ['order', 'order-new']) {
      const kv = db.kv(name)
      if (name === 'order') await kv.put('other', 0)
      const calls = [kv.put('a', 1), kv.del('a'), kv.put('b', 1), kv.del('b'), kv.put('b', 2), kv.del('missing')]
      await Promise.all(calls)
      assert.equal(await kv.get('a'), undefined, name)
      assert.equal(await kv.get('b'), 2, name)
    }
    const docs = db.documents('order')
    const [key] = await Promise.all([docs.put({ title: 'gone' }), docs.del('not-yet')])
    await Promise.all([docs.del(key), docs.put({ _id: key, title: 'back' })])
    assert.deepEqual(await docs.get(key), { _id: key, title: 'back' })
  })

  it('deletes one key twice at once, and a key a transaction deletes meanwhile, without an error', async () => {
    const kv = db.kv('twice')
    await kv.put('a', 1)
    await kv.put('b', 1)
    const outcomes = await Promise.allSettled([
      kv.del('a'),
      kv.del('a'),
      db.writeTransaction('kv:twice', async tx => { await tx.delete(['b']) }),
      kv.del('b')
    ])
    assert.deepEqual(outcomes.map(outcome => outcome.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
    assert.deepEqual([await kv.get('a'), await kv.get('b')], [undefined, undefined])
  })

  it('refuses a put it cannot store, and then has registered nothing', async () => {
    const before = dumpStore(temp.peer)
    const fresh = db.kv('refused')
    await assert.rejects(fresh.put('k', undefined as never), { code: 'ERR_SCHEMA_VIOLATION' })
    await assert.rejects(fresh.put('k'.repeat(600), 1), { code: 'ERR_SCHEMA_VIOLATION' })
    await assert.rejects(fresh.put('k', 'x'.repeat(5 * 1024 * 1024)), { code: 'ERR_BLOCK_TOO_LARGE' })
    assert.equal(dumpStore(temp.peer), before)
    // Writes that waited on a refused registration go on with their own.
    const outcomes = await Promise.allSettled([fresh.put('k', Number.NaN), fresh.put('k', 1), fresh.put('j', 2)])
    assert.deepEqual(outcomes.map(outcome => outcome.status), ['rejected', 'fulfilled', 'fulfilled'])
    assert.deepEqual([await fresh.get('k'), await fresh.get('j')], [1, 2])
  })

  it('answers a key too long for any entry as missing, and a query on one through the index', async () => {
    const kv = db.kv('long')
    await kv.put('short', 1)
    const long = 'k'.repeat(5000)
    assert.equal(await kv.get(long), undefined)
    await kv.del(long)
    await db.registerSchema('Keyed', { type: 'object' }, { indexes: [{ path: 'name' }] })
    const keyed = db.collection('Keyed')
    await keyed.create([{ _id: 'a', name: 'a' }])
    assert.equal(await keyed.findById(long), undefined)
    assert.equal(await keyed.has([long]), false)
    assert.equal(keyed.plan(Query.where('name').eq(long)).using, 'index:name')
    assert.deepEqual(await keyed.find(Query.where('name').eq(long)), [])
    assert.deepEqual((await keyed.find(Query.where('name').lt(long))).map(row => row._id), ['a'])
    await assert.rejects(db.collection('C'.repeat(5000)).findById('a'), { code: 'ERR_UNKNOWN_COLLECTION' })
  })

  it('keeps a copy of what it is handed: changing the value afterwards changes nothing stored', async () => {
    const kv = db.kv('copies')
    const value = { n: 1, list: [1] }
    const put = kv.put('k', value)
    value.n = 2
    value.list.push(2)
    await put
    assert.deepEqual(await kv.get('k'), { n: 1, list: [1] })
  })

  it('takes concurrent puts into a new name', async () => {
    const kv = db.kv('concurrent')
    await Promise.all(Array.from({ length: 10 }, (_, i) => kv.put(`k${i}`, i)))
    for (let i = 0; i < 10; i++) assert.equal(await kv.get(`k${i}`), i)
  })

  it('tells listeners about its changes', async () => {
    const kv = db.kv('heard')
    await kv.put('k', 0)
    const changes: string[] = []
    const stop = db.listen({ collection: 'kv:heard' }, change => { changes.push(`${change.action} ${change.id} ${JSON.stringify(change.entity?.value)}`) })
    await kv.put('k', 1)
    await kv.put('j', 2)
    await kv.del('k')
    await until(() => changes.length >= 3, `3 key-value changes (got ${changes.length})`)
    stop()
    assert.deepEqual(changes, ['save k 1', 'create j 2', 'delete k undefined'])
  })

  it('survives a restart', async () => {
    await db.kv('durable').put('k', { v: 1 })
    const peer = await temp.reopen()
    db = await peer.store(db.id)
    assert.deepEqual(await db.kv('durable').get('k'), { v: 1 })
    assert.equal(await db.kv('values').get('string'), 'text')
    await db.kv('durable').put('k', { v: 2 })
    assert.deepEqual(await db.kv('durable').get('k'), { v: 2 })
  })
})

describe('store document interface', () => {
  let temp: TempPeer
  let db: Store

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
  })

  after(async () => {
    await temp?.dispose()
  })

  it('stores a document, assigning a key when it has none or an empty one, and gets it back', async () => {
    const docs = db.documents('notes')
    const first = await docs.put({ title: 'first', body: { text: 'hello' } })
    const second = await docs.put({ _id: '', title: 'second' })
    const third = await docs.put({ _id: 'third', title: 'third' })
    assert.match(first, UUID)
    assert.match(second, UUID)
    assert.notEqual(first, second)
    assert.equal(third, 'third')
    assert.deepEqual(await docs.get(first), { _id: first, title: 'first', body: { text: 'hello' } })
    assert.deepEqual(await docs.get(second), { _id: second, title: 'second' })
    assert.deepEqual(await docs.get('third'), { _id: 'third', title: 'third' })
    assert.equal(await docs.get('missing'), undefined)
  })

  it('replaces a document put again under its key', async () => {
    const docs = db.documents('replace')
    const key = await docs.put({ title: 'draft', tags: ['a'] })
    assert.equal(await docs.put({ _id: key, title: 'final' }), key)
    assert.deepEqual(await docs.get(key), { _id: key, title: 'final' })
    assert.equal((await docs.query()).length, 1)
  })

  it('deletes a document, and deleting a missing one is a no-op', async () => {
    const docs = db.documents('delete')
    const key = await docs.put({ title: 'doomed' })
    await docs.del(key)
    assert.equal(await docs.get(key), undefined)
    assert.deepEqual(await docs.query(), [])
    const before = dumpStore(temp.peer)
    await docs.del(key)
    await docs.del('never-there')
    await db.documents('never-used').del('x')
    assert.equal(dumpStore(temp.peer), before)
  })

  it('refuses what is not a document, or an ID that is not a string, and registers nothing', async () => {
    const before = dumpStore(temp.peer)
    const fresh = db.documents('refused')
    for (const document of [null, [1, 2], 'abc', 7, { _id: 5, title: 'numbered' }, { _id: 'x'.repeat(600) }, { when: new Date(0) }]) {
      await assert.rejects(fresh.put(document as never), { name: 'SchemaViolationError', code: 'ERR_SCHEMA_VIOLATION' }, JSON.stringify(document))
    }
    assert.equal(dumpStore(temp.peer), before)
    assert.equal(db.collections().some(definition => definition.name === 'documents:refused'), false)
  })

  it('queries documents with criteria, order, skip and limit', async () => {
    const docs = db.documents('people')
    await docs.put({ _id: 'd1', name: 'Ann', age: 64, address: { city: 'Oslo' } })
    await docs.put({ _id: 'd2', name: 'Bob', age: 67, address: { city: 'Lima' } })
    await docs.put({ _id: 'd3', name: 'Cy', age: 59 })
    await docs.put({ _id: 'd4', name: 'Dee', age: 60, address: { city: 'Oslo' } })
    await docs.put({ _id: 'd5', name: 'Eve', age: '61' })
    const paper = Query.where('age').ge(60).and('age').lt(66).or(new Where('age').eq(67))
    assert.deepEqual((await docs.query(paper.orderBy('age'))).map(doc => doc._id), ['d4', 'd1', 'd2'])
    assert.deepEqual((await docs.query(Query.where('address.city').eq('Oslo').orderByDesc('name'))).map(doc => doc._id), ['d4', 'd1'])
    assert.deepEqual((await docs.query(new Query().orderBy('name').skip(1).limit(2))).map(doc => doc._id), ['d2', 'd3'])
    assert.deepEqual((await docs.query(Query.where('age').gt(3))).map(doc => doc._id).sort(), ['d1', 'd2', 'd3', 'd4'])
    assert.equal((await docs.query()).length, 5)
    assert.deepEqual(await db.documents('never-used').query(Query.where('age').gt(3)), [])
  })

  it('survives a restart', async () => {
    const key = await db.documents('durable').put({ title: 'kept' })
    const peer = await temp.reopen()
    db = await peer.store(db.id)
    assert.deepEqual(await db.documents('durable').get(key), { _id: key, title: 'kept' })
    assert.deepEqual((await db.documents('people').query(Query.where('name').eq('Bob'))).map(doc => doc._id), ['d2'])
  })
})
