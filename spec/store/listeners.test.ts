import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import type { ListenFilter, StoreChange } from '../../actors/thread-runtime.ts'
import { tempPeer, until, within, type TempPeer } from '../helpers/temp-peer.ts'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A listener that records what it receives, with a way to wait for a number of changes. */
function recorder (db: Store, filter: ListenFilter, delay = 0): { changes: StoreChange[], stop: () => void, received: (count: number, ms?: number) => Promise<void> } {
  const changes: StoreChange[] = []
  const stop = db.listen(filter, async change => {
    if (delay > 0) await sleep(delay)
    changes.push(change)
  })
  return {
    changes,
    stop,
    received: (count, ms = 2000) => until(() => changes.length >= count, `${count} changes for ${JSON.stringify(filter)} (got ${changes.length})`, ms)
  }
}

const brief = (change: StoreChange): [string, string, string] => [change.collection, change.action, change.id]

describe('store listeners', () => {
  let temp: TempPeer
  let db: Store

  before(async () => {
    temp = await tempPeer()
    db = await temp.peer.newStore()
    await db.registerSchema('A', { type: 'object' })
    await db.registerSchema('B', { type: 'object' })
  })

  after(async () => {
    await temp?.dispose()
  })

  it('delivers every change in order, with the entity as it is after the change', async () => {
    const all = recorder(db, {})
    const a = db.collection('A')
    const [id] = await a.create([{ _id: 'x1', v: 1 }])
    await a.save([{ _id: 'x1', v: 2, extra: true }])
    await a.update(id!, draft => { draft.v = 3; delete draft.extra })
    await db.writeTransaction('A', async tx => {
      await tx.create([{ _id: 'x2', v: 10 }, { _id: 'x3', v: 20 }])
      await tx.delete(['x2'])
    })
    await a.delete(['x1'])
    await all.received(7)
    all.stop()
    assert.deepEqual(all.changes.map(brief), [
      ['A', 'create', 'x1'],
      ['A', 'save', 'x1'],
      ['A', 'save', 'x1'],
      ['A', 'create', 'x2'],
      ['A', 'create', 'x3'],
      ['A', 'delete', 'x2'],
      ['A', 'delete', 'x1']
    ])
    assert.deepEqual(all.changes.map(change => change.entity), [
      { _id: 'x1', v: 1 },
      { _id: 'x1', v: 2, extra: true },
      { _id: 'x1', v: 3 },
      { _id: 'x2', v: 10 },
      { _id: 'x3', v: 20 },
      undefined,
      undefined
    ])
    const positions = all.changes.map(change => change.position)
    assert.deepEqual(positions, [...positions].sort((p, q) => p - q))
    assert.equal(new Set(positions).size, positions.length)
    await a.delete(['x3'])
  })

  it('delivers only changes made after it started listening', async () => {
    const a = db.collection('A')
    await a.create([{ _id: 'before-listen', v: 0 }])
    const late = recorder(db, { collection: 'A' })
    await a.create([{ _id: 'after-listen', v: 0 }])
    await late.received(1)
    await sleep(20)
    late.stop()
    assert.deepEqual(late.changes.map(brief), [['A', 'create', 'after-listen']])
    await a.delete(['before-listen', 'after-listen'])
  })

  it('filters by collection, by one ID, by a list of IDs and by action', async () => {
    const onlyA = recorder(db, { collection: 'A' })
    const onlyB = recorder(db, { collection: 'B' })
    const oneId = recorder(db, { id: 'f1' })
    const someIds = recorder(db, { collection: 'A', id: ['f1', 'f3'] })
    const deletes = recorder(db, { actions: ['delete'] })
    const writesInB = recorder(db, { collection: 'B', actions: ['create', 'save'] })
    const everything = recorder(db, {})

    const a = db.collection('A')
    const b = db.collection('B')
    await a.create([{ _id: 'f1' }, { _id: 'f2' }, { _id: 'f3' }])
    await b.create([{ _id: 'f1' }, { _id: 'g1' }])
    await a.save([{ _id: 'f2', v: 1 }])
    await b.update('g1', draft => { draft.v = 1 })
    await a.delete(['f1', 'f2'])
    await b.delete(['f1'])
    await a.delete(['f3'])
    await b.delete(['g1'])
    await everything.received(12)
    await Promise.all([onlyA.received(7), onlyB.received(5), oneId.received(4), someIds.received(4), deletes.received(5), writesInB.received(3)])
    await sleep(20)
    for (const listener of [onlyA, onlyB, oneId, someIds, deletes, writesInB, everything]) listener.stop()

    assert.deepEqual(onlyA.changes.map(brief), [
      ['A', 'create', 'f1'], ['A', 'create', 'f2'], ['A', 'create', 'f3'], ['A', 'save', 'f2'],
      ['A', 'delete', 'f1'], ['A', 'delete', 'f2'], ['A', 'delete', 'f3']
    ])
    assert.deepEqual(onlyB.changes.map(brief), [
      ['B', 'create', 'f1'], ['B', 'create', 'g1'], ['B', 'save', 'g1'], ['B', 'delete', 'f1'], ['B', 'delete', 'g1']
    ])
    assert.deepEqual(oneId.changes.map(brief), [['A', 'create', 'f1'], ['B', 'create', 'f1'], ['A', 'delete', 'f1'], ['B', 'delete', 'f1']])
    assert.deepEqual(someIds.changes.map(brief), [['A', 'create', 'f1'], ['A', 'create', 'f3'], ['A', 'delete', 'f1'], ['A', 'delete', 'f3']])
    assert.deepEqual(deletes.changes.map(brief), [
      ['A', 'delete', 'f1'], ['A', 'delete', 'f2'], ['B', 'delete', 'f1'], ['A', 'delete', 'f3'], ['B', 'delete', 'g1']
    ])
    assert.deepEqual(writesInB.changes.map(brief), [['B', 'create', 'f1'], ['B', 'create', 'g1'], ['B', 'save', 'g1']])
    assert.equal(everything.changes.length, 12)
  })

  it('lags behind with a slow callback, and loses none of 200 changes', async () => {
    const slow = recorder(db, { collection: 'B' }, 20)
    const fast = recorder(db, { collection: 'B' })
    const b = db.collection('B')
    const ids: string[] = []
    for (let i = 0; i < 200; i++) ids.push(...await b.create([{ _id: `slow-${String(i).padStart(3, '0')}`, i }]))
    // Every write committed long before a listener taking 20 ms per change could have seen them all.
    await fast.received(200)
    assert.ok(slow.changes.length < 200, `the slow listener kept up (${slow.changes.length}): the test proves nothing`)
    await slow.received(200, 200 * 20 + 3000)
    await sleep(30)
    slow.stop()
    fast.stop()
    assert.deepEqual(slow.changes.map(change => change.id), ids)
    assert.deepEqual(slow.changes.map(change => change.entity?.i), Array.from({ length: 200 }, (_, i) => i))
    assert.deepEqual(fast.changes.map(change => change.id), ids)
  })

  it('stops delivering once unsubscribed', async () => {
    const stopped = recorder(db, { collection: 'A' })
    const witness = recorder(db, { collection: 'A' })
    const a = db.collection('A')
    await a.create([{ _id: 'u1' }])
    await stopped.received(1)
    stopped.stop()
    await a.create([{ _id: 'u2' }])
    await a.delete(['u1', 'u2'])
    await witness.received(4)
    await sleep(30)
    witness.stop()
    assert.deepEqual(stopped.changes.map(brief), [['A', 'create', 'u1']])
    // Calling stop again is harmless.
    stopped.stop()
  })

  it('delivers nothing more after unsubscribing from a slow listener in the middle of a batch', async () => {
    const changes: string[] = []
    let stop: () => void = () => {}
    let stoppedAt = -1
    stop = db.listen({ collection: 'A' }, async change => {
      changes.push(change.id)
      if (changes.length === 3) {
        stoppedAt = changes.length
        stop()
      }
      await sleep(5)
    })
    const a = db.collection('A')
    await a.create(Array.from({ length: 20 }, (_, i) => ({ _id: `batch-${i}` })))
    await until(() => stoppedAt > 0, 'the listener to unsubscribe itself')
    await sleep(150)
    assert.deepEqual(changes, ['batch-0', 'batch-1', 'batch-2'])
    await a.delete(Array.from({ length: 20 }, (_, i) => `batch-${i}`))
  })

  it('starts a listener asked for inside a transaction\'s body, and stops it', async () => {
    const heard: string[] = []
    let stop: (() => void) | undefined
    await db.readTransaction('A', async () => {
      stop = db.listen({ collection: 'A' }, change => { heard.push(change.id) })
    })
    await db.writeTransaction('A', async tx => {
      await tx.create([{ _id: 'inside-1' }])
    })
    await until(() => heard.length === 1, 'the change heard')
    stop!()
    await db.collection('A').create([{ _id: 'inside-2' }])
    await sleep(50)
    assert.deepEqual(heard, ['inside-1'])
    await db.collection('A').delete(['inside-1', 'inside-2'])
  })

  it('gives a later listener none of the page a stopped one was being handed', async () => {
    const a = db.collection('A')
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    const first: string[] = []
    const stopFirst = db.listen({ collection: 'A' }, async change => {
      first.push(change.id)
      await held
    })
    await a.create(Array.from({ length: 10 }, (_, i) => ({ _id: `page-${i}` })))
    await until(() => first.length === 1, 'the first change handed over')
    stopFirst()
    // Its ID is free again once its actor is gone: the next listeners may be given it.
    await sleep(20)
    const later = Array.from({ length: 3 }, () => recorder(db, { collection: 'A' }))
    release()
    await a.create([{ _id: 'after' }])
    for (const listener of later) await listener.received(1)
    await sleep(50)
    assert.deepEqual(first, ['page-0'])
    for (const listener of later) {
      assert.deepEqual(listener.changes.map(change => change.id), ['after'])
      listener.stop()
    }
    await a.delete([...Array.from({ length: 10 }, (_, i) => `page-${i}`), 'after'])
  })

  it('keeps two listeners independent: a blocked one holds up neither the other nor the writers', async () => {
    let unblock!: () => void
    const blocked = new Promise<void>(resolve => { unblock = resolve })
    const stuck: string[] = []
    const stopStuck = db.listen({ collection: 'A' }, async change => {
      stuck.push(change.id)
      await blocked
    })
    const free = recorder(db, { collection: 'A' })
    const a = db.collection('A')
    for (let i = 0; i < 10; i++) await within(a.create([{ _id: `ind-${i}` }]), `create ${i} while a listener is blocked`)
    await free.received(10)
    assert.deepEqual(stuck, ['ind-0'])
    unblock()
    await until(() => stuck.length >= 10, 'the blocked listener to catch up')
    assert.deepEqual(stuck, free.changes.map(change => change.id))
    stopStuck()
    free.stop()
    await a.delete(Array.from({ length: 10 }, (_, i) => `ind-${i}`))
  })

  it('sees no change for a write that failed', async () => {
    await db.registerSchema('Strict', { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] })
    const strict = recorder(db, { collection: 'Strict' })
    const collection = db.collection('Strict')
    await assert.rejects(collection.create([{ _id: 'ok', n: 1 }, { _id: 'bad', n: 'x' }]))
    await collection.create([{ _id: 'good', n: 2 }])
    await strict.received(1)
    await sleep(20)
    strict.stop()
    assert.deepEqual(strict.changes.map(brief), [['Strict', 'create', 'good']])
  })
})

