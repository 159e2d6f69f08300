import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromCallback, fromPromise, waitFor, type AnyActorRef } from 'xstate'
import { getShortestPaths } from 'xstate/graph'
import { transactionMachine, type TransactionKind } from '../../machines/transaction.machine.ts'

/** The transaction machine with a fake body and commit that finish only when the test says so. */

interface Pending<I, O> {
  input: I
  resolve (value: O): void
  reject (error: unknown): void
}

type CommitInput = { dispatcher: AnyActorRef, changes: unknown[], holder: AnyActorRef }

const started: Array<{ stop: () => void }> = []
afterEach(() => {
  for (const actor of started.splice(0)) actor.stop()
})

function harness (kind: TransactionKind, timeout = Infinity) {
  const told: Array<{ type: string, holder?: AnyActorRef }> = []
  const dispatcher = createActor(fromCallback<{ type: string, holder?: AnyActorRef }>(({ receive }) => {
    receive(event => { told.push(event) })
  })).start()
  started.push(dispatcher)
  const bodies: Array<Pending<{ self: AnyActorRef }, void>> = []
  const commits: Array<Pending<CommitInput, unknown>> = []
  const machine = transactionMachine.provide({
    actors: {
      'run body': fromPromise<void, { self: AnyActorRef }>(({ input }) => new Promise((resolve, reject) => { bodies.push({ input, resolve, reject }) })),
      'commit changes': fromPromise<unknown, CommitInput>(({ input }) => new Promise((resolve, reject) => { commits.push({ input, resolve, reject }) }))
    }
  })
  const transaction = createActor(machine, { input: { dispatcher, kind, timeout } }).start()
  started.push(transaction)
  const settled = async () => await waitFor(transaction, snapshot => snapshot.status === 'done', { timeout: 1000 })
  const inState = async (state: string) => await waitFor(transaction, snapshot => snapshot.value === state, { timeout: 1000 })
  return { transaction, dispatcher, told, bodies, commits, settled, inState }
}

