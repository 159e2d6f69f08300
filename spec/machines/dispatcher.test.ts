import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromCallback, setup, type AnyActorRef } from 'xstate'
import { dispatcherMachine, type DispatcherJob, type Folded, type Outcome } from '../../machines/dispatcher.machine.ts'

/** The dispatcher with a fake persister that settles jobs only when the test says so. */

type Job = DispatcherJob<unknown, unknown, unknown>
type Persisted = { type: 'persisted', settled: Array<{ job: Job, outcome: Outcome<unknown> }>, position: number }

interface Harness {
  dispatcher: AnyActorRef
  /** Jobs the persister received, in order. */
  jobs: Job[]
  /** Positions the parent heard as `folded`. */
  folded: number[]
  /** Replies in the order they came, by job label. */
  replies: Array<[string, Outcome<unknown>]>
  commit (label: string, holder?: AnyActorRef): void
  ingest (label: string): void
  settle (job: Job, position: number): void
  fail (job: Job, error: unknown): void
  /** Settles several jobs as one commit does: one event. */
  settleTogether (jobs: Job[], position: number): void
  labels (): string[]
  state (): string
  stop (): void
}

const RECORD = {}
const started: Array<{ stop: () => void }> = []
afterEach(() => {
  for (const actor of started.splice(0)) actor.stop()
})

function harness (position = 0): Harness {
  const jobs: Job[] = []
  const folded: number[] = []
  const replies: Array<[string, Outcome<unknown>]> = []
  let sendBack: ((event: Persisted) => void) | undefined
  const persister = fromCallback<{ type: 'persist', job: Job }>(({ sendBack: back, receive }) => {
    sendBack = back as (event: Persisted) => void
    receive(({ job }) => { jobs.push(job) })
  })
  const parent = setup({
    types: { events: {} as Folded },
    actors: { dispatcher: dispatcherMachine.provide({ actors: { persister } }) }
  }).createMachine({
    invoke: { id: 'dispatcher', src: 'dispatcher', input: { position } },
    on: { folded: { actions: ({ event }) => { folded.push(event.position) } } }
  })
  const actor = createActor(parent).start()
  started.push(actor)
  const dispatcher = actor.getSnapshot().children.dispatcher as AnyActorRef
  const reply = (label: string) => (outcome: Outcome<unknown>) => { replies.push([label, outcome]) }
  return {
    dispatcher,
    jobs,
    folded,
    replies,
    commit: (label, holder) => dispatcher.send({ type: 'commit', changes: label, reply: reply(label), holder }),
    ingest: label => dispatcher.send({ type: 'ingest', logId: label, record: RECORD, reply: reply(label) }),
    settle: (job, at) => sendBack!({ type: 'persisted', settled: [{ job, outcome: { ok: true, result: `result of ${labelOf(job)}` } }], position: at }),
    fail: (job, error) => sendBack!({ type: 'persisted', settled: [{ job, outcome: { ok: false, error } }], position: 0 }),
    settleTogether: (settled, at) => sendBack!({ type: 'persisted', settled: settled.map(job => ({ job, outcome: { ok: true, result: `result of ${labelOf(job)}` } })), position: at }),
    labels: () => jobs.map(labelOf),
    state: () => String(dispatcher.getSnapshot().value),
    stop: () => actor.stop()
  }
}

const labelOf = (job: Job): string => job.kind === 'commit' ? String(job.changes) : job.logId

/** An actor that records what it receives: a transaction holding the lock, or a listener. */
function recorder (): { ref: AnyActorRef, received: Array<{ type: string, position?: number }> } {
  const received: Array<{ type: string, position?: number }> = []
  const ref = createActor(fromCallback<{ type: string, position?: number }>(({ receive }) => {
    receive(event => { received.push(event) })
  })).start()
  started.push(ref)
  return { ref, received }
}

