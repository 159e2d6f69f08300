import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CollectionWriter, Store } from '../../actors/store.ts'
import type { Entity } from '../../codecs/event-codec.ts'
import { Query } from '../../codecs/query.ts'
import { InvalidArgumentError, TransactionClosedError, TransactionTimeoutError, UniqueViolationError } from '../../storage/errors.ts'
import { Client } from '../../actors/client.ts'
import { dumpStore, tempPeer, within, type TempPeer } from '../helpers/temp-peer.ts'

const schema = {
  type: 'object',
  properties: { _id: { type: 'string' }, name: { type: 'string' }, n: { type: 'integer' } },
  required: ['n']
}

describe('store transactions', () => {
  let temp: TempPeer
  let db: Store

  const recordCount = (): number => temp.peer.logs.records(db.id, db.logId!).length

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('Item', schema, { indexes: [{ path: 'n' }] })
    await db.registerSchema('Counter', schema)
  })

  after(async () => {
    await temp?.dispose()
  })

  it('sees its own writes through has, findById and find, while others see committed state only', async () => {
    const items = db.collection('Item')
    const [existing, doomed] = await items.create([{ name: 'existing', n: 1 }, { name: 'doomed', n: 2 }])
    const records = recordCount()
    const result = await db.writeTransaction('Item', async tx => {
      const [fresh] = await tx.create([{ name: 'fresh', n: 3 }])
      assert.equal(await tx.has([fresh!]), true)
      assert.deepEqual(await tx.findById(fresh!), { _id: fresh, name: 'fresh', n: 3 })
      // Outside the transaction nothing has happened yet.
      assert.equal(await items.has([fresh!]), false)
      assert.equal(await items.findById(fresh!), undefined)

      await tx.save([{ _id: existing!, name: 'existing', n: 10 }])
      assert.equal((await tx.findById(existing!))?.n, 10)
      assert.equal((await items.findById(existing!))?.n, 1)

      await tx.update(fresh!, draft => { draft.n = 30 })
      assert.equal((await tx.findById(fresh!))?.n, 30)

      await tx.delete([doomed!])
      assert.equal(await tx.has([doomed!]), false)
      assert.equal(await tx.findById(doomed!), undefined)
      assert.equal(await tx.has([existing!, fresh!]), true)
      assert.equal(await tx.has([existing!, doomed!]), false)
      assert.equal(await items.has([doomed!]), true)

      const found = await tx.find(Query.where('n').ge(10).orderByDesc('n'))
      assert.deepEqual(found.map(item => item.name), ['fresh', 'existing'])
      assert.deepEqual((await tx.find(new Query().orderBy('n'))).map(item => item.name), ['existing', 'fresh'])
      assert.deepEqual((await tx.find(Query.where('n').eq(2))), [])
      assert.deepEqual((await tx.find(new Query().orderBy('n').limit(1))).map(item => item.name), ['existing'])
      assert.deepEqual((await items.find(new Query().orderBy('n'))).map(item => item.name), ['existing', 'doomed'])
      return fresh
    })

    // All of it committed, as one record.
    assert.equal(recordCount(), records + 1)
    assert.deepEqual(await items.findById(result!), { _id: result, name: 'fresh', n: 30 })
    assert.equal((await items.findById(existing!))?.n, 10)
    assert.equal(await items.has([doomed!]), false)
    assert.deepEqual((await items.find(new Query().orderBy('n'))).map(item => item.name), ['existing', 'fresh'])
    await items.delete([existing!, result!])
  })

  it('orders its own writes among committed rows as a committed read would: ties and unsorted rows by ID', async () => {
    const items = db.collection('Item')
    await items.create([{ _id: 'b', name: 'b', n: 1 }, { _id: 'd', name: 'd', n: 1 }])
    const inside = await db.writeTransaction('Item', async tx => {
      await tx.create([{ _id: 'c', name: 'c', n: 1 }, { _id: 'a', name: 'a', n: 1 }])
      await tx.save([{ _id: 'd', name: 'd', n: 0 }])
      return {
        unsorted: (await tx.find()).map(item => item._id),
        sorted: (await tx.find(new Query().orderBy('n'))).map(item => item._id),
        page: (await tx.find(new Query().orderByDesc('n').skip(1).limit(2))).map(item => item._id)
      }
    })
    const after = {
      unsorted: (await items.find()).map(item => item._id),
      sorted: (await items.find(new Query().orderBy('n'))).map(item => item._id),
      page: (await items.find(new Query().orderByDesc('n').skip(1).limit(2))).map(item => item._id)
    }
    assert.deepEqual(inside, { unsorted: ['a', 'b', 'c', 'd'], sorted: ['d', 'a', 'b', 'c'], page: ['b', 'c'] })
    assert.deepEqual(after, inside)
    await items.delete(['a', 'b', 'c', 'd'])
  })

  it('refuses reads through a transaction\'s handle once it ended, committed or aborted', async () => {
    const items = db.collection('Item')
    let committed!: CollectionWriter
    await db.writeTransaction('Item', async tx => { committed = tx; await tx.create([{ _id: 'kept', n: 1 }]) })
    let aborted!: CollectionWriter
    await assert.rejects(db.writeTransaction('Item', async tx => {
      aborted = tx
      await tx.create([{ _id: 'ghost', n: 1 }])
      throw new Error('abort')
    }), /abort/)
    for (const handle of [committed, aborted]) {
      await assert.rejects(handle.findById('kept'), TransactionClosedError)
      await assert.rejects(handle.has(['ghost']), TransactionClosedError)
      await assert.rejects(handle.find(), TransactionClosedError)
    }
    assert.equal(await items.findById('ghost'), undefined)
    await items.delete(['kept'])
  })

  it('keeps copies of what it is handed and hands out copies: changing them afterwards changes nothing', async () => {
    const items = db.collection('Item')
    const handed = { _id: 'held', name: 'as handed', n: 1 }
    const creating = items.create([handed])
    handed.n = 2
    await creating
    assert.equal((await items.findById('held'))?.n, 1)

    const seen: number[] = []
    const stop = db.listen({ collection: 'Item', id: 'copied' }, change => { seen.push(change.entity?.n as number) })
    await db.writeTransaction('Item', async tx => {
      const draft = { _id: 'copied', name: 'copied', n: 1 }
      await tx.create([draft])
      draft.n = 2
      const found = await tx.findById('copied')
      found!.n = 3
      assert.equal((await tx.findById('copied'))?.n, 1)
      const [listed] = await tx.find(Query.where('name').eq('copied'))
      listed!.n = 4
      await tx.save([draft])
      draft.n = 5
    })
    assert.equal((await items.findById('copied'))?.n, 2)
    await within((async () => { while (seen.length < 2) await new Promise(resolve => setTimeout(resolve, 5)) })(), 'both changes heard')
    assert.deepEqual(seen, [1, 2])
    stop()
    await items.delete(['held', 'copied'])
  })

  it('commits nothing and appends no record for a transaction that only reads', async () => {
    const records = recordCount()
    const before = dumpStore(temp.peer)
    const count = await db.writeTransaction('Item', async tx => (await tx.find()).length)
    assert.equal(count, 0)
    assert.equal(recordCount(), records)
    assert.equal(dumpStore(temp.peer), before)
  })

  it('aborts on an error thrown in the body: the error comes back and nothing changes', async () => {
    const items = db.collection('Item')
    const [kept] = await items.create([{ name: 'kept', n: 5 }])
    const before = dumpStore(temp.peer)
    const records = recordCount()
    const failure = new Error('the body gives up')
    let created: string | undefined
    await assert.rejects(db.writeTransaction('Item', async tx => {
      ;[created] = await tx.create([{ name: 'never', n: 6 }])
      await tx.save([{ _id: kept!, name: 'kept', n: 50 }])
      await tx.delete([kept!])
      await new Promise(resolve => setTimeout(resolve, 5))
      throw failure
    }), error => error === failure)
    assert.equal(dumpStore(temp.peer), before)
    assert.equal(recordCount(), records)
    assert.equal(await items.has([created!]), false)
    assert.deepEqual(await items.findById(kept!), { _id: kept, name: 'kept', n: 5 })

    // The lock was released: the next transaction and plain writes go through.
    await db.writeTransaction('Item', async tx => { await tx.save([{ _id: kept!, name: 'kept', n: 51 }]) })
    await within(items.update(kept!, draft => { draft.n = 52 }), 'an update after an aborted transaction')
    assert.equal((await items.findById(kept!))?.n, 52)
    await items.delete([kept!])
  })

  it('checks unique values when it commits: two entities can trade them, and one left shared aborts it all', async () => {
    await db.registerSchema('Account', schema, { indexes: [{ path: 'name', unique: true }] })
    const accounts = db.collection('Account')
    await accounts.create([{ _id: 'a', name: 'x', n: 1 }, { _id: 'b', name: 'y', n: 2 }])
    await db.writeTransaction('Account', async tx => {
      await tx.save([{ _id: 'a', name: 'y', n: 1 }])
      await tx.save([{ _id: 'b', name: 'x', n: 2 }])
    })
    assert.deepEqual((await accounts.find(Query.where('name').eq('x'))).map(row => row._id), ['b'])
    assert.deepEqual((await accounts.find(Query.where('name').eq('y'))).map(row => row._id), ['a'])
    await accounts.save([{ _id: 'a', name: 'z', n: 1 }, { _id: 'b', name: 'y', n: 2 }])
    const before = dumpStore(temp.peer)
    await assert.rejects(db.writeTransaction('Account', async tx => {
      await tx.save([{ _id: 'a', name: 'y', n: 1 }])
      await tx.create([{ _id: 'c', name: 'w', n: 3 }])
    }), (e: unknown) => e instanceof UniqueViolationError && e.path === 'name')
    assert.equal(dumpStore(temp.peer), before)
    await db.writeTransaction('Account', async tx => {
      await tx.create([{ _id: 'd', name: 'y', n: 4 }])
      await tx.delete(['b'])
    })
    assert.deepEqual((await accounts.find(Query.where('name').eq('y'))).map(row => row._id), ['d'])

    // Two unique paths: one clash put right in the transaction leaves the other to be checked.
    await db.registerSchema('Pair', { type: 'object' }, { indexes: [{ path: 'email', unique: true }, { path: 'name', unique: true }] })
    const pairs = db.collection('Pair')
    await pairs.create([{ _id: 'a', email: 'e1', name: 'n1' }, { _id: 'b', email: 'e2', name: 'n2' }])
    const untouched = dumpStore(temp.peer)
    await assert.rejects(db.writeTransaction('Pair', async tx => {
      await tx.save([{ _id: 'b', email: 'e1', name: 'n1' }])
      await tx.save([{ _id: 'a', email: 'e3', name: 'n1' }])
    }), (e: unknown) => e instanceof UniqueViolationError && e.path === 'name')
    assert.equal(dumpStore(temp.peer), untouched)
  })

  it('refuses a handle used after its transaction ended, and changes nothing', async () => {
    let leaked: CollectionWriter | undefined
    await db.writeTransaction('Item', async tx => { leaked = tx })
    const before = dumpStore(temp.peer)
    await assert.rejects(leaked!.create([{ name: 'late', n: 1 }]), (error: unknown) =>
      error instanceof TransactionClosedError && error.code === TransactionClosedError.code)
    assert.equal(dumpStore(temp.peer), before)
  })

  it('is serializable: 20 concurrent read-modify-write transactions on one counter end at 20', async () => {
    const counters = db.collection('Counter')
    const [id] = await counters.create([{ name: 'counter', n: 0 }])
    const results = await within(Promise.all(Array.from({ length: 20 }, async (_, i) => {
      return await db.writeTransaction('Counter', async tx => {
        const counter = await tx.findById(id!)
        // Give the others every chance to interleave.
        await new Promise(resolve => setTimeout(resolve, i % 3))
        await tx.save([{ ...counter!, n: (counter!.n as number) + 1 }])
        return counter!.n as number
      })
    })), '20 concurrent write transactions', 5000)
    assert.equal((await counters.findById(id!))?.n, 20)
    // Every transaction read a different value: each saw all the ones committed before it.
    assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i))
  })

  it('serializes transactions with plain updates and creates issued meanwhile', async () => {
    const counters = db.collection('Counter')
    const [id] = await counters.create([{ name: 'mixed', n: 0 }])
    const work: Array<Promise<unknown>> = []
    for (let i = 0; i < 10; i++) {
      work.push(db.writeTransaction('Counter', async tx => {
        const counter = await tx.findById(id!)
        await new Promise(resolve => setImmediate(resolve))
        await tx.update(id!, draft => { draft.n = (counter!.n as number) + 1 })
      }))
      work.push(counters.update(id!, draft => { draft.n = (draft.n as number) + 1 }))
      work.push(counters.create([{ name: `side ${i}`, n: 1000 + i }]))
    }
    await within(Promise.all(work), '10 transactions, 10 updates and 10 creates', 5000)
    assert.equal((await counters.findById(id!))?.n, 20)
    assert.equal((await counters.find(Query.where('n').ge(1000))).length, 10)
  })

  it('holds plain writes issued during a write transaction until it ends', async () => {
    const items = db.collection('Item')
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let bodyRunning!: () => void
    const running = new Promise<void>(resolve => { bodyRunning = resolve })
    const transaction = db.writeTransaction('Item', async tx => {
      bodyRunning()
      await gate
      assert.deepEqual(await tx.find(Query.where('name').eq('outsider')), [])
      await tx.create([{ _id: 'insider', name: 'insider', n: 100 }])
    })
    await within(running, 'the transaction body to start')
    let outsiderDone = false
    const outsider = items.create([{ _id: 'outsider', name: 'outsider', n: 101 }]).then(() => { outsiderDone = true })
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.equal(outsiderDone, false, 'a plain create went through while a write transaction held the lock')
    assert.equal(await items.has(['outsider']), false)
    release()
    await within(Promise.all([transaction, outsider]), 'the transaction and the plain create')
    assert.equal(await items.has(['insider', 'outsider']), true)
    await items.delete(['insider', 'outsider'])
  })

  it('reads committed state only in a read transaction, even while a write transaction is open', async () => {
    const items = db.collection('Item')
    const [id] = await items.create([{ name: 'read me', n: 7 }])
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let written!: () => void
    const wrote = new Promise<void>(resolve => { written = resolve })
    const writer = db.writeTransaction('Item', async tx => {
      await tx.save([{ _id: id!, name: 'read me', n: 70 }])
      await tx.create([{ _id: 'uncommitted', name: 'uncommitted', n: 8 }])
      written()
      await gate
    })
    await within(wrote, 'the write transaction to collect its writes')
    const seen = await within(db.readTransaction('Item', async tx => ({
      item: await tx.findById(id!),
      has: await tx.has(['uncommitted']),
      all: (await tx.find(new Query().orderBy('n'))).map(item => item.n)
    })), 'a read transaction while a write transaction is open')
    assert.deepEqual(seen, { item: { _id: id, name: 'read me', n: 7 }, has: false, all: [7] })
    release()
    await within(writer, 'the write transaction to commit')
    const after = await db.readTransaction('Item', async tx => ({
      item: await tx.findById(id!),
      has: await tx.has(['uncommitted'])
    }))
    assert.deepEqual(after, { item: { _id: id, name: 'read me', n: 70 }, has: true })
    await items.delete([id!, 'uncommitted'])
  })

  it('sees one committed state through a whole read transaction, whatever commits while it awaits', async () => {
    const items = db.collection('Item')
    const [kept, changed, removed] = await items.create([{ name: 'kept', n: 41 }, { name: 'changed', n: 42 }, { name: 'removed', n: 43 }])
    const inRange = Query.where('n').ge(40).and('n').lt(50).orderBy('n')
    let added: string | undefined
    const seen = await db.readTransaction('Item', async tx => {
      const first = (await tx.find(inRange)).map(item => item.name)
      // Writes that do not wait for the reader commit between its reads, through the index and the views.
      ;[added] = await items.create([{ name: 'added', n: 44 }])
      await items.save([{ _id: changed!, name: 'changed', n: 45 }])
      await items.delete([removed!])
      assert.deepEqual((await items.find(inRange)).map(item => item.name), ['kept', 'added', 'changed'])
      return {
        first,
        again: (await tx.find(inRange)).map(item => item.name),
        byIndex: (await tx.find(Query.where('n').eq(44))).length,
        changed: (await tx.findById(changed!))?.n,
        hasAdded: await tx.has([added!]),
        hasRemoved: await tx.has([removed!])
      }
    })
    assert.deepEqual(seen, {
      first: ['kept', 'changed', 'removed'],
      again: ['kept', 'changed', 'removed'],
      byIndex: 0,
      changed: 42,
      hasAdded: false,
      hasRemoved: true
    })
    const now = await db.readTransaction('Item', async tx => (await tx.find(inRange)).map(item => item.name))
    assert.deepEqual(now, ['kept', 'added', 'changed'])
    await items.delete([kept!, changed!, added!])
  })

  it('leaves a write body that never returns behind at its time limit: nothing of it committed, writers let through', async () => {
    const items = db.collection('Item')
    const before = dumpStore(temp.peer)
    const records = recordCount()
    let bodyRunning!: () => void
    const running = new Promise<void>(resolve => { bodyRunning = resolve })
    let handle!: CollectionWriter
    const started = performance.now()
    const stuck = db.writeTransaction('Item', async tx => {
      handle = tx
      await tx.create([{ _id: 'stuck', name: 'stuck', n: 200 }])
      bodyRunning()
      await new Promise(() => {})
    }, { timeout: 150 })
    await within(running, 'the stuck body to start')
    const outsider = items.create([{ _id: 'waiting', name: 'waiting', n: 201 }])
    await assert.rejects(within(stuck, 'the stuck transaction to time out'), (error: unknown) => {
      assert.ok(error instanceof TransactionTimeoutError)
      assert.equal(error.code, 'ERR_TRANSACTION_TIMEOUT')
      assert.match(error.message, /150 ms/)
      return true
    })
    assert.ok(performance.now() - started >= 140, 'it waited for its limit')
    await within(outsider, 'the plain create held back by the stuck transaction')
    assert.equal(await items.has(['stuck']), false)
    assert.equal(await items.has(['waiting']), true)
    assert.equal(recordCount(), records + 1, 'one record: the plain create')

    // What the body does after its limit is refused, and changes nothing.
    await assert.rejects(handle.create([{ _id: 'late', name: 'late', n: 202 }]), TransactionClosedError)
    await assert.rejects(handle.find(), TransactionClosedError)
    await items.delete(['waiting'])
    assert.equal(await items.has(['late']), false)
    assert.equal(recordCount(), records + 2)
    assert.notEqual(dumpStore(temp.peer), before)
    await db.writeTransaction('Item', async tx => { await tx.create([{ _id: 'after', name: 'after', n: 203 }]) })
    assert.equal(await items.has(['after']), true)
    await items.delete(['after'])
  })

  it('lets go of the state a read body pinned once it runs past its time limit', async () => {
    let reader!: Parameters<Parameters<Store['readTransaction']>[1]>[0]
    let bodyRunning!: () => void
    const running = new Promise<void>(resolve => { bodyRunning = resolve })
    const stuck = db.readTransaction('Item', async tx => {
      reader = tx
      await tx.find()
      bodyRunning()
      await new Promise(() => {})
    }, { timeout: 50 })
    await within(running, 'the stuck reader to start')
    await assert.rejects(within(stuck, 'the stuck reader to time out'), TransactionTimeoutError)
    await assert.rejects(reader.find(), TransactionClosedError)
    await assert.rejects(reader.has(['anything']), TransactionClosedError)
  })

  it('ends a read made inside a write transaction\'s body with that transaction, at its time limit', async () => {
    let reader!: Parameters<Parameters<Store['readTransaction']>[1]>[0]
    let reading!: () => void
    const read = new Promise<void>(resolve => { reading = resolve })
    const outer = db.writeTransaction('Item', async () => {
      await db.readTransaction('Item', async tx => {
        reader = tx
        await tx.find()
        reading()
        await new Promise(() => {})
      })
    }, { timeout: 80 })
    await within(read, 'the nested read to start')
    assert.deepEqual(await reader.has(['anything']), false, 'it reads while its write transaction runs')
    await assert.rejects(within(outer, 'the write transaction to time out'), TransactionTimeoutError)
    await assert.rejects(reader.find(), TransactionClosedError, 'its pinned state went with the write transaction')
  })

  it('refuses a time limit that is not a positive number of milliseconds a timer can wait, and starts nothing', async () => {
    const records = recordCount()
    for (const timeout of [0, -1, Number.NaN, '100' as unknown as number, 2 ** 31, Number.MAX_VALUE]) {
      let ran = false
      await assert.rejects(db.writeTransaction('Item', async () => { ran = true }, { timeout }), InvalidArgumentError)
      await assert.rejects(db.readTransaction('Item', async () => { ran = true }, { timeout }), InvalidArgumentError)
      assert.equal(ran, false)
      await assert.rejects(tempPeer({ network: false, transactionTimeout: timeout }), InvalidArgumentError)
    }
    assert.equal(await db.writeTransaction('Item', async () => 'no limit', { timeout: Infinity }), 'no limit')
    assert.equal(await db.readTransaction('Item', async () => 'the longest', { timeout: 2 ** 31 - 1 }), 'the longest')
    assert.equal(recordCount(), records)
  })

  it('times a transaction out by the peer\'s own limit, as a Client left without end() is', async () => {
    const limited = await tempPeer({ network: false, transactionTimeout: 100 })
    try {
      const client = new Client(limited.peer)
      const { id: storeId } = await client.newStore()
      await client.registerSchema(storeId, 'Item', schema)
      const txn = client.writeTransaction(storeId, 'Item')
      await txn.start()
      await txn.modelCreate([{ _id: 'never ended', n: 1 }])
      const [outside] = (await within(client.modelCreate<Entity>(storeId, 'Item', [{ n: 2 }]), 'a create held back by the open transaction')).entitiesList
      await assert.rejects(txn.end(), TransactionTimeoutError)
      assert.equal((await client.modelHas(storeId, 'Item', ['never ended'])), false)
      assert.equal((await client.modelHas(storeId, 'Item', [outside!._id as string])), true)
    } finally {
      await limited.dispose()
    }
  })

  it('returns the read transaction body\'s value and passes its error back', async () => {
    assert.equal(await db.readTransaction('Item', async () => 42), 42)
    const failure = new Error('reader fails')
    await assert.rejects(db.readTransaction('Item', async () => { throw failure }), error => error === failure)
  })
})