describe('transaction machine', () => {
  it('write path: acquiring → running → committing → committed', async () => {
    const h = harness('write')
    assert.equal(h.transaction.getSnapshot().value, 'acquiring')
    assert.deepEqual(h.told, [{ type: 'acquire', holder: h.transaction }])
    assert.equal(h.bodies.length, 0, 'the body waits for the lock')

    h.transaction.send({ type: 'lock granted' })
    assert.equal(h.transaction.getSnapshot().value, 'running')
    assert.equal(h.bodies.length, 1)
    assert.equal(h.bodies[0]!.input.self, h.transaction, 'the body writes through the transaction')
    h.transaction.send({ type: 'collect', changes: ['a'] })
    h.transaction.send({ type: 'collect', changes: ['b', 'c'] })
    assert.deepEqual(h.transaction.getSnapshot().context.changes, ['a', 'b', 'c'])

    h.bodies[0]!.resolve()
    await h.inState('committing')
    assert.deepEqual(h.commits.map(commit => commit.input), [{ dispatcher: h.dispatcher, changes: ['a', 'b', 'c'], holder: h.transaction }])
    h.transaction.send({ type: 'collect', changes: ['late'] })
    assert.deepEqual(h.transaction.getSnapshot().context.changes, ['a', 'b', 'c'], 'nothing is collected after the body')

    h.commits[0]!.resolve({ ok: true })
    const done = await h.settled()
    assert.equal(done.value, 'committed')
    assert.deepEqual(h.told.map(event => event.type), ['acquire'], 'the commit itself releases the lock')
  })

  it('a write body with nothing to commit releases the lock', async () => {
    const h = harness('write')
    h.transaction.send({ type: 'lock granted' })
    h.bodies[0]!.resolve()
    const done = await h.settled()
    assert.equal(done.value, 'committed')
    assert.equal(h.commits.length, 0)
    assert.deepEqual(h.told, [{ type: 'acquire', holder: h.transaction }, { type: 'release', holder: h.transaction }])
  })

  it('a body that throws aborts the transaction and releases the lock', async () => {
    const h = harness('write')
    h.transaction.send({ type: 'lock granted' })
    h.transaction.send({ type: 'collect', changes: ['a'] })
    const error = new Error('body failed')
    h.bodies[0]!.reject(error)
    const done = await h.settled()
    assert.equal(done.value, 'aborted')
    assert.equal(done.context.error, error)
    assert.equal(h.commits.length, 0, 'nothing is committed')
    assert.deepEqual(h.told.map(event => event.type), ['acquire', 'release'])
    assert.equal(h.told[1]!.holder, h.transaction)
  })

  it('a refused commit aborts the transaction', async () => {
    const h = harness('write')
    h.transaction.send({ type: 'lock granted' })
    h.transaction.send({ type: 'collect', changes: ['a'] })
    h.bodies[0]!.resolve()
    await h.inState('committing')
    const error = new Error('unique violation')
    h.commits[0]!.reject(error)
    const done = await h.settled()
    assert.equal(done.value, 'aborted')
    assert.equal(done.context.error, error)
    assert.deepEqual(h.told.map(event => event.type), ['acquire'], 'the dispatcher released the lock with the commit')
  })

  it('a write body still running at its time limit is left behind: nothing committed, the lock released', async () => {
    const h = harness('write', 30)
    await new Promise(resolve => setTimeout(resolve, 60))
    assert.equal(h.transaction.getSnapshot().value, 'acquiring', 'the limit counts from the lock, not from the wait for it')
    h.transaction.send({ type: 'lock granted' })
    h.transaction.send({ type: 'collect', changes: ['a'] })
    const done = await h.settled()
    assert.equal(done.value, 'timed out')
    assert.deepEqual(h.told.map(event => event.type), ['acquire', 'release'])
    assert.equal(h.told[1]!.holder, h.transaction)
    h.bodies[0]!.resolve()
    await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(h.commits.length, 0, 'a body that returns late commits nothing')
    assert.equal(h.transaction.getSnapshot().value, 'timed out')
  })

  it('a read body still running at its time limit is left behind, with no lock to release', async () => {
    const h = harness('read', 20)
    assert.equal((await h.settled()).value, 'timed out')
    assert.deepEqual(h.told, [])
  })

  it('a body that ends before its time limit is not cut short by it', async () => {
    const h = harness('write', 40)
    h.transaction.send({ type: 'lock granted' })
    h.transaction.send({ type: 'collect', changes: ['a'] })
    h.bodies[0]!.resolve()
    await h.inState('committing')
    await new Promise(resolve => setTimeout(resolve, 80))
    assert.equal(h.transaction.getSnapshot().value, 'committing', 'a commit under way is not timed')
    h.commits[0]!.resolve({ ok: true })
    assert.equal((await h.settled()).value, 'committed')
  })

  it('read path: no lock, straight to running, then committed or aborted', async () => {
    const h = harness('read')
    assert.equal(h.transaction.getSnapshot().value, 'running')
    assert.deepEqual(h.told, [])
    h.bodies[0]!.resolve()
    assert.equal((await h.settled()).value, 'committed')
    assert.deepEqual(h.told, [])

    const failing = harness('read')
    failing.bodies[0]!.reject(new Error('read failed'))
    const done = await failing.settled()
    assert.equal(done.value, 'aborted')
    assert.deepEqual(failing.told, [], 'nothing to release')
  })

  it('names its states, and reaches every one of them', () => {
    const names = Object.keys(transactionMachine.root.states)
    assert.deepEqual(names, ['starting', 'acquiring', 'running', 'committing', 'committed', 'aborted', 'timed out'])
    assert.deepEqual(names.filter(name => transactionMachine.root.states[name]!.type === 'final'), ['committed', 'aborted', 'timed out'])

    // Invocations are named after what they run; their completions are the events a model walks with.
    const running = 'run body'
    const committing = 'commit changes'
    const events = [
      { type: 'lock granted' },
      { type: 'collect', changes: ['change'] },
      { type: `xstate.done.actor.${running}`, output: undefined },
      { type: `xstate.error.actor.${running}`, error: new Error('body failed') },
      { type: `xstate.done.actor.${committing}`, output: undefined },
      { type: `xstate.error.actor.${committing}`, error: new Error('commit refused') },
      { type: 'xstate.after.time limit.transaction.running' }
    ] as never[]
    const dispatcher = createActor(fromCallback(() => {}))
    const reached = new Map<string, string[]>()
    for (const kind of ['write', 'read'] as const) {
      const paths = getShortestPaths(transactionMachine, {
        input: { dispatcher, kind, timeout: 1000 },
        events,
        // A state is its value and whether it has collected anything: the number of changes does not matter.
        serializeState: snapshot => JSON.stringify({ value: snapshot.value, kind: snapshot.context.kind, changes: snapshot.context.changes.length > 0, failed: snapshot.context.error !== undefined })
      })
      for (const path of paths) {
        const value = String(path.state.value)
        const steps = path.steps.map(step => (step.event as { type: string }).type.replace(/^xstate\.(done|error)\.actor\./, '$1:'))
        if (!reached.has(`${kind}:${value}`)) reached.set(`${kind}:${value}`, steps)
      }
    }
    const stable = names.filter(name => name !== 'starting')
    assert.deepEqual([...new Set([...reached.keys()].map(key => key.split(':')[1]))].sort(), [...stable].sort(),
      'every state but the transient `starting` is reached')
    assert.deepEqual(reached.get('write:acquiring'), ['xstate.init'])
    assert.deepEqual(reached.get('write:committing'), ['xstate.init', 'lock granted', 'collect', 'done:run body'])
    assert.deepEqual(reached.get('read:running'), ['xstate.init'], 'a read transaction skips acquiring')
    assert.equal(reached.has('read:acquiring'), false)
    assert.deepEqual(reached.get('read:committed'), ['xstate.init', 'done:run body'])
    assert.deepEqual(reached.get('write:aborted'), ['xstate.init', 'lock granted', 'error:run body'])
    assert.deepEqual(reached.get('write:timed out'), ['xstate.init', 'lock granted', 'xstate.after.time limit.transaction.running'])
    assert.deepEqual(reached.get('read:timed out'), ['xstate.init', 'xstate.after.time limit.transaction.running'])

    const unlimited = getShortestPaths(transactionMachine, {
      input: { dispatcher, kind: 'write', timeout: Infinity },
      events,
      serializeState: snapshot => JSON.stringify({ value: snapshot.value, changes: snapshot.context.changes.length > 0, failed: snapshot.context.error !== undefined })
    })
    assert.equal(unlimited.some(path => path.state.value === 'timed out'), false, 'no limit, no timing out')
  })
})
