import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Collection, Store } from '../../actors/store.ts'
import type { Entity, JsonValue } from '../../codecs/event-codec.ts'
import { Query, Where, type Comparable, type Operator, type QueryJSON } from '../../codecs/query.ts'
import { UniqueViolationError } from '../../storage/errors.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { seededRandom } from '../helpers/seeded-random.ts'
import { dumpStore, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

const ids = (rows: readonly Entity[]): string[] => rows.map(row => row._id as string)
const sortedIds = (rows: readonly Entity[]): string[] => ids(rows).sort()

// The brute-force reference, written from the query semantics rather than from the implementation: ordering
// operators compare values of one kind only; `ne` matches everything that is not equal, missing fields included.
function kind (value: JsonValue | undefined): string {
  if (value === undefined) return 'missing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function at (entity: Entity, path: string): JsonValue | undefined {
  let value: JsonValue | undefined = entity
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    value = value[part]
  }
  return value
}

function holds (entity: Entity, path: string, op: Operator, operand: Comparable): boolean {
  const value = at(entity, path)
  const same = kind(value) === kind(operand)
  const equal = same && value === operand
  if (op === 'ne') return !equal
  if (!same) return false
  const v = value as string | number | boolean | null
  const o = operand
  if (v === null || o === null) return op === 'eq' || op === 'ge' || op === 'le'
  switch (op) {
    case 'eq': return v === o
    case 'gt': return v > o
    case 'ge': return v >= o
    case 'lt': return v < o
    case 'le': return v <= o
  }
}

function bruteForce (entities: readonly Entity[], query: QueryJSON): Entity[] {
  const matches = (entity: Entity, q: QueryJSON): boolean =>
    ((q.ands.length > 0 || q.ors.length === 0) && q.ands.every(c => holds(entity, c.path, c.op, c.value))) ||
    q.ors.some(or => matches(entity, or))
  return entities.filter(entity => matches(entity, query))
}

