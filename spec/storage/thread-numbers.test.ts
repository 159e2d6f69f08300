import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ThreadId } from '../../codecs/thread-id.ts'
import { UniqueViolationError } from '../../storage/errors.ts'
import { createLogStore, type LogStore } from '../../storage/log-store.ts'
import { createStoreEngine, type StoreEngine } from '../../storage/store-engine.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { tempStorage, type TempStorage } from '../helpers/temp-storage.ts'

/** Thread numbers: views and events are keyed by them, so no two threads may ever share one. */
describe('thread numbers', () => {
  let temp: TempStorage
  let engine: StoreEngine
  let logs: LogStore
  const threads: Array<{ id: ThreadId, logId: string }> = []

  before(async () => {
    temp = await tempStorage('threads-numbers-')
    logs = createLogStore({ storage: temp.storage })
    engine = createStoreEngine({ storage: temp.storage, logs })
    for (let i = 0; i < 2; i++) {
      const thread = await logs.createThread()
      threads.push({ id: thread.id, logId: (await logs.createLog(thread.id)).id })
    }
  })

  after(async () => {
    await temp?.dispose()
  })

  it('gives a number once, on a thread\'s first write, and 0 to a thread with none', async () => {
    const numbers = createThreadNumbers(temp.storage)
    assert.equal(numbers.of(threads[0]!.id), 0)
    assert.equal(await temp.storage.transaction(() => numbers.assign(threads[0]!.id)), 1)
    assert.equal(numbers.assign(threads[0]!.id), 1)
    assert.equal(createThreadNumbers(temp.storage).of(threads[0]!.id), 1, 'as committed')
  })

  it('gives a number a failed transaction took back to the next thread, never to two', async () => {
    const [a, b] = [threads[0]!, threads[1]!]
    // a holds number 1 whether or not the test before ran.
    await temp.storage.transaction(() => createThreadNumbers(temp.storage).assign(a.id))
    const definition = { type: 'collection', collection: 'Item', schema: { type: 'object' }, indexes: [{ path: 'name', unique: true }] } as const
    const commit = async (thread: typeof a, changes: Parameters<StoreEngine['commitWithin']>[2]): Promise<unknown> =>
      await temp.storage.transaction(() => engine.commitWithin(thread.id, thread.logId, changes))

    // b's first write gives it a number, then fails on its last change: the number goes back with the rest.
    await assert.rejects(commit(b, [
      definition,
      { type: 'create', collection: 'Item', entity: { _id: 'b1', name: 'same' } },
      { type: 'create', collection: 'Item', entity: { _id: 'b2', name: 'same' } }
    ]), UniqueViolationError)
    assert.equal(createThreadNumbers(temp.storage).of(b.id), 0)
    const c = await logs.createThread()
    await commit({ id: c.id, logId: (await logs.createLog(c.id)).id }, [definition])
    await commit(b, [definition, { type: 'create', collection: 'Item', entity: { _id: 'b1', name: 'b' } }])
    await commit(a, [definition, { type: 'create', collection: 'Item', entity: { _id: 'a1', name: 'a' } }])

    const numbers = createThreadNumbers(temp.storage)
    assert.deepEqual([a.id, c.id, b.id].map(id => numbers.of(id)), [1, 2, 3])
    assert.equal(engine.get(b.id, 'Item', 'b1')?.name, 'b')
    assert.equal(engine.get(c.id, 'Item', 'b1'), undefined)
    assert.equal(engine.get(b.id, 'Item', 'a1'), undefined)
  })
})
