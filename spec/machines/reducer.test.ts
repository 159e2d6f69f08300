import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromPromise, waitFor } from 'xstate'
import { reducerMachine, type ReducerJob, type ReducerRequest } from '../../machines/reducer.machine.ts'

/** The reducer with a fake job runner whose jobs finish only when the test says so. */

interface Running {
  job: ReducerJob
  resolve (value: number): void
  reject (error: unknown): void
}

type Reply = Parameters<ReducerRequest['reply']>[0]

const started: Array<{ stop: () => void }> = []
afterEach(() => {
  for (const actor of started.splice(0)) actor.stop()
})

function harness (input: { snapshotEvery: number, position?: number, snapshotPosition?: number }, run?: (job: ReducerJob) => Promise<number>) {
  const runs: Running[] = []
  const replies: Array<[ReducerJob, Reply]> = []
  const machine = reducerMachine.provide({
    actors: {
      'run job': fromPromise<number, { job: ReducerJob }>(({ input: { job } }) => run?.(job) ??
        new Promise((resolve, reject) => { runs.push({ job, resolve, reject }) }))
    }
  })
  const reducer = createActor(machine, { input: { snapshotEvery: input.snapshotEvery, position: input.position ?? 0, snapshotPosition: input.snapshotPosition ?? 0 } })
  reducer.start()
  started.push(reducer)
  const request = (job: ReducerJob): void => {
    reducer.send({ type: 'request', request: { job, reply: outcome => { replies.push([job, outcome]) } } })
  }
  const runsStarted = async (count: number) => await waitFor(reducer, () => runs.length >= count, { timeout: 1000 })
  const ready = async () => await waitFor(reducer, snapshot => snapshot.value === 'ready', { timeout: 1000 })
  return { reducer, runs, replies, request, runsStarted, ready }
}

describe('reducer machine', () => {
  it('runs requested jobs one at a time, in the order asked', async () => {
    const h = harness({ snapshotEvery: 0, position: 40 })
    h.request('rebuild')
    h.request('snapshot')
    h.request('compact')
    assert.equal(h.reducer.getSnapshot().value, 'working')
    assert.deepEqual(h.runs.map(run => run.job), ['rebuild'], 'one job at a time')

    h.runs[0]!.resolve(42)
    await h.runsStarted(2)
    assert.deepEqual(h.replies, [['rebuild', { ok: true, result: 42 }]])
    assert.equal(h.reducer.getSnapshot().context.position, 40, 'a rebuild keeps arrival positions')
    assert.deepEqual(h.runs.map(run => run.job), ['rebuild', 'snapshot'])

    h.request('restore')
    const error = new Error('disk full')
    h.runs[1]!.reject(error)
    await h.runsStarted(3)
    assert.deepEqual(h.replies[1], ['snapshot', { ok: false, error }])
    assert.equal(h.reducer.getSnapshot().context.snapshotPosition, 0, 'a failed snapshot moves nothing')
    h.runs[2]!.resolve(5)
    await h.runsStarted(4)
    h.runs[3]!.resolve(3)
    await h.ready()
    assert.deepEqual(h.replies.map(([job]) => job), ['rebuild', 'snapshot', 'compact', 'restore'])
    assert.deepEqual(h.replies.slice(2).map(([, outcome]) => outcome), [{ ok: true, result: 5 }, { ok: true, result: 3 }])
    assert.equal(h.reducer.getSnapshot().context.requests.length, 0)
  })

  it('takes a snapshot by itself once snapshotEvery events have passed the last one', async () => {
    const h = harness({ snapshotEvery: 10 })
    h.reducer.send({ type: 'folded', position: 9 })
    assert.equal(h.reducer.getSnapshot().value, 'ready')
    h.reducer.send({ type: 'folded', position: 10 })
    assert.deepEqual(h.runs.map(run => run.job), ['snapshot'])
    // Folds during the snapshot are noted; the snapshot's own position is what counts next.
    h.reducer.send({ type: 'folded', position: 12 })
    h.runs[0]!.resolve(12)
    await h.ready()
    assert.equal(h.reducer.getSnapshot().context.snapshotPosition, 12)
    h.reducer.send({ type: 'folded', position: 21 })
    assert.equal(h.runs.length, 1, '9 past the snapshot: not yet')
    h.reducer.send({ type: 'folded', position: 22 })
    assert.deepEqual(h.runs.map(run => run.job), ['snapshot', 'snapshot'])
    h.runs[1]!.resolve(22)
    await h.ready()
    assert.deepEqual(h.replies, [], 'automatic snapshots reply to no one')
  })

  it('counts from the snapshot it starts with, and takes none when snapshotEvery is 0', async () => {
    const resumed = harness({ snapshotEvery: 10, position: 35, snapshotPosition: 30 })
    assert.equal(resumed.reducer.getSnapshot().value, 'ready')
    resumed.reducer.send({ type: 'folded', position: 40 })
    assert.equal(resumed.runs.length, 1)

    const overdue = harness({ snapshotEvery: 10, position: 25, snapshotPosition: 0 })
    assert.deepEqual(overdue.runs.map(run => run.job), ['snapshot'], 'due at start')

    const never = harness({ snapshotEvery: 0 })
    never.reducer.send({ type: 'folded', position: 1_000_000 })
    assert.equal(never.reducer.getSnapshot().value, 'ready')
    assert.equal(never.runs.length, 0)
  })

  it('serves waiting requests before an automatic snapshot', async () => {
    const h = harness({ snapshotEvery: 10 })
    h.request('compact')
    h.reducer.send({ type: 'folded', position: 15 })
    h.runs[0]!.resolve(0)
    await h.runsStarted(2)
    assert.deepEqual(h.runs.map(run => run.job), ['compact', 'snapshot'])
    h.runs[1]!.resolve(15)
    await h.ready()
  })

  it('does not retry a failing automatic snapshot until more events have passed', async () => {
    let attempts = 0
    const h = harness({ snapshotEvery: 10 }, async job => {
      assert.equal(job, 'snapshot')
      attempts++
      // Give up failing after a while, so a retry loop shows as a count instead of a hang.
      if (attempts > 100) return Number.MAX_SAFE_INTEGER
      throw new Error('snapshot failed')
    })
    h.reducer.send({ type: 'folded', position: 10 })
    await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(attempts, 1, 'one failed attempt, not a loop')
    assert.equal(h.reducer.getSnapshot().value, 'ready')
    h.reducer.send({ type: 'folded', position: 15 })
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(attempts, 1)
    h.reducer.send({ type: 'folded', position: 20 })
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(attempts, 2, 'tried again once another snapshotEvery events have passed')
  })
})