describe('store queries', () => {
  let temp: TempPeer
  let db: Store
  let people: Collection

  // IDs in alphabetical order differ from age order and name order, so a sort is visible.
  const fixture: Entity[] = [
    { _id: 'p01', name: 'Hana', age: 67, address: { city: 'Kyoto', zip: '600' } },
    { _id: 'p02', name: 'Abel', age: 59, address: { city: 'Berlin', zip: '101' } },
    { _id: 'p03', name: 'Gus', age: 60, address: { city: 'Austin', zip: '787' } },
    { _id: 'p04', name: 'Cleo', age: 66, address: { city: 'Berlin', zip: '104' } },
    { _id: 'p05', name: 'Ivo', age: 65 },
    { _id: 'p06', name: 'Dina', age: 21, address: { city: 'Kyoto', zip: '601' } },
    { _id: 'p07', name: 'Emil', age: 63, address: { city: 'Lagos' } },
    { _id: 'p08', name: 'Faye', age: 70, address: { city: 'Austin', zip: '788' } },
    { _id: 'p09', name: 'Juno', age: 62, address: { city: 'Berlin', zip: '102' } },
    { _id: 'p10', name: 'Kai', age: 68 }
  ]

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Person', {
      type: 'object',
      properties: { _id: { type: 'string' }, name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age']
    })
    people = db.collection('Person')
    // Created in an order that is neither the ID order nor the age order.
    await people.create([fixture[4]!, fixture[9]!, fixture[0]!, fixture[7]!, fixture[2]!])
    await people.create([fixture[1]!, fixture[8]!, fixture[3]!, fixture[6]!, fixture[5]!])
  })

  after(async () => {
    await temp?.dispose()
  })

  it('compares with eq, ne, gt, ge, lt and le', async () => {
    assert.deepEqual(sortedIds(await people.find(Query.where('age').eq(60))), ['p03'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').ne(60))), ['p01', 'p02', 'p04', 'p05', 'p06', 'p07', 'p08', 'p09', 'p10'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').gt(66))), ['p01', 'p08', 'p10'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').ge(66))), ['p01', 'p04', 'p08', 'p10'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').lt(60))), ['p02', 'p06'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').le(60))), ['p02', 'p03', 'p06'])
    assert.deepEqual(sortedIds(await people.find(Query.where('name').eq('Kai'))), ['p10'])
    assert.deepEqual(sortedIds(await people.find(Query.where('name').lt('Dina'))), ['p02', 'p04'])
    assert.deepEqual(sortedIds(await people.find(Query.where('age').eq(1000))), [])
  })

  it('runs the paper\'s query: age ≥ 60 and < 66, or age = 67', async () => {
    const query = Query.where('age').ge(60).and('age').lt(66).or(new Where('age').eq(67))
    assert.deepEqual(sortedIds(await people.find(query)), ['p01', 'p03', 'p05', 'p07', 'p09'])
    assert.deepEqual(sortedIds(await people.find(query.orderBy('age'))), ['p01', 'p03', 'p05', 'p07', 'p09'])
    assert.deepEqual((await people.find(query.orderBy('age'))).map(person => person.age), [60, 62, 63, 65, 67])
  })

  it('joins criteria with and, and whole queries with or', async () => {
    const and = Query.where('age').gt(60).and('address.city').eq('Berlin')
    assert.deepEqual(sortedIds(await people.find(and)), ['p04', 'p09'])
    const or = Query.where('name').eq('Abel').or(Query.where('name').eq('Kai')).or(new Where('age').eq(21))
    assert.deepEqual(sortedIds(await people.find(or)), ['p02', 'p06', 'p10'])
    const empty = Query.where('age').gt(100).or(Query.where('age').lt(0))
    assert.deepEqual(await people.find(empty), [])
  })

  it('returns everything for an empty query, given as a builder, as data, or not at all', async () => {
    assert.equal((await people.find()).length, fixture.length)
    assert.equal((await people.find(new Query())).length, fixture.length)
    assert.equal((await people.find({ ands: [], ors: [] })).length, fixture.length)
  })

  it('takes queries as plain data (JSON)', async () => {
    const json: QueryJSON = JSON.parse(JSON.stringify(Query.where('age').ge(60).and('age').lt(66).or(new Where('age').eq(67)).orderByDesc('age').limit(2)))
    assert.deepEqual(ids(await people.find(json)), ['p01', 'p05'])
  })

  it('orders ascending and descending, by numbers, strings and nested fields', async () => {
    const byAge = [...fixture].sort((a, b) => (a.age as number) - (b.age as number))
    assert.deepEqual(ids(await people.find(new Query().orderBy('age'))), ids(byAge))
    assert.deepEqual(ids(await people.find(new Query().orderByDesc('age'))), ids(byAge).reverse())
    assert.deepEqual((await people.find(new Query().orderBy('name'))).map(person => person.name),
      ['Abel', 'Cleo', 'Dina', 'Emil', 'Faye', 'Gus', 'Hana', 'Ivo', 'Juno', 'Kai'])
    // Entities without the field sort first ascending (missing < any value), last descending.
    const byCity = (await people.find(Query.where('age').gt(0).orderBy('address.zip'))).map(person => (person.address as Entity | undefined)?.zip ?? null)
    assert.deepEqual(byCity, [null, null, null, '101', '102', '104', '600', '601', '787', '788'])
  })

  it('applies skip and limit after sorting', async () => {
    // By age: p06 21, p02 59, p03 60, p09 62, p07 63, p05 65, p04 66, p01 67, p10 68, p08 70.
    assert.deepEqual(ids(await people.find(new Query().orderBy('age').skip(2).limit(3))), ['p03', 'p09', 'p07'])
    assert.deepEqual(ids(await people.find(new Query().orderByDesc('age').limit(3))), ['p08', 'p10', 'p01'])
    assert.deepEqual(ids(await people.find(new Query().orderByDesc('age').skip(8))), ['p02', 'p06'])
    assert.deepEqual(ids(await people.find(new Query().orderBy('age').skip(9).limit(5))), ['p08'])
    assert.deepEqual(ids(await people.find(new Query().orderBy('age').skip(10))), [])
    assert.deepEqual(ids(await people.find(new Query().orderBy('age').limit(0))), [])
    // With criteria: ages ≥ 60 by name are Cleo p04, Emil p07, Faye p08, Gus p03, Hana p01, Ivo p05, Juno p09, Kai p10.
    assert.deepEqual(ids(await people.find(Query.where('age').ge(60).orderBy('name').skip(1).limit(4))), ['p07', 'p08', 'p03', 'p01'])
    assert.deepEqual(ids(await people.find(Query.where('age').ge(60).orderByDesc('name').skip(1).limit(2))), ['p09', 'p05'])
  })

  it('reads nested paths', async () => {
    assert.deepEqual(sortedIds(await people.find(Query.where('address.city').eq('Berlin'))), ['p02', 'p04', 'p09'])
    assert.deepEqual(sortedIds(await people.find(Query.where('address.city').ge('K'))), ['p01', 'p06', 'p07'])
    assert.deepEqual(sortedIds(await people.find(Query.where('address.city').eq('Kyoto').and('address.zip').eq('601'))), ['p06'])
    // A path through a missing object or a scalar matches nothing (and `ne` everything).
    assert.deepEqual(await people.find(Query.where('address.city.name').eq('Berlin')), [])
    assert.deepEqual(await people.find(Query.where('name.first').eq('Abel')), [])
    assert.equal((await people.find(Query.where('address.city').ne('Berlin'))).length, 7)
  })
})

