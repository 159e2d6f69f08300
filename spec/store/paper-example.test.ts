import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { Client } from '../../actors/client.ts'
import { Query, Where } from '../../codecs/query.ts'
import { opts } from '../helpers/paper-options.ts'

/**
 * The paper's §Illustrative Example, its code blocks in order, with imports added. Two errata of the paper's
 * text are mended where they occur, each marked `erratum`; the assertions restate what the paper prints.
 */

const printed: unknown[] = []
const console = { log: (...values: unknown[]) => { printed.push(values.length === 1 ? values[0] : values) } }

after(async () => {
  await rm(opts[0].path, { recursive: true, force: true })
})

it('runs the paper\'s illustrative example', async () => {
  const client = new Client(...opts)

  const store = await client.newStore()

  // Interface corresponds to JSON Schema
  interface Person {
    [key: string]: string | number
    ID: string // Entities have `ID` by default
    firstName: string
    lastName: string
    age: number
  }

  // JSON Schema defining above interface
  const personSchema = {
    $id: 'https://example.com/person.schema.json',
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Person',
    type: 'object',
    required: ['ID'],
    properties: {
      ID: {
        type: 'string',
        description: "Entity ID.",
      },
      firstName: {
        type: 'string',
        description: "First name.",
      },
      lastName: {
        type: 'string',
        description: "Last name.",
      },
      age: {
        description: 'Age in years.',
        type: 'integer',
        minimum: 0,
      },
    },
  }

  // Register a Schema
  await client.registerSchema(
    store.id, 'Person', personSchema
  )
  // Start the Store
  await client.start(store.id)

  // Initial Person object
  const person: Person = {
    ID: '',
    firstName: 'John',
    lastName: 'Doe',
    age: 21,
  }
  // Create a Model Entity
  const created = await client.modelCreate(
    store.id, 'Person', [person]
  )
  console.log(created.entitiesList) // EntityList
  assert.equal(created.entitiesList.length, 1)
  assert.deepEqual({ ...created.entitiesList[0], ID: undefined }, { firstName: 'John', lastName: 'Doe', age: 21, ID: undefined })
  assert.match(created.entitiesList[0]!.ID, /^[0-9a-f-]{36}$/)

  const updatedPerson = created.entitiesList[0]!
  updatedPerson.age = 26
  // Modify/mutate existing Entity
  await client.modelSave(
    store.id, 'Person', [updatedPerson]
  )
  // Delete existing Entity
  await client.modelDelete(
    store.id, 'Person', [person.ID]
  )
  // Check whether Entity exists
  const has = await client.modelHas(
    store.id, 'Person', [updatedPerson.ID]
  )
  console.log(has) // false
  assert.equal(has, false)

  // erratum: the paper names this transaction `txn` and then calls `transaction`; one name is used here.
  const transaction = client.writeTransaction<Person>(
    store.id, 'Person'
  )
  await transaction.start()
  const created2 = await transaction.modelCreate([{
    ID: '',
    firstName: 'John',
    lastName: 'Doe',
    age: 30,
  }])
  const existing = created2.entitiesList.pop()!
  const has2 = await transaction.has([existing.ID])
  console.log(has2) // true
  assert.equal(has2, true)
  existing.age = 99
  await transaction.modelSave([existing])
  await transaction.modelDelete([existing.ID])
  await transaction.end()
  assert.equal(await client.modelHas(store.id, 'Person', [existing.ID]), false)

  // erratum: the transaction above deleted `existing`, and saving an entity that does not exist is refused,
  // so the listening example starts by creating it again.
  await client.modelCreate(store.id, 'Person', [existing])

  const replies: Array<number | undefined> = []
  const closer = client.listen<Person>(
    store.id, 'Person', existing.ID, reply => {
    console.log(`Entity modified: ${JSON.stringify(reply.entity)}`)
    replies.push(reply.entity?.age)
    // Entity modified: { ..., age: 30 }
    // Entity modified: { ..., age: 40 }
  })
  existing.age = 30
  await client.modelSave(
    store.id, 'Person', [existing]
  )
  existing.age = 40
  await client.modelSave(
    store.id, 'Person', [existing]
  )
  // Find or search for a specific Entity
  const found = await client.modelFindByID<Person>(
    store.id, 'Person', existing.ID
  )
  console.log(found.entity!.age) // 40
  assert.equal(found.entity!.age, 40)

  const deadline = Date.now() + 2000
  while (replies.length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
  assert.deepEqual(replies, [30, 40], 'the listener saw both saves, in order')
  closer()

  for (const age of [59, 60, 65, 66, 67, 68]) {
    await client.modelCreate(store.id, 'Person', [{ ID: '', firstName: 'P', lastName: String(age), age }])
  }
  // Select all Persons...
  const query = Query.where('age') // where `age` is...
    .ge(60) // greater than or equal to 60, ...
    .and('age') // and `age` is...
    .lt(66) // less than 66, ...
    .or(new Where('age').eq(67)) // or where `age` is equal to 67
  const { entitiesList } = await client.modelFind<Person>(
    store.id, 'Person', query
  )
  console.log(entitiesList.length)
  assert.deepEqual(entitiesList.map(p => p.age).sort(), [60, 65, 67])

  assert.equal(printed.at(-1), 3)
  await client.close()
})
