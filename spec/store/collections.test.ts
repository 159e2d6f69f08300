import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { Query } from '../../codecs/query.ts'
import { tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const personSchema = {
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
    address: { type: 'object', properties: { city: { type: 'string' } } }
  },
  required: ['name', 'age']
}

/** The paper's Person: its schema names `ID`, so entities are identified by `ID`. */
const paperPersonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    ID: { type: 'string' },
    firstName: { type: 'string' },
    lastName: { type: 'string' },
    age: { type: 'integer', minimum: 0 }
  },
  required: ['firstName', 'age']
}

const byId = (a: { _id?: unknown }, b: { _id?: unknown }): number => String(a._id) < String(b._id) ? -1 : String(a._id) > String(b._id) ? 1 : 0

describe('store collections', () => {
  let temp: TempPeer
  let db: Store

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Person', personSchema, { indexes: [{ path: 'age' }] })
    await db.registerSchema('PaperPerson', paperPersonSchema)
  })

  after(async () => {
    await temp?.dispose()
  })

  it('assigns an ID to every entity that has none or an empty one, and keeps the ones given', async () => {
    const people = db.collection('Person')
    const ids = await people.create([
      { name: 'no id', age: 30 },
      { _id: '', name: 'empty id', age: 31 },
      { _id: 'given-1', name: 'given id', age: 32 }
    ])
    assert.equal(ids.length, 3)
    assert.match(ids[0]!, UUID)
    assert.match(ids[1]!, UUID)
    assert.notEqual(ids[0], ids[1])
    assert.equal(ids[2], 'given-1')
    assert.deepEqual(await people.findById(ids[0]!), { _id: ids[0], name: 'no id', age: 30 })
    assert.deepEqual(await people.findById(ids[1]!), { _id: ids[1], name: 'empty id', age: 31 })
    assert.deepEqual(await people.findById('given-1'), { _id: 'given-1', name: 'given id', age: 32 })
  })

  it('identifies entities by `_id` by default and by `ID` when the schema names it', async () => {
    const paper = db.collection('PaperPerson')
    const [generated] = await paper.create([{ firstName: 'John', lastName: 'Doe', age: 21 }])
    const [given] = await paper.create([{ ID: 'jane', firstName: 'Jane', age: 22 }])
    assert.match(generated!, UUID)
    assert.equal(given, 'jane')
    const john = await paper.findById(generated!)
    assert.deepEqual(john, { ID: generated, firstName: 'John', lastName: 'Doe', age: 21 })
    assert.equal('_id' in john!, false, 'an ID-schema entity gets no `_id`')
    assert.equal(await paper.has([generated!, 'jane']), true)

    await paper.save([{ ID: 'jane', firstName: 'Jane', lastName: 'Roe', age: 23 }])
    assert.deepEqual(await paper.findById('jane'), { ID: 'jane', firstName: 'Jane', lastName: 'Roe', age: 23 })
    await paper.update(generated!, draft => { draft.age = 22 })
    assert.equal((await paper.findById(generated!))?.age, 22)
    await paper.delete(['jane'])
    assert.equal(await paper.has(['jane']), false)
    assert.deepEqual((await paper.find()).map(person => person.ID), [generated])
  })

  it('saves whole entities: fields left out of the saved entity are gone', async () => {
    const people = db.collection('Person')
    const [id] = await people.create([{ name: 'Ann', age: 40, tags: ['a'], address: { city: 'Oslo' } }])
    await people.save([{ _id: id!, name: 'Ann B', age: 41 }])
    assert.deepEqual(await people.findById(id!), { _id: id, name: 'Ann B', age: 41 })
  })

  it('saves several entities at once', async () => {
    const people = db.collection('Person')
    const ids = await people.create([{ name: 's1', age: 1 }, { name: 's2', age: 2 }])
    await people.save([{ _id: ids[0]!, name: 's1', age: 11 }, { _id: ids[1]!, name: 's2', age: 12 }])
    assert.deepEqual((await people.findById(ids[0]!))?.age, 11)
    assert.deepEqual((await people.findById(ids[1]!))?.age, 12)
  })

  it('updates through an immer draft, nested fields and arrays included', async () => {
    const people = db.collection<{ _id?: string, name: string, age: number, tags?: string[], address?: { city: string } }>('Person')
    const [id] = await people.create([{ name: 'Bo', age: 50, tags: ['x'], address: { city: 'Rome' } }])
    await people.update(id!, draft => {
      draft.age += 1
      draft.tags!.push('y')
      draft.address!.city = 'Milan'
      delete draft.tags
      draft.tags = ['z']
    })
    assert.deepEqual(await people.findById(id!), { _id: id, name: 'Bo', age: 51, tags: ['z'], address: { city: 'Milan' } })
    await people.update(id!, draft => { draft.tags!.unshift('first') })
    assert.deepEqual((await people.findById(id!))?.tags, ['first', 'z'])
    // An update that changes nothing is fine and leaves the entity as it was.
    await people.update(id!, () => {})
    assert.deepEqual(await people.findById(id!), { _id: id, name: 'Bo', age: 51, tags: ['first', 'z'], address: { city: 'Milan' } })
  })

  it('answers has for every ID given: true only when all exist', async () => {
    const people = db.collection('Person')
    const ids = await people.create([{ name: 'h1', age: 5 }, { name: 'h2', age: 6 }])
    assert.equal(await people.has(ids), true)
    assert.equal(await people.has([ids[0]!]), true)
    assert.equal(await people.has([ids[0]!, 'missing']), false)
    assert.equal(await people.has(['missing']), false)
    assert.equal(await people.findById('missing'), undefined)
  })

  it('deletes: a deleted entity is gone from has, findById and find (indexed or not)', async () => {
    const people = db.collection('Person')
    const ids = await people.create([{ name: 'd1', age: 77 }, { name: 'd2', age: 77 }, { name: 'd3', age: 78 }])
    await people.delete([ids[0]!, ids[2]!])
    assert.equal(await people.has([ids[0]!]), false)
    assert.equal(await people.has([ids[2]!]), false)
    assert.equal(await people.has([ids[1]!]), true)
    assert.equal(await people.findById(ids[0]!), undefined)
    const all = (await people.find()).map(person => person._id)
    assert.equal(all.includes(ids[0]!), false)
    assert.equal(all.includes(ids[2]!), false)
    assert.equal(all.includes(ids[1]!), true)
    assert.equal(people.plan(Query.where('age').eq(77)).using, 'index:age')
    assert.deepEqual((await people.find(Query.where('age').eq(77))).map(person => person._id), [ids[1]])
    assert.deepEqual(await people.find(Query.where('age').ge(78).and('age').le(78)), [])
    assert.deepEqual((await people.find(Query.where('name').eq('d1'))), [])
  })

  it('creates an entity again under the ID of a deleted one', async () => {
    const people = db.collection('Person')
    await people.create([{ _id: 'phoenix', name: 'first life', age: 1, tags: ['old'] }])
    await people.delete(['phoenix'])
    await people.create([{ _id: 'phoenix', name: 'second life', age: 2 }])
    assert.deepEqual(await people.findById('phoenix'), { _id: 'phoenix', name: 'second life', age: 2 })
    assert.deepEqual((await people.find(Query.where('age').eq(1))).filter(person => person._id === 'phoenix'), [])
    assert.deepEqual((await people.find(Query.where('age').eq(2))).filter(person => person._id === 'phoenix').length, 1)
  })

  it('hands out copies: changing what find returned changes nothing stored', async () => {
    const people = db.collection('Person')
    const [id] = await people.create([{ name: 'copy', age: 9, tags: ['t'] }])
    const found = await people.findById(id!)
    ;(found!.tags as string[]).push('mutated')
    found!.age = 99
    assert.deepEqual(await people.findById(id!), { _id: id, name: 'copy', age: 9, tags: ['t'] })
  })

  it('lists the collections with their schemas and indexes', () => {
    const definitions = db.collections()
    const person = definitions.find(definition => definition.name === 'Person')
    assert.ok(person !== undefined)
    assert.deepEqual(person.schema, personSchema)
    assert.deepEqual(person.indexes, [{ path: 'age', unique: false }])
    assert.ok(definitions.some(definition => definition.name === 'PaperPerson'))
  })
})