describe('a listener far behind', () => {
  it('holds one page of changes at a time however far it lags, and loses none', async () => {
    let largestPage = 0
    let largestLag = 0
    const temp = await tempPeer({
      inspect: event => {
        if (event.type !== '@xstate.snapshot' || !String((event.actorRef as { id?: string }).id).startsWith('listener:')) return
        const context = (event as { snapshot: { context?: { page: unknown[], cursor: number, known: number } } }).snapshot.context
        if (context === undefined) return
        largestPage = Math.max(largestPage, context.page.length)
        largestLag = Math.max(largestLag, context.known - context.cursor)
      }
    })
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Item', { type: 'object' })
      let open!: () => void
      const gate = new Promise<void>(resolve => { open = resolve })
      const received: number[] = []
      const stop = db.listen({ collection: 'Item' }, async change => {
        await gate
        received.push(change.entity?.i as number)
      })
      const items = db.collection('Item')
      for (let batch = 0; batch < 12; batch++) await items.create(Array.from({ length: 100 }, (_, n) => ({ i: batch * 100 + n })))
      await until(() => largestLag >= 1000, `the blocked listener to learn of the writes (it lags by ${largestLag})`)
      open()
      await until(() => received.length === 1200, `1,200 changes to reach the listener (got ${received.length})`, 10_000)
      stop()
      assert.deepEqual(received, Array.from({ length: 1200 }, (_, i) => i))
      assert.ok(largestPage > 0 && largestPage <= 256, `the listener held ${largestPage} changes at once`)
    } finally {
      await temp.dispose()
    }
  })
})

it('calls no listener once its peer has closed, however much it still lagged', async () => {
  const temp = await tempPeer()
  try {
    const db = await temp.peer.newStore()
    await db.registerSchema('A', { type: 'object' })
    let closed = false
    let heardAfterClose = 0
    let heard = 0
    db.listen({ collection: 'A' }, async () => {
      heard++
      if (closed) heardAfterClose++
      await sleep(10)
    })
    await db.collection('A').create(Array.from({ length: 100 }, (_, i) => ({ _id: `c${i}` })))
    await until(() => heard > 0, 'the first change heard')
    await temp.peer.close()
    closed = true
    await sleep(100)
    assert.ok(heard < 100, `heard ${heard} of 100`)
    assert.equal(heardAfterClose, 0)
  } finally {
    await temp.dispose()
  }
})
