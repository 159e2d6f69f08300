import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Collection, Store } from '../../actors/store.ts'
import { InvalidQueryError, ThreadsError } from '../../codecs/errors.ts'
import type { Entity } from '../../codecs/event-codec.ts'
import { Query, type Comparable, type QueryJSON } from '../../codecs/query.ts'
import {
  EntityExistsError, EntityNotFoundError, InvalidSchemaError, SchemaViolationError, UniqueViolationError, UnknownCollectionError
} from '../../storage/errors.ts'
import { createEventStore } from '../../storage/event-store.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { dumpStore, tempPeer, until, within, type TempPeer } from '../helpers/temp-peer.ts'

type ErrorClass = (abstract new (...args: never[]) => ThreadsError) & { readonly code: string, readonly name: string }

const personSchema = {
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string', minLength: 1 },
    email: { type: 'string' },
    age: { type: 'integer', minimum: 0 }
  },
  required: ['name', 'age'],
  additionalProperties: false
}

describe('store bad input', () => {
  let temp: TempPeer
  let db: Store
  let people: Collection
  const changes: string[] = []
  let stopListening: () => void = () => {}

  const records = (): number => temp.peer.logs.records(db.id, db.logId!).length

  /** Writes a marker and waits until the listener has heard it: every change before it has been heard too. */
  const heardUpTo = async (): Promise<string> => {
    const [id] = await db.collection('Marker').create([{}])
    const marker = `Marker create ${id}`
    await until(() => changes.at(-1) === marker, 'the listener to hear the marker')
    return marker
  }

  /**
   * Runs `action`, which must fail with `Expected` (by class and by code), and checks that it changed nothing at
   * all: not a view, an index, an event, a record or a head, and that no listener heard of it.
   */
  const refused = async (Expected: ErrorClass, action: () => Promise<unknown> | unknown): Promise<ThreadsError> => {
    await heardUpTo()
    const heard = changes.length
    const before = dumpStore(temp.peer)
    const recordsBefore = records()
    let caught: unknown
    try {
      await action()
    } catch (error) {
      caught = error
    }
    assert.ok(caught !== undefined, `expected ${Expected.name}, but the call succeeded`)
    assert.ok(caught instanceof Expected, `expected ${Expected.name}, got ${String(caught)}`)
    assert.equal((caught as ThreadsError).code, Expected.code)
    assert.equal(dumpStore(temp.peer), before, 'the store changed')
    assert.equal(records(), recordsBefore)
    // The next write is heard right after what was heard before: the refused one never was.
    const marker = await heardUpTo()
    assert.deepEqual(changes.slice(heard), [marker], 'a listener heard of a refused write')
    return caught as ThreadsError
  }

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Person', personSchema, { indexes: [{ path: 'age' }, { path: 'email', unique: true }] })
    await db.registerSchema('Marker', { type: 'object' })
    people = db.collection('Person')
    await people.create([
      { _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 30 },
      { _id: 'bob', name: 'Bob', email: 'bob@example.com', age: 40 },
      { _id: 'cy', name: 'Cy', age: 50 }
    ])
    stopListening = db.listen({}, change => { changes.push(`${change.collection} ${change.action} ${change.id}`) })
  })

  after(async () => {
    stopListening()
    await temp?.dispose()
  })

  describe('schema violations', () => {
    it('refuses a create that breaks the schema, with the problems named', async () => {
      const error = await refused(SchemaViolationError, () => people.create([{ name: 'Dee', age: -1 }]))
      assert.ok((error as SchemaViolationError).problems.some(problem => problem.includes('/age')))
      await refused(SchemaViolationError, () => people.create([{ name: 'Dee' }]))
      await refused(SchemaViolationError, () => people.create([{ name: 'Dee', age: 'old' }]))
      await refused(SchemaViolationError, () => people.create([{ name: 'Dee', age: 3, extra: true }]))
      await refused(SchemaViolationError, () => people.create([{ name: '', age: 3 }]))
    })

    it('refuses a multi-entity create whose last entity alone is invalid, leaving no entity at all', async () => {
      await refused(SchemaViolationError, () => people.create([
        { _id: 'ok-1', name: 'Ok One', age: 1 },
        { _id: 'ok-2', name: 'Ok Two', email: 'two@example.com', age: 2 },
        { _id: 'bad-3', name: 'Bad Three', age: 1.5 }
      ]))
      assert.equal(await people.has(['ok-1']), false)
      assert.equal(await people.has(['ok-2']), false)
      assert.deepEqual(await people.find(Query.where('age').le(2)), [])
      // The unique value the refused entity would have taken is still free.
      await people.create([{ _id: 'two', name: 'Two', email: 'two@example.com', age: 2 }])
      await people.delete(['two'])
    })

    it('refuses a save or an update that breaks the schema', async () => {
      await refused(SchemaViolationError, () => people.save([{ _id: 'ann', name: 'Ann', age: -30 }]))
      await refused(SchemaViolationError, () => people.save([{ _id: 'bob', name: 'Bob', age: 41 }, { _id: 'ann', age: 31 }]))
      await refused(SchemaViolationError, () => people.update('ann', draft => { draft.age = 'thirty' }))
      await refused(SchemaViolationError, () => people.update('ann', draft => { delete draft.name }))
      assert.deepEqual(await people.findById('ann'), { _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 30 })
      assert.equal((await people.findById('bob'))?.age, 40)
    })

    it('refuses an update that changes the ID, in a transaction or not', async () => {
      await refused(SchemaViolationError, () => people.update('ann', draft => { draft._id = 'ann-2' }))
      await refused(SchemaViolationError, () => people.update('ann', draft => { draft._id = 'bob' }))
      await refused(SchemaViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.update('ann', draft => { draft._id = 'bob' })
      }))
      assert.equal((await people.findById('bob'))?.name, 'Bob')
      assert.equal(await people.has(['ann-2']), false)
    })

    it('refuses a save of an entity that has no ID', async () => {
      await refused(SchemaViolationError, () => people.save([{ name: 'Nobody', age: 1 }]))
      await refused(SchemaViolationError, () => people.save([{ _id: '', name: 'Nobody', age: 1 }]))
    })

    it('refuses schema violations inside a write transaction, with every other write of it', async () => {
      await refused(SchemaViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.create([{ _id: 'fine', name: 'Fine', age: 5 }])
        await tx.save([{ _id: 'bob', name: 'Bob', email: 'bob@example.com', age: 41 }])
        await tx.delete(['cy'])
        await tx.create([{ name: 'Broken', age: -5 }])
      }))
      await refused(SchemaViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.create([{ _id: 'fine', name: 'Fine', age: 5 }])
        await tx.save([{ _id: 'ann', name: 'Ann', age: 'x' }])
      }))
      await refused(SchemaViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.update('ann', draft => { draft.age = 31 })
        await tx.update('bob', draft => { draft.age = -1 })
      }))
      assert.equal(await people.has(['fine']), false)
      assert.equal(await people.has(['cy']), true)
      assert.equal((await people.findById('bob'))?.age, 40)
      assert.equal((await people.findById('ann'))?.age, 30)
    })
  })

  describe('unknown collections', () => {
    it('refuses every read and write of a collection that was never registered', async () => {
      const nope = db.collection('Nope')
      await refused(UnknownCollectionError, () => nope.create([{ a: 1 }]))
      await refused(UnknownCollectionError, () => nope.save([{ _id: 'x', a: 1 }]))
      await refused(UnknownCollectionError, () => nope.update('x', draft => { draft.a = 2 }))
      await refused(UnknownCollectionError, () => nope.delete(['x']))
      await refused(UnknownCollectionError, () => nope.has(['x']))
      await refused(UnknownCollectionError, () => nope.findById('x'))
      await refused(UnknownCollectionError, () => nope.find())
      await refused(UnknownCollectionError, () => nope.find(Query.where('a').eq(1)))
      await refused(UnknownCollectionError, () => nope.plan(Query.where('a').eq(1)))
      await refused(UnknownCollectionError, () => db.writeTransaction('Nope', async tx => { await tx.create([{ a: 1 }]) }))
      await refused(UnknownCollectionError, () => db.readTransaction('Nope', async tx => await tx.find()))
      // A collection's name is exact.
      await refused(UnknownCollectionError, () => db.collection('person').create([{ name: 'P', age: 1 }]))
    })
  })

  describe('unique indexes', () => {
    it('refuses a create that takes a unique value already held', async () => {
      const error = await refused(UniqueViolationError, () => people.create([{ name: 'Ann 2', email: 'ann@example.com', age: 1 }]))
      assert.equal((error as UniqueViolationError).path, 'email')
    })

    it('refuses two entities with the same unique value in one create', async () => {
      await refused(UniqueViolationError, () => people.create([
        { _id: 'twin-1', name: 'Twin', email: 'twin@example.com', age: 1 },
        { _id: 'twin-2', name: 'Twin', email: 'twin@example.com', age: 1 }
      ]))
      assert.equal(await people.has(['twin-1']), false)
      await refused(UniqueViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.create([{ _id: 'twin-1', name: 'Twin', email: 'twin@example.com', age: 1 }])
        await tx.create([{ _id: 'twin-2', name: 'Twin', email: 'twin@example.com', age: 1 }])
      }))
      assert.equal(await people.has(['twin-1']), false)
    })

    it('refuses a save or update onto a value another entity holds, but not onto its own', async () => {
      await refused(UniqueViolationError, () => people.save([{ _id: 'cy', name: 'Cy', email: 'bob@example.com', age: 50 }]))
      await refused(UniqueViolationError, () => people.update('cy', draft => { draft.email = 'ann@example.com' }))
      await refused(UniqueViolationError, () => db.writeTransaction('Person', async tx => {
        await tx.update('cy', draft => { draft.email = 'ann@example.com' })
      }))
      await people.save([{ _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 30 }])
      assert.equal((await people.findById('cy'))?.email, undefined)
    })

    it('answers each of several writes committed together on its own: one refused takes no other with it', async () => {
      const heard = changes.length
      const outcomes = await within(Promise.allSettled([
        people.create([{ _id: 'together-1', name: 'One', email: 'together-1@example.com', age: 61 }]),
        people.create([{ _id: 'together-2', name: 'Two', email: 'ann@example.com', age: 62 }]),
        people.create([{ _id: 'together-3', name: 'Three', email: 'together-3@example.com', age: 63 }])
      ]), 'the three writes answered', 5000)
      assert.deepEqual(outcomes.map(outcome => outcome.status), ['fulfilled', 'rejected', 'fulfilled'])
      assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof UniqueViolationError)
      assert.deepEqual(await Promise.all(['together-1', 'together-2', 'together-3'].map(async id => await people.has([id]))), [true, false, true])
      await until(() => changes.length >= heard + 2, 'the two writes that stood, heard')
      assert.deepEqual(changes.slice(heard), ['Person create together-1', 'Person create together-3'])
      await people.delete(['together-1', 'together-3'])
    })

    it('frees a unique value once its holder moves off it or is deleted', async () => {
      await people.create([{ _id: 'mover', name: 'Mover', email: 'moving@example.com', age: 9 }])
      await refused(UniqueViolationError, () => people.create([{ name: 'Taker', email: 'moving@example.com', age: 9 }]))
      await people.update('mover', draft => { draft.email = 'moved@example.com' })
      const [taker] = await people.create([{ name: 'Taker', email: 'moving@example.com', age: 9 }])
      await people.delete(['mover'])
      const [second] = await people.create([{ name: 'Second', email: 'moved@example.com', age: 9 }])
      await people.delete([taker!, second!])
    })
  })

  describe('malformed queries', () => {
    const malformed: Array<[string, Query | QueryJSON]> = [
      ['an unknown operator', { ands: [{ path: 'age', op: 'like', value: 1 } as never], ors: [] }],
      ['an unknown operator in an or', { ands: [], ors: [{ ands: [{ path: 'age', op: '>=', value: 1 } as never], ors: [] }] }],
      ['an object to compare with', Query.where('age').eq({ years: 30 } as unknown as Comparable)],
      ['an array to compare with', Query.where('age').gt([30] as unknown as Comparable)],
      ['NaN to compare with', Query.where('age').lt(Number.NaN)],
      ['no value to compare with', { ands: [{ path: 'age', op: 'eq' } as never], ors: [] }],
      ['a negative limit', Query.where('age').gt(1).limit(-1)],
      ['a fractional limit', new Query().limit(1.5)],
      ['a negative skip', new Query().orderBy('age').skip(-2)],
      ['an empty path', Query.where('').eq(1)],
      ['an empty path segment', Query.where('address..city').eq('Oslo')],
      ['an empty sort path', new Query().orderBy('')],
      ['criteria that are not a list', { ands: 'age > 3', ors: [] } as never],
      ['a query that is not an object', 'age > 3' as never],
      ['a sort inside an or', Query.where('age').gt(1).or(Query.where('age').lt(0).orderBy('age'))],
      ['a limit inside an or', { ands: [], ors: [{ ands: [], ors: [], limit: 1 }] } as never]
    ]

    for (const [what, query] of malformed) {
      it(`refuses ${what} with InvalidQueryError, wherever the query goes`, async () => {
        await refused(InvalidQueryError, () => people.find(query))
        await refused(InvalidQueryError, () => people.plan(query))
        await refused(InvalidQueryError, () => db.readTransaction('Person', async tx => await tx.find(query)))
        await refused(InvalidQueryError, () => db.writeTransaction('Person', async tx => {
          await tx.create([{ _id: 'querier', name: 'Querier', age: 1 }])
          return await tx.find(query)
        }))
        await refused(InvalidQueryError, () => db.documents('docs').query(query))
      })
    }
  })

  describe('missing entities', () => {
    it('refuses a save, update or delete of an entity that does not exist', async () => {
      await refused(EntityNotFoundError, () => people.save([{ _id: 'ghost', name: 'Ghost', age: 1 }]))
      await refused(EntityNotFoundError, () => people.update('ghost', draft => { draft.age = 2 }))
      await refused(EntityNotFoundError, () => people.delete(['ghost']))
    })

    it('refuses the whole call when only one of its entities is missing', async () => {
      await refused(EntityNotFoundError, () => people.save([
        { _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 31 },
        { _id: 'ghost', name: 'Ghost', age: 1 }
      ]))
      await refused(EntityNotFoundError, () => people.delete(['ann', 'ghost']))
      await refused(EntityNotFoundError, () => people.delete(['cy', 'cy']))
      assert.equal(await people.has(['ann', 'cy']), true)
      assert.equal((await people.findById('ann'))?.age, 30)
    })

    it('refuses them inside a write transaction too', async () => {
      await refused(EntityNotFoundError, () => db.writeTransaction('Person', async tx => {
        await tx.save([{ _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 32 }])
        await tx.save([{ _id: 'ghost', name: 'Ghost', age: 1 }])
      }))
      await refused(EntityNotFoundError, () => db.writeTransaction('Person', async tx => {
        await tx.delete(['ann'])
        await tx.update('ghost', draft => { draft.age = 2 })
      }))
      await refused(EntityNotFoundError, () => db.writeTransaction('Person', async tx => {
        await tx.delete(['ann'])
        await tx.delete(['ann'])
      }))
      await refused(EntityNotFoundError, () => db.writeTransaction('Person', async tx => {
        await tx.delete(['ann'])
        await tx.update('ann', draft => { draft.age = 2 })
      }))
      assert.deepEqual(await people.findById('ann'), { _id: 'ann', name: 'Ann', email: 'ann@example.com', age: 30 })
    })

    it('refuses changes to an entity after it was deleted', async () => {
      await people.create([{ _id: 'gone', name: 'Gone', email: 'gone@example.com', age: 3 }])
      await people.delete(['gone'])
      await refused(EntityNotFoundError, () => people.save([{ _id: 'gone', name: 'Gone', age: 4 }]))
      await refused(EntityNotFoundError, () => people.update('gone', draft => { draft.age = 4 }))
      await refused(EntityNotFoundError, () => people.delete(['gone']))
    })
  })

  describe('existing IDs', () => {
    it('refuses a create under an ID already taken', async () => {
      await refused(EntityExistsError, () => people.create([{ _id: 'ann', name: 'Another Ann', age: 1 }]))
      await refused(EntityExistsError, () => people.create([{ _id: 'new-one', name: 'New', age: 1 }, { _id: 'bob', name: 'Bob', age: 1 }]))
      await refused(EntityExistsError, () => people.create([{ _id: 'dup', name: 'Dup', age: 1 }, { _id: 'dup', name: 'Dup', age: 2 }]))
      await refused(EntityExistsError, () => db.writeTransaction('Person', async tx => {
        await tx.create([{ _id: 'new-one', name: 'New', age: 1 }])
        await tx.create([{ _id: 'new-one', name: 'New', age: 2 }])
      }))
      await refused(EntityExistsError, () => db.writeTransaction('Person', async tx => {
        await tx.create([{ _id: 'cy', name: 'Cy', age: 1 }])
      }))
      assert.equal(await people.has(['new-one']), false)
      assert.equal(await people.has(['dup']), false)
      assert.equal((await people.findById('ann'))?.name, 'Ann')
    })

    it('refuses an invalid create under a taken ID for the ID, as it does a valid one', async () => {
      await refused(EntityExistsError, () => people.create([{ _id: 'ann', name: 'Another Ann', age: -1 }]))
      await refused(SchemaViolationError, () => people.create([{ _id: 'nobody-yet', name: 'Nobody', age: -1 }]))
    })

    it('takes a create under the ID of a deleted entity, which then has both lives in its history', async () => {
      await people.create([{ _id: 'phoenix', name: 'Phoenix', age: 1 }])
      await people.delete(['phoenix'])
      await people.create([{ _id: 'phoenix', name: 'Phoenix again', age: 2 }])
      await people.update('phoenix', draft => { draft.age = 3 })
      assert.deepEqual(await people.findById('phoenix'), { _id: 'phoenix', name: 'Phoenix again', age: 3 })
      const history = createEventStore(temp.peer.storage, createThreadNumbers(temp.peer.storage)).entityEvents(db.id, 'Person', 'phoenix')
      assert.deepEqual(history.map(({ event }) => event.type), ['create', 'delete', 'create', 'save'], 'both lives, in order')
      await db.rebuild()
      assert.deepEqual(await people.findById('phoenix'), { _id: 'phoenix', name: 'Phoenix again', age: 3 })
    })

    it('refuses it in a collection identified by ID too', async () => {
      await db.registerSchema('Paper', { type: 'object', properties: { ID: { type: 'string' }, firstName: { type: 'string' } } })
      const paper = db.collection('Paper')
      await paper.create([{ ID: 'john', firstName: 'John' }])
      await refused(EntityExistsError, () => paper.create([{ ID: 'john', firstName: 'Other John' }]))
      assert.deepEqual(await paper.findById('john'), { ID: 'john', firstName: 'John' })
    })
  })

  describe('schemas', () => {
    const broken: Array<[string, Entity]> = [
      ['an unknown type', { type: 'nonsense' }],
      ['properties that are not an object', { type: 'object', properties: 5 }],
      ['a reference to nowhere', { $ref: '#/definitions/nowhere' }],
      ['a pattern that is not a regular expression', { type: 'object', properties: { a: { type: 'string', pattern: '([' } } }],
      ['required that is not a list', { type: 'object', required: 'name' }]
    ]
    for (const [what, schema] of broken) {
      it(`refuses a schema with ${what} with InvalidSchemaError`, async () => {
        await refused(InvalidSchemaError, () => db.registerSchema('Broken', schema))
        assert.equal(db.collections().some(definition => definition.name === 'Broken'), false)
      })
    }

    it('refuses a schema that is not an object, an empty name, and an index without a path', async () => {
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', true as never))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', [] as never))
      await refused(InvalidSchemaError, () => db.registerSchema('', { type: 'object' }))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object' }, { indexes: [{ path: '' }] }))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object' }, { indexes: [{ path: 'a..b' }] }))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object' }, { indexes: ['age'] as never }))
    })

    it('refuses an index declared twice, and a schema that JSON would change on its way to other peers', async () => {
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object' }, { indexes: [{ path: 'age' }, { path: 'age', unique: true }] }))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object', properties: { n: { type: 'number', maximum: Infinity } } }))
      await refused(InvalidSchemaError, () => db.registerSchema('Broken', { type: 'object', description: undefined } as never))
      assert.equal(db.collections().some(definition => definition.name === 'Broken'), false)
    })

    it('keeps the old definition, data and indexes when a new schema for a collection is refused', async () => {
      const definition = db.collections().find(collection => collection.name === 'Person')
      await refused(InvalidSchemaError, () => db.registerSchema('Person', { type: 'nonsense' }, { indexes: [] }))
      assert.deepEqual(db.collections().find(collection => collection.name === 'Person'), definition)
      assert.equal(people.plan(Query.where('age').eq(30)).using, 'index:age')
      await refused(SchemaViolationError, () => people.create([{ name: 'Still checked', age: -1 }]))
    })
  })

  it('leaves the store fully working after all of that', async () => {
    const [id] = await within(people.create([{ name: 'After', email: 'after@example.com', age: 60 }]), 'a create after the refusals')
    await people.update(id!, draft => { draft.age = 61 })
    assert.deepEqual((await people.find(Query.where('age').ge(30).orderBy('age'))).map(person => person.name), ['Ann', 'Bob', 'Cy', 'After'])
    const result = await db.writeTransaction('Person', async tx => {
      await tx.delete([id!])
      return await tx.has([id!])
    })
    assert.equal(result, false)
    assert.equal(await people.has([id!]), false)
  })
})