describe('store collections across a restart', () => {
  let temp: TempPeer

  before(async () => {
    temp = await tempPeer()
  })

  after(async () => {
    await temp?.dispose()
  })

  it('brings back every store, collection, entity, deletion and index after reopening the path', async () => {
    const db = await temp.peer.newStore()
    await db.registerSchema('Person', personSchema, { indexes: [{ path: 'age' }, { path: 'name', unique: true }] })
    await db.registerSchema('PaperPerson', paperPersonSchema)
    const people = db.collection('Person')
    const ids = await people.create([
      { name: 'kept', age: 20, address: { city: 'Paris' } },
      { name: 'saved', age: 21 },
      { name: 'updated', age: 22, tags: ['a'] },
      { name: 'deleted', age: 23 }
    ])
    await people.save([{ _id: ids[1]!, name: 'saved', age: 31 }])
    await people.update(ids[2]!, draft => { (draft.tags as string[]).push('b') })
    await people.delete([ids[3]!])
    await db.collection('PaperPerson').create([{ ID: 'john', firstName: 'John', age: 21 }])
    await db.kv('settings').put('theme', 'dark')
    const storeId = db.id.toString()
    const logId = db.logId!
    const everyone = (await people.find()).sort(byId)
    const definitions = db.collections()

    const peer = await temp.reopen()
    assert.deepEqual(peer.stores().map(id => id.toString()), [storeId])
    const again = await peer.store(storeId)
    assert.equal(again.logId, logId)
    assert.deepEqual(again.collections(), definitions)
    const reopened = again.collection('Person')
    assert.deepEqual((await reopened.find()).sort(byId), everyone)
    assert.deepEqual(await reopened.findById(ids[0]!), { _id: ids[0], name: 'kept', age: 20, address: { city: 'Paris' } })
    assert.deepEqual(await reopened.findById(ids[1]!), { _id: ids[1], name: 'saved', age: 31 })
    assert.deepEqual(await reopened.findById(ids[2]!), { _id: ids[2], name: 'updated', age: 22, tags: ['a', 'b'] })
    assert.equal(await reopened.has([ids[3]!]), false)
    assert.equal(reopened.plan(Query.where('age').gt(20)).using, 'index:age')
    assert.deepEqual((await reopened.find(Query.where('age').gt(20).orderBy('age'))).map(person => person.name), ['updated', 'saved'])
    assert.deepEqual(await again.collection('PaperPerson').findById('john'), { ID: 'john', firstName: 'John', age: 21 })
    assert.equal(await again.kv('settings').get('theme'), 'dark')

    // The store keeps working after the restart: writes append to the same log, checks still hold.
    const [later] = await reopened.create([{ name: 'after restart', age: 40 }])
    assert.equal((await reopened.findById(later!))?.name, 'after restart')
    await assert.rejects(reopened.create([{ name: 'kept', age: 1 }]), { code: 'ERR_UNIQUE_VIOLATION' })
    // Two definitions, four writes to Person, one to PaperPerson, the key-value collection registered with its
    // first put, and the create after the restart.
    assert.equal(peer.logs.records(again.id, logId).length, 9)

    const third = await temp.reopen()
    const store = await third.store(storeId)
    assert.equal((await store.collection('Person').find()).length, everyone.length + 1)
  })
})
