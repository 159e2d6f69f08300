import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { NestedWriteError, SchemaViolationError } from '../../storage/errors.ts'
import { dumpStore, tempPeer, within, type TempPeer } from '../helpers/temp-peer.ts'

describe('guards around the write path', () => {
  let temp: TempPeer
  let db: Store

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
  })

  after(async () => { await temp.dispose() })

  it('lets a write scheduled from a transaction body run once the transaction has ended', async () => {
    let later: Promise<unknown> | undefined
    await db.writeTransaction('Note', async tx => {
      await tx.create([{ text: 'inside' }])
      later = new Promise(resolve => setTimeout(resolve, 10)).then(async () => await db.collection('Note').create([{ text: 'after' }]))
    })
    await within(later!, 'the write scheduled from the body')
    const texts = (await db.collection('Note').find()).map(note => note.text).sort()
    await db.collection('Note').delete((await db.collection('Note').find()).map(note => note._id as string))
    assert.deepEqual(texts, ['after', 'inside'])
  })

  it('refuses a write that bypasses the transaction from inside its body, instead of waiting forever', async () => {
    const notes = db.collection('Note')
    const before = dumpStore(temp.peer)
    await assert.rejects(within(db.writeTransaction('Note', async tx => {
      await tx.create([{ text: 'through the transaction' }])
      await notes.create([{ text: 'around it' }])
    }), 'the transaction to settle'), (e: unknown) => e instanceof NestedWriteError && e.code === 'ERR_NESTED_WRITE')
    await assert.rejects(within(db.writeTransaction('Note', async () => {
      await db.writeTransaction('Note', async tx => { await tx.create([{ text: 'nested' }]) })
    }), 'the transaction to settle'), NestedWriteError)
    assert.equal(dumpStore(temp.peer), before)
    await within(notes.create([{ text: 'the thread still works' }]), 'a write after the refusals')
    const reads = await db.writeTransaction('Note', async () => await db.readTransaction('Note', async tx => await tx.find()))
    assert.equal(reads.length, 1, 'a read transaction inside a write transaction is fine')
  })

  it('refuses entities that are not plain JSON, naming where, and changes nothing', async () => {
    const notes = db.collection('Note')
    const before = dumpStore(temp.peer)
    for (const [entity, where] of [
      [{ when: new Date(0) }, '/when is Date'],
      [{ nested: { count: Number.NaN } }, '/nested/count is NaN'],
      [{ list: [1, undefined] }, '/list/1 is undefined'],
      [{ map: new Map() }, '/map is Map'],
      [{ note: 'a\ud800b' }, '/note holds a lone surrogate, which UTF-8 cannot carry'],
      [{ list: ['\udc00'] }, '/list/0 holds a lone surrogate, which UTF-8 cannot carry'],
      [JSON.parse('{"nested":{"__proto__":{"x":1}}}'), '/nested/__proto__ is a field name that cannot be stored as written'],
      [{ ['\ud83d']: 1 }, '/\ufffd is a field name that cannot be stored as written']
    ] as const) {
      await assert.rejects(notes.create([entity as never]), (e: unknown) =>
        e instanceof SchemaViolationError && e.code === 'ERR_SCHEMA_VIOLATION' && e.problems[0] === where, where)
    }
    assert.equal(dumpStore(temp.peer), before)
  })

  it('refuses an ID or a name a key could not hold as it is: 64 characters or more with U+0000–U+0004 in them', async () => {
    const notes = db.collection('Note')
    const before = dumpStore(temp.peer)
    await assert.rejects(notes.create([{ _id: `${'i'.repeat(70)}\u0001` }]), SchemaViolationError)
    await assert.rejects(db.kv('marks').put(`${'k'.repeat(63)}\u0000`, 1), SchemaViolationError)
    await assert.rejects(db.registerSchema(`${'C'.repeat(64)}\u0002`, { type: 'object' }), { code: 'ERR_INVALID_SCHEMA' })
    assert.equal(dumpStore(temp.peer), before)
    const [short] = await notes.create([{ _id: 'i\u0001' }])
    assert.equal((await notes.findById(short!))?._id, 'i\u0001', 'a shorter one is escaped in its key, and kept')
  })

  it('registers a key-value collection once however many first writes race to it', async () => {
    const kv = db.kv('race')
    const recordsBefore = temp.peer.logs.head(db.id, db.logId!).counter
    await Promise.all(Array.from({ length: 10 }, (_, i) => kv.put(`k${i}`, i)))
    const records = temp.peer.logs.head(db.id, db.logId!).counter - recordsBefore
    assert.equal(records, 10, 'the registration with the first put, nine puts')
    assert.equal(db.collections().filter(definition => definition.name === 'kv:race').length, 1)
  })
})
