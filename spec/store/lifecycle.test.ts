import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { encodeBlock } from '../../codecs/block.ts'
import { DecryptionError, MalformedBlockError, InvalidQueryError } from '../../codecs/errors.ts'
import { encodeRecordBody, parseRecordBody } from '../../codecs/event-codec.ts'
import { Query, Where } from '../../codecs/query.ts'
import { StorageClosedError, UniqueViolationError } from '../../storage/errors.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { dumpStore, tempPeer, until, within } from '../helpers/temp-peer.ts'

/** Failure and shutdown paths of the store: what happens when callbacks throw, peers close, inputs are odd. */
describe('store lifecycle and edges', () => {
  it('reports a listener whose callback throws, stops it, and lets compaction past it', async () => {
    const temp = await tempPeer()
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      const errors: unknown[] = []
      const seen: string[] = []
      db.listen({ collection: 'Note' }, change => {
        seen.push(change.id)
        throw new Error('callback broke')
      }, error => { errors.push(error) })
      await db.collection('Note').create([{ _id: 'a' }, { _id: 'b' }])
      await until(() => errors.length === 1, 'the listener error')
      assert.match(String(errors[0]), /callback broke/)
      assert.deepEqual(seen, ['a'], 'stopped at the change that threw')
      await db.collection('Note').create([{ _id: 'c' }])
      await db.snapshot()
      assert.equal(await db.compact(), 4, 'a stopped listener holds nothing back')
    } finally {
      await temp.dispose()
    }
  })

  it('closes with work waiting: what was handed over settles, the rest is refused with a typed error', async () => {
    const temp = await tempPeer()
    const db = await temp.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    let release!: () => void
    const holding = new Promise<void>(resolve => { release = resolve })
    const transaction = db.writeTransaction('Note', async () => { await holding })
    await new Promise(resolve => setTimeout(resolve, 20))
    const queued = db.collection('Note').create([{ text: 'behind the lock' }])
    const closing = temp.peer.close()
    const closed = (e: unknown): boolean => e instanceof StorageClosedError && e.code === 'ERR_STORAGE_CLOSED'
    await assert.rejects(within(queued, 'the queued write to settle'), closed)
    await assert.rejects(within(transaction, 'the open transaction to settle'), closed)
    release()
    await within(closing, 'close to finish')
    assert.equal(db.closed, true)
    await assert.rejects(db.collection('Note').create([{ text: 'after close' }]), closed)
    assert.throws(() => db.listen({}, () => {}), closed)
    await temp.dispose()
  })

  it('refuses the later reads of a read transaction left open when its peer closes', async () => {
    const temp = await tempPeer()
    const db = await temp.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    await db.collection('Note').create([{ text: 'before close' }])
    let opened!: () => void
    const reading = new Promise<void>(resolve => { opened = resolve })
    let resume!: () => void
    const holding = new Promise<void>(resolve => { resume = resolve })
    let laterRead: Promise<unknown> | undefined
    const reader = db.readTransaction('Note', async tx => {
      assert.equal((await tx.find()).length, 1)
      opened()
      await holding
      laterRead = tx.find()
      return await laterRead
    })
    await within(reading, 'the read transaction to read')
    const closing = temp.peer.close()
    const closed = (e: unknown): boolean => e instanceof StorageClosedError && e.code === 'ERR_STORAGE_CLOSED'
    await assert.rejects(within(reader, 'the open read transaction to settle'), closed)
    resume()
    await within(closing, 'close to finish')
    await until(() => laterRead !== undefined, 'the body to read again')
    await assert.rejects(laterRead!, closed)
    await temp.dispose()
  })

  it('folds a store from its logs when its views are in a layout this build does not read', async () => {
    const temp = await tempPeer({ network: false })
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Note', { type: 'object' }, { indexes: [{ path: 'n' }] })
      await db.collection('Note').create(Array.from({ length: 20 }, (_, n) => ({ _id: `note-${n}`, n })))
      const id = db.id
      const before = await db.collection('Note').find()
      // An earlier build keyed views by the thread ID, gave threads no number and stamped no layout: without a number,
      // nothing is folded here. The last number given stays, so the thread gets a new one, under which nothing was.
      const numbers = temp.peer.storage.valueDatabase<number>('thread-numbers')
      await temp.peer.storage.transaction(() => {
        for (const key of [...numbers.getKeys()]) if ((key as unknown[])[0] === 't') numbers.removeSync(key)
        temp.peer.logs.metadata.delete(id, 'derived layout')
      })
      const reopened = await (await temp.reopen()).store(id)
      assert.deepEqual(await reopened.collection('Note').find(), before)
      assert.equal(reopened.collection('Note').plan(Query.where('n').eq(3)).using, 'index:n')
      assert.deepEqual((await reopened.collection('Note').find(Query.where('n').eq(3))).map(note => note._id), ['note-3'])
    } finally {
      await temp.dispose()
    }
  })

  it('refuses to rebuild from a log whose stored bytes changed, rather than drop what they held', async () => {
    const temp = await tempPeer({ network: false })
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      await db.collection('Note').create([{ _id: 'kept' }])
      await db.collection('Note').create([{ _id: 'damaged' }])
      const records = temp.peer.storage.valueDatabase<Uint8Array[]>('log-records')
      const key = [...records.getKeys()].find(key => Array.isArray(key) && key[2] === 3)!
      const packed = records.get(key)!
      const body = Uint8Array.from(packed[7]!)
      body[body.length - 1]! ^= 1
      await temp.peer.storage.transaction(() => { records.putSync(key, [...packed.slice(0, 7), body]) })
      await assert.rejects(db.rebuild(), DecryptionError)
      assert.deepEqual((await db.collection('Note').find()).map(note => note._id).sort(), ['damaged', 'kept'])
    } finally {
      await temp.dispose()
    }
  })

  it('folds a store again once when it was laid out by a build before this one, and never when it is up to date', async () => {
    const temp = await tempPeer({ network: false })
    try {
      const db = await temp.peer.newStore()
      const id = db.id
      await db.registerSchema('Note', { type: 'object' }, { indexes: [{ path: 'n' }] })
      await db.collection('Note').create([{ _id: 'a', n: 1 }, { _id: 'b', n: 1 }])
      const thread = createThreadNumbers(temp.peer.storage).of(id)
      const views = temp.peer.storage.valueDatabase<unknown>('views')
      // An index entry an earlier build would have written elsewhere: only a fold from the logs puts it right.
      await temp.peer.storage.transaction(() => { views.removeSync(['x', thread, 'Note', 'n', 1, 'b']) })
      const ids = async (store: Store): Promise<unknown[]> => (await store.collection('Note').find(Query.where('n').eq(1))).map(note => note._id)
      assert.deepEqual(await ids(await (await temp.reopen()).store(id)), ['a'], 'up to date: opened as it is')
      await temp.peer.storage.transaction(() => { temp.peer.logs.metadata.put(id, 'derived layout', 1) })
      assert.deepEqual(await ids(await (await temp.reopen()).store(id)), ['a', 'b'], 'an earlier layout: folded again')
      assert.equal(temp.peer.logs.metadata.get(id, 'derived layout'), 2)
    } finally {
      await temp.dispose()
    }
  })

  it('stops every transaction actor once its transaction ends', async () => {
    let children: string[] = []
    const temp = await tempPeer({
      inspect: event => {
        const snapshot = (event as { snapshot?: { children?: Record<string, unknown> } }).snapshot
        if (event.type === '@xstate.snapshot' && String((event.actorRef as { id?: string }).id).startsWith('thread:')) children = Object.keys(snapshot?.children ?? {})
      }
    })
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      for (let i = 0; i < 40; i++) await db.writeTransaction('Note', async tx => { await tx.create([{ i }]) })
      for (let i = 0; i < 5; i++) await db.readTransaction('Note', async tx => await tx.find())
      await assert.rejects(db.writeTransaction('Note', async () => { throw new Error('abort') }), /abort/)
      assert.equal((await db.collection('Note').find()).length, 40)
      await until(() => !children.some(id => id.startsWith('transaction:')), 'transaction actors to be stopped')
      assert.deepEqual(children.filter(id => !id.startsWith('log:')).sort(), ['dispatcher', 'reducer'])
    } finally {
      await temp.dispose()
    }
  })

  it('refuses a unique index over values existing entities already share, and changes nothing', async () => {
    const temp = await tempPeer()
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('User', { type: 'object' })
      await db.collection('User').create([{ email: 'same@x' }, { email: 'same@x' }])
      const before = dumpStore(temp.peer)
      await assert.rejects(db.registerSchema('User', { type: 'object' }, { indexes: [{ path: 'email', unique: true }] }), (e: unknown) =>
        e instanceof UniqueViolationError && e.code === 'ERR_UNIQUE_VIOLATION' && e.path === 'email')
      assert.equal(dumpStore(temp.peer), before)
      assert.deepEqual(db.collections().find(collection => collection.name === 'User')?.indexes, [])
      await db.registerSchema('User', { type: 'object' }, { indexes: [{ path: 'email' }] })
      assert.equal(db.collection('User').plan(Query.where('email').eq('same@x')).using, 'index:email')
    } finally {
      await temp.dispose()
    }
  })

  it('builds a unique index over existing entities, and holds later writes to it, across a reopen', async () => {
    const temp = await tempPeer()
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('User', { type: 'object' })
      const [ada] = await db.collection('User').create([{ email: 'ada@x' }, { email: 'bob@x' }, { name: 'no email' }])
      await db.registerSchema('User', { type: 'object' }, { indexes: [{ path: 'email', unique: true }] })
      const holds = async (store: typeof db): Promise<void> => {
        const users = store.collection('User')
        assert.equal(users.plan(Query.where('email').eq('ada@x')).using, 'index:email')
        assert.deepEqual((await users.find(Query.where('email').eq('ada@x'))).map(user => user._id), [ada])
        const before = dumpStore(temp.peer)
        await assert.rejects(users.create([{ email: 'ada@x' }]), (e: unknown) => e instanceof UniqueViolationError && e.path === 'email')
        await assert.rejects(users.save([{ _id: ada!, email: 'bob@x' }]), UniqueViolationError)
        assert.equal(dumpStore(temp.peer), before)
      }
      await holds(db)
      await holds(await (await temp.reopen()).store(db.id))
    } finally {
      await temp.dispose()
    }
  })

  it('answers range queries over non-ASCII text the same through an index and by scanning', async () => {
    const temp = await tempPeer()
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Word', { type: 'object' }, { indexes: [{ path: 'text' }] })
      await db.registerSchema('Plain', { type: 'object' })
      const words = ['apple', 'zebra', 'é', '中文', '\uE000', '😀', '😀z', 'ÿ']
      await db.collection('Word').create(words.map(text => ({ text })))
      await db.collection('Plain').create(words.map(text => ({ text })))
      for (const query of [Query.where('text').lt('\uE000'), Query.where('text').gt('😀'), Query.where('text').ge('é'), Query.where('text').le('中文')]) {
        const indexed = (await db.collection('Word').find(query)).map(w => w.text).sort()
        const scanned = (await db.collection('Plain').find(query)).map(w => w.text).sort()
        assert.equal(db.collection('Word').plan(query).using, 'index:text')
        assert.deepEqual(indexed, scanned, JSON.stringify(query.toJSON()))
      }
    } finally {
      await temp.dispose()
    }
  })

  it('keeps one zero: -0 is stored and found as 0', async () => {
    const temp = await tempPeer()
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('N', { type: 'object' }, { indexes: [{ path: 'n' }] })
      await db.collection('N').create([{ _id: 'z', n: -0 }])
      assert.ok(Object.is((await db.collection('N').findById('z'))!.n, 0))
      assert.deepEqual((await db.collection('N').find(Query.where('n').eq(0))).map(e => e._id), ['z'])
    } finally {
      await temp.dispose()
    }
  })

  it('refuses queries that compare nothing or carry unknown fields', () => {
    assert.throws(() => Query.parse(Query.where('age')), (e: unknown) => e instanceof InvalidQueryError && /no comparison/.test((e as Error).message))
    assert.throws(() => Query.parse(new Where('age')), InvalidQueryError)
    assert.throws(() => Query.parse({ where: { age: 1 } }), (e: unknown) => e instanceof InvalidQueryError && /unknown query fields: where/.test((e as Error).message))
  })

  it('refuses record bodies with malformed collection indexes or another codec', () => {
    const body = (events: unknown[]): unknown => encodeRecordBody({ codec: 'json-patch', events: events as never })
    for (const indexes of [[null], [{}], [{ path: '' }], [{ path: 'a..b' }], [{ path: 'a', unique: 'yes' }]]) {
      assert.throws(() => parseRecordBody(body([{ type: 'collection', collection: 'C', schema: {}, indexes }])), MalformedBlockError, JSON.stringify(indexes))
    }
    assert.throws(() => parseRecordBody({ codec: 'json-patch', events: encodeBlock([]).bytes.subarray(0, 0) }), MalformedBlockError)
  })

  it('refuses record bodies holding what no view or key can keep as written: a lone surrogate, a field named __proto__, a long invite ID with U+0000–U+0004', () => {
    const raw = (json: string): unknown => ({ codec: 'json-patch', events: new TextEncoder().encode(json) })
    const create = (value: string): string => `[{"type":"create","collection":"C","id":"a","patch":[{"op":"replace","path":"","value":${value}}]}]`
    for (const json of [
      create('{"note":"\\ud800"}'),
      create('{"\\udfff":1}'),
      create('{"__proto__":{"x":1}}'),
      create('{"nested":{"\\u005f_proto__":1}}'),
      '[{"type":"delete","collection":"C","id":"\\ud800"}]',
      '[{"type":"delete","collection":"\\udc00","id":"a"}]'
    ]) {
      assert.throws(() => parseRecordBody(raw(json)), MalformedBlockError, json)
    }
    assert.throws(() => parseRecordBody({ codec: 'json-patch', events: new TextEncoder().encode('[]'), control: new TextEncoder().encode('[{"type":"invite","id":"\\ud800"}]') }), MalformedBlockError)
    // Invite IDs and peers become parts of keys: 64 units with U+0000–U+0004 in them a key does not keep as written.
    const invite = { type: 'invite', id: `${'x'.repeat(63)}\u0001`, invitee: 'p', role: 'read', expires: 1, tokenHash: 'ab' }
    assert.throws(() => parseRecordBody({ codec: 'json-patch', events: new TextEncoder().encode('[]'), control: new TextEncoder().encode(JSON.stringify([invite])) }), MalformedBlockError)
    // Escapes are fine where they stand for what UTF-8 carries: a whole pair, or a control character.
    const fine = parseRecordBody(raw(create('{"smile":"\\ud83d\\ude00","tab":"\\u0009","proto":"__proto__"}')))
    assert.deepEqual(fine.events[0], { type: 'create', collection: 'C', id: 'a', patch: [{ op: 'replace', path: '', value: { smile: '😀', tab: '\t', proto: '__proto__' } }] })
  })
})
