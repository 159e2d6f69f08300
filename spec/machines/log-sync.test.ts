import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromCallback, fromPromise, waitFor, type AnyActorRef } from 'xstate'
import { getShortestPaths } from 'xstate/graph'
import { logSyncMachine, type LogRole, type LogSyncEvent, type PullStep, type PushOutcome } from '../../machines/log-sync.machine.ts'

interface Call<T> { input: unknown, resolve: (value: T) => void, reject: (error: unknown) => void }
interface Pull extends Call<number> { step: (step: PullStep) => void }

/** A push every peer took. */
const REACHED_ALL: PushOutcome = { unreached: [] }

const started: AnyActorRef[] = []
afterEach(() => { for (const actor of started.splice(0)) actor.stop() })

function harness (role: LogRole, timing: Partial<{ pollMs: number, pushDelayMs: number, backoffMs: number, maxAttempts: number }> = {}) {
  const gossiped: unknown[][] = []
  const pushes: Array<Call<PushOutcome>> = []
  const pulls: Pull[] = []
  const fetches: Array<Call<number>> = []
  const machine = logSyncMachine.provide({
    actions: {
      'gossip records': (_, { records }: { records: unknown[] }) => { if (records.length > 0) gossiped.push([...records]) }
    },
    actors: {
      'push records': fromPromise<PushOutcome, { records: unknown[], to?: string[] }>(({ input }) => new Promise((resolve, reject) => { pushes.push({ input, resolve, reject }) })),
      'pull records': fromCallback<LogSyncEvent, undefined>(({ sendBack }) => {
        pulls.push({
          input: undefined,
          resolve: count => { sendBack({ type: 'pulled', count }) },
          reject: error => { sendBack({ type: 'pull failed', error }) },
          step: step => { sendBack({ type: step }) }
        })
      }),
      'fetch missing ancestors': fromPromise<number, { from: string[] }>(({ input }) => new Promise((resolve, reject) => { fetches.push({ input, resolve, reject }) }))
    }
  })
  const actor = createActor(machine, {
    input: { role, pollMs: timing.pollMs ?? 60_000, pushDelayMs: timing.pushDelayMs ?? 0, backoffMs: timing.backoffMs ?? 5, maxBackoffMs: 40, maxAttempts: timing.maxAttempts ?? 3 }
  }).start()
  started.push(actor)
  /** Waits (up to 1 s) until `condition` holds of the machine, failing with what never came about. */
  const until = async (condition: (snapshot: ReturnType<typeof actor.getSnapshot>) => boolean, what: string): Promise<void> => {
    await waitFor(actor, condition, { timeout: 1000 }).catch(() => { throw new Error(`timed out after 1000 ms waiting for ${what}`) })
  }
  const inState = async (state: string) => {
    await until(snapshot => (typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]) === state, `the state ${state}`)
  }
  return { actor, gossiped, pushes, pulls, fetches, until, inState }
}

/** Commits `r1` on our own log and fails its first push, which leaves the machine backing off. */
async function failFirstPush (h: ReturnType<typeof harness>): Promise<void> {
  h.actor.send({ type: 'committed', records: ['r1'] })
  await h.until(() => h.pushes.length === 1, 'the first push')
  h.pushes[0]!.reject(new Error('peer offline'))
  await h.inState('backingOff')
}

/** Commits `r1` on our own log and has its first push miss `peer-b`, which leaves `r1` owed to it. */
async function missPeerOnFirstPush (h: ReturnType<typeof harness>): Promise<void> {
  h.actor.send({ type: 'committed', records: ['r1'] })
  await h.until(() => h.pushes.length === 1, 'the first push')
  h.pushes[0]!.resolve({ unreached: ['peer-b'] })
}