describe('store queries over mixed types', () => {
  let temp: TempPeer
  let db: Store
  let things: Collection

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Thing', { type: 'object' })
    things = db.collection('Thing')
    await things.create([
      { _id: 'n1', age: 1 },
      { _id: 'n5', age: 5 },
      { _id: 'n10', age: 10 },
      { _id: 's5', age: '5' },
      { _id: 's10', age: '10' },
      { _id: 'sx', age: 'abc' },
      { _id: 'null', age: null },
      { _id: 'true', age: true },
      { _id: 'false', age: false },
      { _id: 'obj', age: { years: 9 } },
      { _id: 'arr', age: [9] },
      { _id: 'missing' }
    ])
  })

  after(async () => {
    await temp?.dispose()
  })

  it('never matches a string, a boolean, null or a missing value with a numeric comparison', async () => {
    assert.deepEqual(sortedIds(await things.find(Query.where('age').gt(3))), ['n10', 'n5'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').ge(1))), ['n1', 'n10', 'n5'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').lt(100))), ['n1', 'n10', 'n5'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').eq(5))), ['n5'])
  })

  it('compares strings with strings and booleans with booleans', async () => {
    assert.deepEqual(sortedIds(await things.find(Query.where('age').eq('5'))), ['s5'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').gt('1'))), ['s10', 's5', 'sx'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').lt('5'))), ['s10'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').eq(true))), ['true'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').lt(true))), ['false'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').eq(null))), ['null'])
  })

  it('matches everything not equal with ne, other types and missing fields included', async () => {
    assert.deepEqual(sortedIds(await things.find(Query.where('age').ne(5))),
      ['arr', 'false', 'missing', 'n1', 'n10', 'null', 'obj', 's10', 's5', 'sx', 'true'])
    assert.deepEqual(sortedIds(await things.find(Query.where('age').ne(null))),
      ['arr', 'false', 'missing', 'n1', 'n10', 'n5', 'obj', 's10', 's5', 'sx', 'true'])
  })

  it('sorts mixed types in one total order: missing, null, booleans, numbers, strings, then objects', async () => {
    const order = ids(await things.find(new Query().orderBy('age')))
    assert.deepEqual(order.slice(0, 10), ['missing', 'null', 'false', 'true', 'n1', 'n5', 'n10', 's10', 's5', 'sx'])
    assert.deepEqual(new Set(order.slice(10)), new Set(['obj', 'arr']))
    assert.deepEqual(ids(await things.find(new Query().orderByDesc('age').skip(2).limit(3))), ['sx', 's5', 's10'])
  })

  it('reads only an entity\'s own fields, whatever names Object.prototype holds', async () => {
    await db.registerSchema('Named', { type: 'object' }, { indexes: [{ path: 'constructor' }] })
    const named = db.collection('Named')
    await named.create([{ _id: 'a', constructor: 3 }, { _id: 'b' }, { _id: 'c', constructor: 1 }, { _id: 'd', constructor: 2 }, { _id: 'e', toString: 'x' }])
    assert.deepEqual(ids(await named.find(new Query().orderBy('constructor'))), ['b', 'e', 'c', 'd', 'a'])
    assert.deepEqual(ids(await named.find(new Query().orderByDesc('constructor'))), ['a', 'd', 'c', 'b', 'e'])
    assert.deepEqual(ids(await named.find(Query.where('constructor').ge(2))), ['a', 'd'])
    assert.deepEqual(ids(await named.find(Query.where('toString').ne('x'))), ['a', 'b', 'c', 'd'])
    assert.deepEqual(ids(await named.find(Query.where('hasOwnProperty.name').eq('hasOwnProperty'))), [])
  })
})