describe('dispatcher machine', () => {
  it('hands jobs to the persister in order without waiting for earlier ones', () => {
    const h = harness()
    h.commit('c1')
    h.ingest('i2')
    h.commit('c3')
    assert.deepEqual(h.labels(), ['c1', 'i2', 'c3'], 'all three in flight at once')
    assert.equal(h.state(), 'open')
    assert.equal(h.dispatcher.getSnapshot().context.inFlight, 3)
    h.settle(h.jobs[0]!, 1)
    h.settle(h.jobs[1]!, 2)
    h.settle(h.jobs[2]!, 3)
    assert.deepEqual(h.replies.map(([label, outcome]) => [label, outcome.ok]), [['c1', true], ['i2', true], ['c3', true]])
    assert.deepEqual(h.replies[0]![1], { ok: true, result: 'result of c1' })
    assert.deepEqual(h.folded, [1, 2, 3], 'the parent hears each fold')
    assert.equal(h.dispatcher.getSnapshot().context.inFlight, 0)
  })

  it('answers each of the jobs one commit settled, and tells listeners and the parent once for all of them', () => {
    const h = harness()
    const listener = recorder()
    h.dispatcher.send({ type: 'subscribe', listener: listener.ref })
    h.commit('c1')
    h.commit('c2')
    h.commit('c3')
    listener.received.length = 0
    h.settleTogether(h.jobs.slice(0, 2), 7)
    assert.deepEqual(h.replies.map(([label]) => label), ['c1', 'c2'], 'each requester, in order')
    assert.deepEqual(h.folded, [7], 'one fold for the pair')
    assert.deepEqual(listener.received, [{ type: 'events available', position: 7 }])
    assert.equal(h.dispatcher.getSnapshot().context.inFlight, 1, 'the third is still in flight')
  })

  it('tells listeners that events are available, from their first subscription on', () => {
    const h = harness(7)
    const listener = recorder()
    h.dispatcher.send({ type: 'subscribe', listener: listener.ref })
    assert.deepEqual(listener.received, [{ type: 'events available', position: 7 }], 'the current position at once')
    h.commit('c1')
    h.settle(h.jobs[0]!, 9)
    assert.deepEqual(listener.received.at(-1), { type: 'events available', position: 9 })
    // A job that folds nothing (a record without content) never moves the position backwards.
    h.ingest('i2')
    h.settle(h.jobs[1]!, 0)
    assert.deepEqual(listener.received.at(-1), { type: 'events available', position: 9 })
    assert.deepEqual(h.folded, [9, 9])
    h.dispatcher.send({ type: 'unsubscribe', listener: listener.ref })
    h.commit('c3')
    h.settle(h.jobs[2]!, 10)
    assert.equal(listener.received.length, 3, 'nothing after unsubscribing')
  })

  it('replies with the error of a failed job and announces nothing for it', () => {
    const h = harness()
    const listener = recorder()
    h.dispatcher.send({ type: 'subscribe', listener: listener.ref })
    h.commit('bad')
    const error = new Error('schema violation')
    h.fail(h.jobs[0]!, error)
    assert.deepEqual(h.replies, [['bad', { ok: false, error }]])
    assert.deepEqual(h.folded, [])
    assert.equal(listener.received.length, 1)
    assert.equal(h.dispatcher.getSnapshot().context.inFlight, 0)
  })

  it('grants the lock once nothing is in flight, queues the rest, and runs it after the holder commits', () => {
    const h = harness()
    const holder = recorder()
    h.commit('c1')
    h.commit('c2')
    h.dispatcher.send({ type: 'acquire', holder: holder.ref })
    assert.equal(h.state(), 'draining')
    h.commit('c3')
    h.ingest('i4')
    assert.deepEqual(h.labels(), ['c1', 'c2'], 'nothing new starts while draining')
    h.settle(h.jobs[0]!, 1)
    assert.equal(h.state(), 'draining')
    assert.deepEqual(holder.received, [])
    h.fail(h.jobs[1]!, new Error('refused'))
    assert.equal(h.state(), 'locked')
    assert.deepEqual(holder.received, [{ type: 'lock granted' }])

    h.commit('c5')
    h.dispatcher.send({ type: 'release', holder: recorder().ref })
    assert.equal(h.state(), 'locked', 'only the holder releases')
    h.commit('stranger', recorder().ref)
    assert.deepEqual(h.labels(), ['c1', 'c2'], 'others queue while locked')

    h.commit('holder', holder.ref)
    assert.equal(h.state(), 'open')
    assert.deepEqual(h.labels(), ['c1', 'c2', 'holder', 'c3', 'i4', 'c5', 'stranger'], 'the holder first, then the queue in order')
    assert.equal(h.dispatcher.getSnapshot().context.holder, undefined)
    h.jobs.slice(2).forEach((job, i) => { h.settle(job, 10 + i) })
    assert.deepEqual(h.replies.map(([label]) => label), ['c1', 'c2', 'holder', 'c3', 'i4', 'c5', 'stranger'])
  })

  it('runs queued jobs when the holder releases without committing', () => {
    const h = harness()
    const holder = recorder()
    h.dispatcher.send({ type: 'acquire', holder: holder.ref })
    assert.equal(h.state(), 'locked', 'granted at once when nothing is in flight')
    assert.deepEqual(holder.received, [{ type: 'lock granted' }])
    h.commit('c1')
    h.ingest('i2')
    assert.deepEqual(h.labels(), [])
    h.dispatcher.send({ type: 'release', holder: holder.ref })
    assert.equal(h.state(), 'open')
    assert.deepEqual(h.labels(), ['c1', 'i2'])
  })

  it('hands the lock from one transaction to the next, draining the jobs between them', () => {
    const h = harness()
    const first = recorder()
    const second = recorder()
    h.dispatcher.send({ type: 'acquire', holder: first.ref })
    h.commit('c1')
    h.dispatcher.send({ type: 'acquire', holder: second.ref })
    h.commit('c2')
    h.commit('first', first.ref)
    assert.deepEqual(h.labels(), ['first', 'c1'], 'jobs queued before the second acquire go out')
    assert.equal(h.state(), 'draining')
    assert.deepEqual(second.received, [])
    h.settle(h.jobs[0]!, 1)
    h.settle(h.jobs[1]!, 2)
    assert.equal(h.state(), 'locked')
    assert.deepEqual(second.received, [{ type: 'lock granted' }])
    assert.equal(h.dispatcher.getSnapshot().context.holder, second.ref)
    h.commit('second', second.ref)
    assert.deepEqual(h.labels(), ['first', 'c1', 'second', 'c2'])
    assert.equal(h.state(), 'open')
    assert.deepEqual(first.received, [{ type: 'lock granted' }], 'each holder is granted once')
  })
})