describe('log sync machine', () => {
  it('pushes our own log\'s records in batches, in order, queuing what is committed meanwhile', async () => {
    const h = harness('own')
    h.actor.send({ type: 'committed', records: ['r1'] })
    await h.until(() => h.pushes.length === 1, 'the first push')
    assert.deepEqual(h.pushes[0]!.input, { records: ['r1'] })
    h.actor.send({ type: 'committed', records: ['r2'] })
    h.actor.send({ type: 'committed', records: ['r3'] })
    h.pushes[0]!.resolve(REACHED_ALL)
    await h.until(() => h.pushes.length === 2, 'the second push')
    assert.deepEqual(h.pushes[1]!.input, { records: ['r2', 'r3'] })
    h.pushes[1]!.resolve(REACHED_ALL)
    await h.inState('idle')
  })

  it('gossips each commit at once, holds the direct push to gather the commits that come meanwhile, and gossips those made during a push together', async () => {
    const h = harness('own', { pushDelayMs: 50 })
    h.actor.send({ type: 'committed', records: ['r1'] })
    assert.equal(h.actor.getSnapshot().value, 'holding')
    h.actor.send({ type: 'committed', records: ['r2'] })
    assert.deepEqual(h.gossiped, [['r1'], ['r2']])
    assert.equal(h.pushes.length, 0)
    await h.until(() => h.pushes.length === 1, 'the push after the hold')
    assert.deepEqual(h.pushes[0]!.input, { records: ['r1', 'r2'] })
    h.actor.send({ type: 'committed', records: ['r3'] })
    h.actor.send({ type: 'committed', records: ['r4'] })
    assert.deepEqual(h.gossiped, [['r1'], ['r2']])
    h.pushes[0]!.resolve(REACHED_ALL)
    await h.until(() => h.gossiped.length === 3, 'the gossip of what was committed during the push')
    assert.deepEqual(h.gossiped[2], ['r3', 'r4'])
    await h.until(() => h.pushes.length === 2, 'the second push')
    assert.deepEqual(h.pushes[1]!.input, { records: ['r3', 'r4'] })
    h.pushes[1]!.resolve(REACHED_ALL)
    await h.inState('idle')
    assert.equal(h.gossiped.length, 3)
  })

  it('backs off after a failed push and resends exactly the same batch', async () => {
    const h = harness('own')
    h.actor.send({ type: 'committed', records: ['r1'] })
    h.actor.send({ type: 'committed', records: ['r2'] })
    await h.until(() => h.pushes.length === 1, 'the first push')
    h.pushes[0]!.reject(new Error('peer offline'))
    await h.inState('backingOff')
    assert.equal(h.actor.getSnapshot().context.attempts, 1)
    await h.until(() => h.pushes.length === 2, 'the second push')
    assert.deepEqual(h.pushes[1]!.input, h.pushes[0]!.input)
    // A retry resends the batch directly; gossip carried it once.
    assert.deepEqual(h.gossiped, [['r1'], ['r2']])
    h.pushes[1]!.resolve(REACHED_ALL)
    await h.until(snapshot => snapshot.value === 'pushing' || snapshot.value === 'idle', 'the retry to push or rest')
    await h.until(() => h.pushes.length === 3 || h.actor.getSnapshot().context.outgoing.length === 0, 'the third push, or nothing left to push')
    assert.equal(h.actor.getSnapshot().context.attempts, 0)
  })

  it('pushes the next batch at once after one some peers missed, and sends them the latest they missed while the log is quiet', async () => {
    const h = harness('own', { maxAttempts: 5 })
    h.actor.send({ type: 'committed', records: ['r1'] })
    await h.until(() => h.pushes.length === 1, 'the first push')
    h.actor.send({ type: 'committed', records: ['r2'] })
    h.pushes[0]!.resolve({ unreached: ['peer-b', 'peer-c'] })
    await h.until(() => h.pushes.length === 2, 'the next batch')
    assert.deepEqual(h.pushes[1]!.input, { records: ['r2'] }, 'the next batch goes to every peer, without waiting')
    assert.equal(h.actor.getSnapshot().context.attempts, 0)
    // peer-b took r2, and fetches r1 as its ancestor; peer-c is owed r2, which brings it to fetch r1 likewise.
    h.pushes[1]!.resolve({ unreached: ['peer-c'] })
    await h.until(() => h.pushes.length === 3, 'the latest batch a peer missed, sent to it alone')
    assert.deepEqual(h.pushes[2]!.input, { records: ['r2'], to: ['peer-c'] })
    h.pushes[2]!.resolve({ unreached: ['peer-c'] })
    await h.until(() => h.pushes.length === 4, 'the batch sent again to the peer still missing it')
    assert.deepEqual(h.pushes[3]!.input, { records: ['r2'], to: ['peer-c'] })
    h.pushes[3]!.resolve(REACHED_ALL)
    await h.inState('idle')
    assert.deepEqual(h.actor.getSnapshot().context.owed, [])
    assert.deepEqual(h.actor.getSnapshot().context.owedTo, [])
  })

  it('lets a commit go first while it repays, keeps what is owed, and forgets it once a later batch reaches every peer', async () => {
    const h = harness('own', { maxAttempts: 5, backoffMs: 1 })
    await missPeerOnFirstPush(h)
    await h.until(() => h.pushes.length === 2, 'the repayment')
    assert.equal(h.actor.getSnapshot().value, 'repaying')
    h.actor.send({ type: 'committed', records: ['r2'] })
    await h.until(() => h.pushes.length === 3, 'the new batch, not held back by the repayment')
    assert.deepEqual(h.pushes[2]!.input, { records: ['r2'] })
    assert.deepEqual(h.gossiped.at(-1), ['r2'], 'a commit during a repayment is gossiped at once too')
    assert.deepEqual(h.actor.getSnapshot().context.owed, ['r1'])
    h.pushes[2]!.resolve(REACHED_ALL)
    await h.inState('idle')
    assert.deepEqual(h.actor.getSnapshot().context.owed, [], 'peer-b took r2, and fetches r1 as its ancestor')
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.equal(h.pushes.length, 3)
  })

  it('forgets what is owed at once when it may make no attempt at all', async () => {
    const h = harness('own', { maxAttempts: 0 })
    await missPeerOnFirstPush(h)
    await h.until(snapshot => snapshot.value === 'idle' && snapshot.context.owed.length === 0, 'what is owed to be forgotten')
    h.actor.send({ type: 'committed', records: ['r2'] })
    await h.until(() => h.pushes.length === 2, 'the next push')
  })

  it('stops sending what some peers missed after its attempts run out, and leaves it to their pulls', async () => {
    const h = harness('own', { maxAttempts: 2, backoffMs: 1 })
    await missPeerOnFirstPush(h)
    await h.until(() => h.pushes.length === 2, 'the first repayment')
    h.pushes[1]!.reject(new Error('peer offline'))
    await h.until(() => h.pushes.length === 3, 'the second repayment')
    assert.deepEqual(h.pushes[2]!.input, { records: ['r1'], to: ['peer-b'] })
    h.pushes[2]!.resolve({ unreached: ['peer-b'] })
    await h.until(snapshot => snapshot.context.owed.length === 0, 'what is owed to be forgotten')
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.equal(h.pushes.length, 3)
    assert.equal(h.actor.getSnapshot().value, 'idle')
  })

  it('pushes what it holds back at once when told to, as a closing store does', async () => {
    const h = harness('own', { pushDelayMs: 60_000 })
    h.actor.send({ type: 'committed', records: ['r1'] })
    assert.equal(h.actor.getSnapshot().value, 'holding')
    h.actor.send({ type: 'push now' })
    assert.equal(h.actor.getSnapshot().value, 'pushing')
    assert.deepEqual(h.pushes[0]!.input, { records: ['r1'] })
    h.pushes[0]!.resolve(REACHED_ALL)
    await h.inState('idle')
  })

  it('tries once more at once when told to push now while it backs off or rests in failed', async () => {
    const h = harness('own', { maxAttempts: 2, backoffMs: 60_000 })
    await failFirstPush(h)
    h.actor.send({ type: 'push now' })
    assert.equal(h.actor.getSnapshot().value, 'pushing')
    h.pushes[1]!.reject(new Error('peer offline'))
    await h.inState('failed')
    h.actor.send({ type: 'push now' })
    assert.equal(h.actor.getSnapshot().value, 'pushing')
    assert.deepEqual(h.pushes[2]!.input, { records: ['r1'] })
  })

  it('gossips what is committed while it backs off or rests in failed', async () => {
    const h = harness('own', { maxAttempts: 2, backoffMs: 200 })
    await failFirstPush(h)
    h.actor.send({ type: 'committed', records: ['r2'] })
    assert.deepEqual(h.gossiped, [['r1'], ['r2']])
    await h.until(() => h.pushes.length === 2, 'the retry')
    h.pushes[1]!.reject(new Error('peer offline'))
    await h.inState('failed')
    h.actor.send({ type: 'committed', records: ['r3'] })
    assert.deepEqual(h.gossiped, [['r1'], ['r2'], ['r3']])
    assert.deepEqual(h.actor.getSnapshot().context.outgoing, ['r2', 'r3'])
  })

  it('rests in failed with the reason after too many failures, and starts over when asked', async () => {
    const h = harness('remote', { maxAttempts: 3 })
    h.actor.send({ type: 'sync' })
    for (let i = 0; i < 3; i++) {
      await h.until(() => h.pulls.length === i + 1, `pull ${i + 1}`)
      h.pulls[i]!.reject(new Error(`unreachable ${i}`))
    }
    await h.inState('failed')
    assert.match(String(h.actor.getSnapshot().context.error), /unreachable 2/)
    h.actor.send({ type: 'sync' })
    assert.deepEqual(h.actor.getSnapshot().value, { pulling: 'comparing edges' })
    assert.equal(h.actor.getSnapshot().context.attempts, 0)
    h.pulls[3]!.resolve(5)
    await h.inState('idle')
  })

  it('shows where a pull is: comparing edges, listing logs, then fetching and handing over page by page', async () => {
    const h = harness('remote')
    h.actor.send({ type: 'sync' })
    const at = (): unknown => h.actor.getSnapshot().value
    assert.deepEqual(at(), { pulling: 'comparing edges' })
    const pull = h.pulls[0]!
    pull.step('listing logs')
    assert.deepEqual(at(), { pulling: 'listing logs' })
    for (let page = 0; page < 2; page++) {
      pull.step('fetching page')
      assert.deepEqual(at(), { pulling: 'fetching' })
      pull.step('handing page')
      assert.deepEqual(at(), { pulling: 'handing to the dispatcher' })
    }
    pull.resolve(2000)
    await h.inState('idle')
  })

  it('fetches missing ancestors from the peers that sent records ahead of them, once the pull under way ends', async () => {
    const h = harness('remote')
    h.actor.send({ type: 'ancestors missing', from: 'peer-a' })
    assert.equal(h.actor.getSnapshot().value, 'fetching missing ancestors')
    assert.deepEqual(h.fetches[0]!.input, { from: ['peer-a'] })
    h.actor.send({ type: 'ancestors missing', from: 'peer-b' })
    h.actor.send({ type: 'ancestors missing', from: 'peer-b' })
    h.fetches[0]!.resolve(3)
    await h.until(() => h.fetches.length === 2, 'the second fetch')
    assert.deepEqual(h.fetches[1]!.input, { from: ['peer-b'] }, 'a peer that came ahead while fetching is asked next, once')
    h.fetches[1]!.resolve(1)
    await h.inState('idle')

    h.actor.send({ type: 'sync' })
    h.actor.send({ type: 'ancestors missing', from: 'peer-c' })
    assert.deepEqual(h.actor.getSnapshot().value, { pulling: 'comparing edges' })
    h.pulls[0]!.resolve(0)
    await h.until(() => h.fetches.length === 3, 'the third fetch')
    assert.deepEqual(h.fetches[2]!.input, { from: ['peer-c'] })
    h.fetches[2]!.reject(new Error('peer-c went away'))
    await h.inState('backingOff')
    assert.equal(h.actor.getSnapshot().context.attempts, 1)
    assert.deepEqual(h.actor.getSnapshot().context.ahead, ['peer-c'], 'the peer that sent the record is asked again')
    await h.until(() => h.pulls.length === 2, 'the second pull')
    h.pulls[1]!.resolve(0)
    await h.until(() => h.fetches.length === 4, 'the fourth fetch')
    assert.deepEqual(h.fetches[3]!.input, { from: ['peer-c'] })
  })

  it('leaves failed to fetch missing ancestors when a record comes ahead of them, and ignores that news for its own log', async () => {
    const h = harness('remote', { maxAttempts: 1 })
    h.actor.send({ type: 'sync' })
    h.pulls[0]!.reject(new Error('nobody answers'))
    await h.inState('failed')
    h.actor.send({ type: 'ancestors missing', from: 'peer-d' })
    assert.equal(h.actor.getSnapshot().value, 'fetching missing ancestors')
    assert.deepEqual(h.fetches[0]!.input, { from: ['peer-d'] })
    assert.equal(h.actor.getSnapshot().context.attempts, 0)

    const own = harness('own')
    own.actor.send({ type: 'ancestors missing', from: 'peer-e' })
    assert.equal(own.actor.getSnapshot().value, 'idle')
    assert.deepEqual(own.actor.getSnapshot().context.ahead, [])
  })

  it('pulls a quiet remote log on its slow timer', async () => {
    const h = harness('remote', { pollMs: 20 })
    await h.until(() => h.pulls.length === 1, 'the first pull')
    h.pulls[0]!.resolve(0)
    await h.until(() => h.pulls.length === 2, 'the second pull')
    h.pulls[1]!.resolve(0)
  })

  it('reaches every state from the start', () => {
    const reached = new Set<string>()
    // One attempt sends a failure straight to `failed`; two pass through `backingOff` first.
    for (const role of ['own', 'remote'] as const) {
      for (const maxAttempts of [1, 2]) {
        const paths = getShortestPaths(logSyncMachine, {
          input: { role, pollMs: 1, pushDelayMs: 1, backoffMs: 1, maxBackoffMs: 1, maxAttempts },
          // Queued records make every commit a new context: states are told apart by where the machine is, and by
          // whether it owes records to peers that missed them (only then does a quiet log go on to repay them).
          serializeState: state => `${JSON.stringify(state.value)}${state.context.owed.length > 0 ? ' owing' : ''}`,
          events: [
            { type: 'committed', records: ['r'] },
            { type: 'xstate.after.push delay.log sync.holding' } as never,
            { type: 'xstate.after.repay delay.log sync.idle' } as never,
            { type: 'xstate.done.actor.repay records', output: REACHED_ALL } as never,
            { type: 'xstate.error.actor.repay records', error: new Error('x') } as never,
            { type: 'sync' },
            { type: 'push now' },
            { type: 'stop' },
            { type: 'xstate.error.actor.push records', error: new Error('x') } as never,
            { type: 'xstate.done.actor.push records', output: REACHED_ALL } as never,
            { type: 'xstate.done.actor.push records', output: { unreached: ['peer'] } } as never,
            { type: 'ancestors missing', from: 'peer' },
            { type: 'xstate.error.actor.fetch missing ancestors', error: new Error('x') } as never,
            { type: 'xstate.done.actor.fetch missing ancestors', output: 1 } as never,
            { type: 'listing logs' },
            { type: 'fetching page' },
            { type: 'handing page' },
            { type: 'pulled', count: 1 },
            { type: 'pull failed', error: new Error('x') }
          ]
        })
        for (const path of paths) reached.add(JSON.stringify(path.state.value))
      }
    }
    // Every state the machine defines, a compound one by each of its children.
    const states = Object.entries(logSyncMachine.root.states).flatMap(([name, node]) => {
      const children = Object.keys(node.states)
      return children.length === 0 ? [JSON.stringify(name)] : children.map(child => JSON.stringify({ [name]: child }))
    })
    for (const state of states) assert.ok(reached.has(state), `${state} is reachable: ${[...reached].join(', ')}`)
  })
})