describe('store query plans and indexes', () => {
  let temp: TempPeer
  let db: Store
  let indexed: Collection
  let unindexed: Collection
  const entities: Entity[] = []
  const next = seededRandom(20240601)

  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!
  const randomAge = (): JsonValue | undefined => {
    const roll = next()
    if (roll < 0.70) return Math.floor(next() * 120) - 10
    if (roll < 0.78) return Math.round((next() * 200 - 50) * 100) / 100
    if (roll < 0.86) return String(Math.floor(next() * 120))
    // Strings a key cannot hold as they are (too long, or long with U+0000–U+0004 in them): indexed by digest.
    if (roll < 0.87) return `${Math.floor(next() * 120)}${'~'.repeat(600)}`
    if (roll < 0.88) return `${Math.floor(next() * 120)}${pick(['\u0000', '\u0001', '\u0004'])}${'a'.repeat(70)}`
    if (roll < 0.90) return next() < 0.5
    if (roll < 0.93) return null
    if (roll < 0.95) return { n: 1 }
    return undefined
  }
  const randomOperand = (): Comparable => {
    const roll = next()
    if (roll < 0.75) return Math.floor(next() * 140) - 20
    if (roll < 0.85) return Math.round((next() * 200 - 50) * 100) / 100
    if (roll < 0.93) return String(Math.floor(next() * 120))
    if (roll < 0.95) return `${Math.floor(next() * 120)}${'~'.repeat(next() < 0.5 ? 600 : 599)}`
    if (roll < 0.96) return `${Math.floor(next() * 120)}${pick(['\u0000', '\u0001', '\u0004'])}${'a'.repeat(next() < 0.5 ? 70 : 10)}`
    return pick([true, false, null])
  }

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Indexed', { type: 'object' }, { indexes: [{ path: 'age' }, { path: 'info.score' }] })
    await db.registerSchema('Unindexed', { type: 'object' })
    indexed = db.collection('Indexed')
    unindexed = db.collection('Unindexed')
    for (let i = 0; i < 2000; i++) {
      const entity: Entity = { _id: `e${String(i).padStart(5, '0')}`, group: pick(['a', 'b', 'c']) }
      const age = randomAge()
      if (age !== undefined) entity.age = age
      if (next() < 0.8) entity.info = { score: Math.floor(next() * 50) }
      entities.push(entity)
    }
    for (let i = 0; i < entities.length; i += 500) {
      await indexed.create(entities.slice(i, i + 500))
      await unindexed.create(entities.slice(i, i + 500))
    }
  })

  after(async () => {
    await temp?.dispose()
  })

  it('plans an indexed eq or range through the index, and everything else as a scan', () => {
    assert.equal(indexed.plan(Query.where('age').eq(30)).using, 'index:age')
    assert.equal(indexed.plan(Query.where('age').gt(30)).using, 'index:age')
    assert.equal(indexed.plan(Query.where('age').ge(30).and('age').lt(40)).using, 'index:age')
    assert.equal(indexed.plan(Query.where('age').le('30')).using, 'index:age')
    assert.equal(indexed.plan(Query.where('info.score').eq(3)).using, 'index:info.score')
    assert.equal(indexed.plan(Query.where('group').eq('a').and('age').eq(3)).using, 'index:age')
    assert.equal(indexed.plan(Query.where('age').eq(30).orderByDesc('age').limit(3)).using, 'index:age')
    assert.equal(indexed.plan(Query.where('age').ne(30)).using, 'scan')
    assert.equal(indexed.plan(Query.where('age').eq(null)).using, 'scan')
    assert.equal(indexed.plan(Query.where('group').eq('a')).using, 'scan')
    assert.equal(indexed.plan(new Query()).using, 'scan')
    assert.equal(indexed.plan(Query.where('age').eq(3).or(Query.where('age').eq(4))).using, 'scan')
    assert.equal(unindexed.plan(Query.where('age').eq(30)).using, 'scan')
    assert.equal(unindexed.plan(Query.where('age').gt(30)).using, 'scan')
  })

  it('reads a query it plans through an index from that index, not by scanning the views', async () => {
    const store = await temp.peer.newStore()
    await store.registerSchema('Probe', { type: 'object' }, { indexes: [{ path: 'age' }, { path: 'email', unique: true }] })
    const probes = store.collection('Probe')
    await probes.create([{ _id: 'a', age: 30, email: 'a@x' }, { _id: 'b', age: 30, email: 'b@x' }, { _id: 'c', age: 31, email: 'c@x' }])
    // Index entries taken away behind the store's back: a read of the index misses their entities, a scan does not.
    const thread = createThreadNumbers(temp.peer.storage).of(store.id)
    const views = temp.peer.storage.valueDatabase<unknown>('views')
    await temp.peer.storage.transaction(() => {
      views.removeSync(['x', thread, 'Probe', 'age', 30, 'b'])
      views.removeSync(['u', thread, 'Probe', 'email', 'c@x'])
    })
    assert.deepEqual(sortedIds(await probes.find(Query.where('age').eq(30))), ['a'])
    assert.deepEqual(sortedIds(await probes.find(Query.where('age').ge(30))), ['a', 'c'])
    assert.deepEqual(sortedIds(await probes.find(Query.where('email').eq('c@x'))), [])
    assert.equal(probes.plan(Query.where('age').ne(31)).using, 'scan')
    assert.deepEqual(sortedIds(await probes.find(Query.where('age').ne(31))), ['a', 'b'])
  })

  it('indexes strings too long to be part of a key by their digest: found by equality and in ranges, unique among themselves, the same after a rebuild', async () => {
    const store = await temp.peer.newStore()
    await store.registerSchema('Long', { type: 'object' }, { indexes: [{ path: 'title' }, { path: 'slug', unique: true }] })
    const longs = store.collection('Long')
    const long = (text: string): string => text.repeat(700)
    await longs.create([{ _id: 'a', title: long('m'), slug: long('a') }, { _id: 'b', title: 'm', slug: 'b' }, { _id: 'c', title: long('m'), slug: long('c') }])
    assert.equal(longs.plan(Query.where('slug').eq(long('a'))).using, 'index:slug')
    assert.deepEqual(sortedIds(await longs.find(Query.where('slug').eq(long('a')))), ['a'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').eq(long('m')))), ['a', 'c'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').gt('m'))), ['a', 'c'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').le(long('m')))), ['a', 'b', 'c'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').lt(long('m')))), ['b'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('slug').ge('b'))), ['b', 'c'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('slug').ge(long('b')))), ['c'])
    await assert.rejects(longs.create([{ _id: 'd', slug: long('a') }]), UniqueViolationError)
    await longs.save([{ _id: 'a', title: 'n', slug: long('a') }])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').eq(long('m')))), ['c'])
    assert.deepEqual(sortedIds(await longs.find(Query.where('title').eq('n'))), ['a'])
    const before = dumpStore(temp.peer, ['views'])
    await store.rebuild()
    assert.equal(dumpStore(temp.peer, ['views']), before)
  })

  it('answers a query on the ID field by the ID each entity is stored under, with an index on that field or without', async () => {
    const store = await temp.peer.newStore()
    for (const [name, indexes] of [['Plain', []], ['Indexed', [{ path: 'ID' }]]] as const) {
      await store.registerSchema(name, { type: 'object' }, { indexes: [...indexes] })
      await store.collection(name).create([{ _id: 'p1', n: 1 }, { _id: 'p2', n: 2 }])
      // The schema names ID from now on: the documents written before never held one.
      await store.registerSchema(name, { type: 'object', properties: { ID: { type: 'string' } } }, { indexes: [...indexes] })
    }
    for (const name of ['Plain', 'Indexed']) {
      const rows = store.collection(name)
      assert.equal(rows.plan(Query.where('ID').eq('p1')).using, 'id')
      assert.deepEqual(ids(await rows.find(Query.where('ID').eq('p1'))), ['p1'], name)
      assert.deepEqual((await rows.find(Query.where('ID').ge('p1'))).map(row => row.ID), ['p1', 'p2'], name)
      assert.equal(rows.plan(Query.where('ID').ge('p1')).using, 'scan')
      await rows.update('p1', draft => { draft.n = 5 })
      assert.deepEqual(await rows.findById('p1'), { _id: 'p1', n: 5, ID: 'p1' }, `${name}: an update starts from the entity as readers get it`)
    }
  })

  it('answers the same with and without an index, and as a brute-force filter, on 2,000 random entities', async () => {
    const ops: Operator[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le']
    let throughIndex = 0
    for (let round = 0; round < 150; round++) {
      let query = Query.where(next() < 0.8 ? 'age' : 'info.score')[pick(ops)](randomOperand())
      if (next() < 0.3) query = query.and('age')[pick(ops)](randomOperand())
      if (next() < 0.2) query = query.and('group').eq(pick(['a', 'b', 'c']))
      if (next() < 0.1) query = query.or(Query.where('age')[pick(ops)](randomOperand()))
      const json = Query.parse(query)
      const expected = bruteForce(entities, json).map(entity => entity._id as string).sort()
      if (indexed.plan(query).using !== 'scan') throughIndex++
      const viaIndex = sortedIds(await indexed.find(query))
      const viaScan = sortedIds(await unindexed.find(query))
      assert.deepEqual(viaIndex, expected, `indexed ${JSON.stringify(json)}`)
      assert.deepEqual(viaScan, expected, `unindexed ${JSON.stringify(json)}`)
    }
    assert.ok(throughIndex > 60, `only ${throughIndex} of 150 random queries went through an index`)
  })

  it('sorts, skips and limits identically through an index and a scan, ties and unsorted rows in ID order', async () => {
    for (let round = 0; round < 30; round++) {
      const low = Math.floor(next() * 100) - 10
      const skip = Math.floor(next() * 20)
      const limit = Math.floor(next() * 30)
      const range = Query.where('age').ge(low).and('age').lt(low + 30)
      const sorted = range.orderByDesc('age').skip(skip).limit(limit)
      const unsorted = range.skip(skip).limit(limit)
      assert.equal(indexed.plan(sorted).using, 'index:age')
      assert.equal(indexed.plan(unsorted).using, 'index:age')
      // `entities` is in ID order, and a stable sort keeps it among equal ages.
      const matching = bruteForce(entities, Query.parse(range))
      const expectedSorted = ids([...matching].sort((a, b) => (b.age as number) - (a.age as number)).slice(skip, skip + limit))
      const expectedUnsorted = ids(matching.slice(skip, skip + limit))
      assert.deepEqual(ids(await indexed.find(sorted)), expectedSorted)
      assert.deepEqual(ids(await unindexed.find(sorted)), expectedSorted)
      assert.deepEqual(ids(await indexed.find(unsorted)), expectedUnsorted)
      assert.deepEqual(ids(await unindexed.find(unsorted)), expectedUnsorted)
    }
  })

  it('finds 0 for an operand of -0, through an index as by a scan', async () => {
    const zero = ids(bruteForce(entities, Query.parse(Query.where('age').eq(0))))
    const positive = ids(bruteForce(entities, Query.parse(Query.where('age').gt(0))))
    assert.ok(zero.length > 0)
    for (const collection of [indexed, unindexed]) {
      assert.deepEqual(ids(await collection.find(Query.where('age').eq(-0))), zero)
      assert.deepEqual(ids(await collection.find(Query.where('age').gt(-0))), positive)
      assert.deepEqual(ids(await collection.find(Query.where('age').ge(-0))), [...zero, ...positive].sort())
    }
  })

  it('keeps the index right through saves, updates and deletes', async () => {
    const changed = entities.slice(0, 40)
    for (const collection of [indexed, unindexed]) {
      await collection.save(changed.slice(0, 10).map(entity => ({ ...entity, age: 1000 })))
      for (const entity of changed.slice(10, 20)) await collection.update(entity._id as string, draft => { draft.age = 1001 })
      await collection.save(changed.slice(20, 30).map(entity => ({ ...entity, age: 'one thousand' })))
      await collection.delete(changed.slice(30, 40).map(entity => entity._id as string))
    }
    for (const entity of changed.slice(0, 10)) entity.age = 1000
    for (const entity of changed.slice(10, 20)) entity.age = 1001
    for (const entity of changed.slice(20, 30)) entity.age = 'one thousand'
    entities.splice(30, 10)
    for (const query of [
      Query.where('age').ge(1000), Query.where('age').eq(1000), Query.where('age').eq(1001), Query.where('age').lt(1000),
      Query.where('age').eq('one thousand'), Query.where('age').gt('o'), Query.where('age').ge(-1000)
    ]) {
      const expected = bruteForce(entities, Query.parse(query)).map(entity => entity._id as string).sort()
      assert.equal(indexed.plan(query).using, 'index:age')
      assert.deepEqual(sortedIds(await indexed.find(query)), expected, JSON.stringify(Query.parse(query)))
      assert.deepEqual(sortedIds(await unindexed.find(query)), expected, JSON.stringify(Query.parse(query)))
    }
  })

  it('builds an index registered after the data exists, and uses it', async () => {
    const late = db.collection('Late')
    await db.registerSchema('Late', { type: 'object' })
    const data = entities.slice(0, 600).map(entity => ({ ...entity }))
    await late.create(data)
    const query = Query.where('age').ge(20).and('age').lt(50)
    assert.equal(late.plan(query).using, 'scan')
    const expected = bruteForce(data, Query.parse(query)).map(entity => entity._id as string).sort()
    assert.ok(expected.length > 50)
    assert.deepEqual(sortedIds(await late.find(query)), expected)

    await db.registerSchema('Late', { type: 'object' }, { indexes: [{ path: 'age' }] })
    assert.equal(late.plan(query).using, 'index:age')
    assert.deepEqual(sortedIds(await late.find(query)), expected)
    assert.deepEqual(sortedIds(await late.find(Query.where('age').eq(data[0]!.age as Comparable))),
      bruteForce(data, Query.parse(Query.where('age').eq(data[0]!.age as Comparable))).map(entity => entity._id as string).sort())

    // Writes after the index exists keep it up to date, old entities included.
    await late.update(data[0]!._id as string, draft => { draft.age = 4242 })
    await late.create([{ _id: 'late-new', age: 4242 }])
    assert.deepEqual(sortedIds(await late.find(Query.where('age').eq(4242))), [data[0]!._id as string, 'late-new'])

    // Dropping the index again goes back to a scan with the same answers.
    await db.registerSchema('Late', { type: 'object' })
    assert.equal(late.plan(query).using, 'scan')
    assert.deepEqual(sortedIds(await late.find(Query.where('age').eq(4242))), [data[0]!._id as string, 'late-new'])
  })

  it('keeps indexes, and their absence, across a restart', async () => {
    const storeId = db.id
    const peer = await temp.reopen()
    db = await peer.store(storeId)
    indexed = db.collection('Indexed')
    unindexed = db.collection('Unindexed')
    const query = Query.where('age').gt(50).and('age').le(60)
    assert.equal(indexed.plan(query).using, 'index:age')
    assert.equal(unindexed.plan(query).using, 'scan')
    assert.equal(db.collection('Late').plan(query).using, 'scan')
    const expected = bruteForce(entities, Query.parse(query)).map(entity => entity._id as string).sort()
    assert.deepEqual(sortedIds(await indexed.find(query)), expected)
    assert.deepEqual(sortedIds(await unindexed.find(query)), expected)
  })
})
