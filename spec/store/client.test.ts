import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client, type ListenReply } from '../../actors/client.ts'
import { createPeer } from '../../actors/peer.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { Query } from '../../codecs/query.ts'
import { SchemaViolationError, TransactionClosedError, UniqueViolationError, UnknownThreadError } from '../../storage/errors.ts'
import { until, within } from '../helpers/temp-peer.ts'

/** The paper's `Client` facade beyond its illustrative example: read transactions, listening, refusals. */

interface Person {
  [key: string]: string | number
  ID: string
  name: string
  age: number
}

const PERSON = {
  type: 'object',
  properties: { ID: { type: 'string' }, name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
  required: ['ID', 'name', 'age']
}

describe('the paper\'s Client facade', () => {
  let path: string
  let client: Client
  let storeId: string

  before(async () => {
    path = await mkdtemp(join(tmpdir(), 'threads-client-spec-'))
    client = new Client({ path })
    storeId = (await client.newStore()).id
    await client.registerSchema(storeId, 'Person', PERSON, [{ path: 'name', unique: true }])
  })

  after(async () => {
    await client?.close()
    await rm(path, { recursive: true, force: true })
  })

  it('reads in a read transaction: has, modelFind and modelFindByID, all of one committed state', async () => {
    const { entitiesList: [ada] } = await client.modelCreate<Person>(storeId, 'Person', [{ ID: '', name: 'Ada', age: 36 }])
    const transaction = client.readTransaction<Person>(storeId, 'Person')
    await transaction.start()
    assert.equal(await transaction.has([ada!.ID]), true)
    assert.deepEqual((await transaction.modelFindByID(ada!.ID)).entity, ada)
    await client.modelCreate<Person>(storeId, 'Person', [{ ID: '', name: 'Bea', age: 41 }])
    assert.deepEqual((await transaction.modelFind(Query.where('age').gt(30))).entitiesList.map(person => person.name), ['Ada'])
    await transaction.end()
    assert.deepEqual((await client.modelFind<Person>(storeId, 'Person', Query.where('age').gt(30).orderBy('age'))).entitiesList.map(person => person.name), ['Ada', 'Bea'])
    await client.modelDelete(storeId, 'Person', (await client.modelFind<Person>(storeId, 'Person', new Query())).entitiesList.map(person => person.ID))
  })

  it('finds its own writes inside a write transaction, and nothing of them before end()', async () => {
    const transaction = client.writeTransaction<Person>(storeId, 'Person')
    await transaction.start()
    const { entitiesList: [cy] } = await transaction.modelCreate([{ ID: '', name: 'Cy', age: 7 }])
    assert.deepEqual((await transaction.modelFindByID(cy!.ID)).entity, cy)
    assert.deepEqual((await transaction.modelFind(Query.where('name').eq('Cy'))).entitiesList, [cy])
    assert.equal(await client.modelHas(storeId, 'Person', [cy!.ID]), false)
    await transaction.end()
    assert.deepEqual((await client.modelFindByID<Person>(storeId, 'Person', cy!.ID)).entity, cy)
    await client.modelDelete(storeId, 'Person', [cy!.ID])
  })

  it('rejects end() of a write transaction a commit refuses, and keeps none of its writes', async () => {
    await client.modelCreate<Person>(storeId, 'Person', [{ ID: 'dee', name: 'Dee', age: 50 }])
    const clash = client.writeTransaction<Person>(storeId, 'Person')
    await clash.start()
    await clash.modelCreate([{ ID: 'eve', name: 'Eve', age: 20 }])
    await clash.modelCreate([{ ID: 'dee-again', name: 'Dee', age: 51 }])
    await assert.rejects(clash.end(), (e: unknown) => e instanceof UniqueViolationError && e.code === 'ERR_UNIQUE_VIOLATION')
    assert.equal(await client.modelHas(storeId, 'Person', ['eve']), false)
    assert.equal(await client.modelHas(storeId, 'Person', ['dee-again']), false)

    const invalid = client.writeTransaction<Person>(storeId, 'Person')
    await invalid.start()
    await invalid.modelSave([{ ID: 'dee', name: 'Dee', age: 52 }])
    await invalid.modelCreate([{ ID: 'fay', name: 'Fay', age: -1 }])
    await assert.rejects(invalid.end(), (e: unknown) => e instanceof SchemaViolationError && e.code === 'ERR_SCHEMA_VIOLATION')
    assert.equal((await client.modelFindByID<Person>(storeId, 'Person', 'dee')).entity?.age, 50)
    assert.equal(await client.modelHas(storeId, 'Person', ['fay']), false)

    const discarded = client.writeTransaction<Person>(storeId, 'Person')
    await discarded.start()
    await discarded.modelSave([{ ID: 'dee', name: 'Dee', age: 54 }])
    await discarded.discard()
    assert.equal((await client.modelFindByID<Person>(storeId, 'Person', 'dee')).entity?.age, 50)
    await assert.rejects(discarded.modelSave([{ ID: 'dee', name: 'Dee', age: 55 }]), TransactionClosedError)
    await client.modelDelete(storeId, 'Person', ['dee'])
  })

  it('refuses a second start() of one transaction, and leaves the store free once it ends', async () => {
    const transaction = client.writeTransaction<Person>(storeId, 'Person')
    await transaction.start()
    await assert.rejects(within(transaction.start(), 'the second start'), TransactionClosedError)
    await transaction.modelCreate([{ ID: 'gil', name: 'Gil', age: 30 }])
    await within(transaction.end(), 'the end')
    await assert.rejects(transaction.has(['gil']), TransactionClosedError)
    await within(client.modelDelete(storeId, 'Person', ['gil']), 'a write after it')
  })

  it('listens to a whole model when the ID is empty, and stops when closed', async () => {
    const replies: Array<Pick<ListenReply<Person>, 'action' | 'ID'>> = []
    const close = client.listen<Person>(storeId, 'Person', '', reply => { replies.push({ action: reply.action, ID: reply.ID }) })
    const { entitiesList: [gus, hal] } = await client.modelCreate<Person>(storeId, 'Person', [{ ID: '', name: 'Gus', age: 1 }, { ID: '', name: 'Hal', age: 2 }])
    await client.modelSave(storeId, 'Person', [{ ...gus!, age: 3 }])
    await client.modelDelete(storeId, 'Person', [hal!.ID])
    await until(() => replies.length === 4, 'four changes to reach the listener')
    assert.deepEqual(replies, [
      { action: 'create', ID: gus!.ID },
      { action: 'create', ID: hal!.ID },
      { action: 'save', ID: gus!.ID },
      { action: 'delete', ID: hal!.ID }
    ])
    close()
    await client.modelDelete(storeId, 'Person', [gus!.ID])
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(replies.length, 4)
  })

  it('starts a listener on a store not yet open before the calls that follow it reach the store', async () => {
    await client.close()
    client = new Client({ path })
    const names: string[] = []
    const close = client.listen<Person>(storeId, 'Person', '', reply => { names.push(String(reply.entity?.name)) })
    await client.modelCreate<Person>(storeId, 'Person', [{ ID: 'ivy', name: 'Ivy', age: 9 }])
    await until(() => names.length === 1, 'the create to reach the listener')
    assert.deepEqual(names, ['Ivy'])
    close()
    await client.modelDelete(storeId, 'Person', ['ivy'])
  })

  it('reports a store it cannot open to onError, and opens it when asked again once the peer holds it', async () => {
    const peerPath = await mkdtemp(join(tmpdir(), 'threads-client-spec-'))
    const peer = await createPeer({ path: peerPath, network: false })
    const onPeer = new Client(peer)
    try {
      const threadId = ThreadId.create()
      const failures: unknown[] = []
      onPeer.listen(threadId.toString(), 'Person', '', () => {}, error => { failures.push(error) })
      await until(() => failures.length === 1, 'the failure to be reported')
      assert.ok(failures[0] instanceof UnknownThreadError && failures[0].code === 'ERR_UNKNOWN_THREAD')
      await assert.rejects(onPeer.start(threadId.toString()), UnknownThreadError)

      await peer.openStore(threadId, { key: ThreadKey.random() })
      await within(onPeer.start(threadId.toString()), 'the store, now held, to open')
      await onPeer.registerSchema(threadId.toString(), 'Person', PERSON)
      assert.equal(await onPeer.modelHas(threadId.toString(), 'Person', ['nobody']), false)
    } finally {
      await onPeer.close()
      await rm(peerPath, { recursive: true, force: true })
    }
  })

  it('asks the peer again for a store its peer deleted: refused while the thread is gone, served once it is held anew', async () => {
    const peerPath = await mkdtemp(join(tmpdir(), 'threads-client-spec-'))
    const peer = await createPeer({ path: peerPath, network: false })
    const onPeer = new Client(peer)
    try {
      const { id } = await onPeer.newStore()
      await onPeer.registerSchema(id, 'Person', PERSON)
      await onPeer.modelCreate<Person>(id, 'Person', [{ ID: 'ada', name: 'Ada', age: 36 }])
      const key = (await peer.store(id)).key
      await peer.deleteStore(id)
      await assert.rejects(onPeer.modelHas(id, 'Person', ['ada']), UnknownThreadError)
      await assert.rejects(onPeer.start(id), UnknownThreadError)

      await peer.openStore(id, { key })
      await onPeer.registerSchema(id, 'Person', PERSON)
      assert.equal(await onPeer.modelHas(id, 'Person', ['ada']), false)
      await onPeer.modelCreate<Person>(id, 'Person', [{ ID: 'bea', name: 'Bea', age: 41 }])
      assert.deepEqual((await onPeer.modelFindByID<Person>(id, 'Person', 'bea')).entity, { ID: 'bea', name: 'Bea', age: 41 })
    } finally {
      await onPeer.close()
      await rm(peerPath, { recursive: true, force: true })
    }
  })
})
