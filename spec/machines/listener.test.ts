import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromCallback, waitFor, type AnyActorRef } from 'xstate'
import { listenerMachine, type PageEvent, type PageRead, type PagesCommand } from '../../machines/listener.machine.ts'

/** The listener with fake page reads and deliveries that finish only when the test says so. */

interface Pending<I, O> {
  input: I
  resolve (value: O): void
  reject (error: unknown): void
}

const started: Array<{ stop: () => void }> = []
afterEach(() => {
  for (const actor of started.splice(0)) actor.stop()
})

function harness (cursor = 0) {
  const reads: Array<Pending<{ cursor: number, known: number }, PageRead>> = []
  const deliveries: Array<Pending<{ changes: unknown[] }, void>> = []
  const told: Array<{ type: string, listener?: AnyActorRef }> = []
  const dispatcher = createActor(fromCallback<{ type: string, listener?: AnyActorRef }>(({ receive }) => {
    receive(event => { told.push(event) })
  })).start()
  started.push(dispatcher)
  const machine = listenerMachine.provide({
    actors: {
      pages: fromCallback<PagesCommand, undefined, PageEvent>(({ receive, sendBack }) => {
        receive(command => {
          if (command.type === 'read') {
            reads.push({ input: { cursor: command.cursor, known: command.known }, resolve: page => { sendBack({ type: 'page read', page }) }, reject: error => { sendBack({ type: 'read failed', error }) } })
          } else {
            deliveries.push({ input: { changes: command.changes }, resolve: () => { sendBack({ type: 'page delivered' }) }, reject: error => { sendBack({ type: 'delivery failed', error }) } })
          }
        })
      })
    }
  })
  const listener = createActor(machine, { input: { dispatcher, cursor } }).start()
  started.push(listener)
  const inState = async (state: string) => await waitFor(listener, snapshot => snapshot.value === state, { timeout: 1000 })
  /** Waits until the listener has asked for `count` page reads. */
  const readsAsked = async (count: number) => await waitFor(listener, () => reads.length >= count, { timeout: 1000 })
  return { listener, reads, deliveries, told, dispatcher, inState, readsAsked }
}

describe('listener machine', () => {
  it('subscribes on start and waits, caught up, until events are announced', () => {
    const h = harness(5)
    assert.deepEqual(h.told, [{ type: 'subscribe', listener: h.listener }])
    assert.equal(h.listener.getSnapshot().value, 'idle')
    h.listener.send({ type: 'events available', position: 5 })
    assert.equal(h.listener.getSnapshot().value, 'idle', 'not behind: nothing to read')
    assert.equal(h.reads.length, 0)
  })

  it('reads pages while behind, and awaits each delivery before reading on', async () => {
    const h = harness(0)
    h.listener.send({ type: 'events available', position: 10 })
    assert.equal(h.listener.getSnapshot().value, 'reading')
    assert.deepEqual(h.reads.map(read => read.input), [{ cursor: 0, known: 10 }])

    h.reads[0]!.resolve({ changes: ['a', 'b'], position: 4 })
    await h.inState('delivering')
    assert.deepEqual(h.deliveries.map(delivery => delivery.input), [{ changes: ['a', 'b'] }])
    assert.equal(h.listener.getSnapshot().context.cursor, 4)

    // More events while the callback is busy: noted, but nothing is read until the delivery is done.
    h.listener.send({ type: 'events available', position: 12 })
    await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(h.reads.length, 1, 'backpressure: no read during a delivery')
    assert.equal(h.listener.getSnapshot().context.known, 12)

    h.deliveries[0]!.resolve()
    await h.readsAsked(2)
    assert.equal(h.listener.getSnapshot().value, 'reading')
    assert.deepEqual(h.reads[1]!.input, { cursor: 4, known: 12 }, 'the next page starts after the last one')
    assert.deepEqual(h.listener.getSnapshot().context.page, [])

    // A page the filter keeps nothing of moves the cursor without a delivery.
    h.reads[1]!.resolve({ changes: [], position: 9 })
    await h.readsAsked(3)
    assert.equal(h.deliveries.length, 1)
    assert.deepEqual(h.reads[2]!.input, { cursor: 9, known: 12 })
    h.reads[2]!.resolve({ changes: ['c'], position: 12 })
    await h.inState('delivering')
    h.deliveries[1]!.resolve()
    await h.inState('idle')
    assert.equal(h.listener.getSnapshot().context.cursor, 12)
    assert.equal(h.reads.length, 3, 'caught up: no more reads')
    assert.deepEqual(h.deliveries.map(delivery => delivery.input.changes), [['a', 'b'], ['c']])
  })

  it('fails instead of spinning when a page makes no progress (its events are gone)', async () => {
    let reads = 0
    const dispatcher = createActor(fromCallback(() => {})).start()
    started.push(dispatcher)
    const machine = listenerMachine.provide({
      actors: {
        pages: fromCallback<PagesCommand, undefined, PageEvent>(({ receive, sendBack }) => {
          receive(command => {
            if (command.type !== 'read') return
            reads++
            sendBack({ type: 'page read', page: { changes: [], position: command.cursor } })
          })
        })
      }
    })
    const listener = createActor(machine, { input: { dispatcher, cursor: 2 } }).start()
    started.push(listener)
    listener.send({ type: 'events available', position: 20 })
    await waitFor(listener, snapshot => snapshot.status === 'done', { timeout: 1000 })
    assert.equal(reads, 1, 'one empty read, not a loop')
    assert.equal(listener.getSnapshot().value, 'failed')
    assert.match(String(listener.getSnapshot().context.error), /events after 2 up to 20/)
  })

  it('stops into a final state and unsubscribes, even mid-delivery', async () => {
    const h = harness(0)
    h.listener.send({ type: 'events available', position: 3 })
    h.reads[0]!.resolve({ changes: ['a'], position: 3 })
    await h.inState('delivering')
    h.listener.send({ type: 'stop' })
    const done = h.listener.getSnapshot()
    assert.equal(done.value, 'stopped')
    assert.equal(done.status, 'done')
    assert.deepEqual(h.told.at(-1), { type: 'unsubscribe', listener: h.listener })
    h.deliveries[0]!.resolve()
    h.listener.send({ type: 'events available', position: 9 })
    await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(h.reads.length, 1, 'nothing read after stopping')
  })

  it('fails into a final state, unsubscribed, when a read or a delivery throws', async () => {
    const failedRead = harness(0)
    failedRead.listener.send({ type: 'events available', position: 1 })
    const error = new Error('read failed')
    failedRead.reads[0]!.reject(error)
    await failedRead.inState('failed')
    assert.equal(failedRead.listener.getSnapshot().status, 'done')
    assert.equal(failedRead.listener.getSnapshot().context.error, error)
    assert.deepEqual(failedRead.told.at(-1), { type: 'unsubscribe', listener: failedRead.listener })

    const failedDelivery = harness(0)
    failedDelivery.listener.send({ type: 'events available', position: 1 })
    failedDelivery.reads[0]!.resolve({ changes: ['a'], position: 1 })
    await failedDelivery.inState('delivering')
    failedDelivery.deliveries[0]!.reject(new Error('callback threw'))
    await failedDelivery.inState('failed')
    assert.equal((failedDelivery.listener.getSnapshot().context.error as Error).message, 'callback threw')
  })
})
