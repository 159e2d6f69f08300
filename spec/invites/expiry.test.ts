import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createActor, fromPromise, type AnyActorRef } from 'xstate'
import { inviteeMachine } from '../../machines/invitee.machine.ts'
import { inviterMachine, MAX_TIMER_MS } from '../../machines/inviter.machine.ts'

/**
 * An invite may live longer than the longest timer Node runs (2³¹−1 ms, about 24.8 days; a longer one fires at
 * once). Both sides arm their expiry timer in steps no longer than that: a step that ends before the expiry arms
 * the next one, and only the step that reaches it expires the invite. Timers and the clock are Node's mocks, behind
 * a clock that, like Node's own timers, fires an overlong delay after 1 ms.
 */
/** Timers armed so far through `nodeLikeClock`. */
let armed = 0
const nodeLikeClock = {
  setTimeout: (fn: (...args: any[]) => void, ms: number) => {
    armed++
    return setTimeout(fn, ms > MAX_TIMER_MS ? 1 : ms)
  },
  clearTimeout: (id: any) => { clearTimeout(id) }
}

describe('an invite that lives longer than one timer can run', () => {
  const LIFETIME = MAX_TIMER_MS + 10_000
  let actor: AnyActorRef | undefined

  beforeEach(() => {
    armed = 0
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 })
  })
  afterEach(() => {
    actor?.stop()
    actor = undefined
    mock.timers.reset()
  })

  /** From an invite of LIFETIME that `waiting` holds: one step armed, the next when it ends, expiry at the last. */
  const waitsOutEachStep = (waiting: AnyActorRef, state: string): void => {
    mock.timers.tick(1)
    assert.equal(armed, 1, 'a step no longer than a timer can run, not one that fires at once and arms another')
    mock.timers.tick(MAX_TIMER_MS)
    assert.equal(waiting.getSnapshot().value, state, 'the first step ended before the expiry, and armed the next')
    assert.equal(armed, 2)
    mock.timers.tick(10_000)
    assert.equal(waiting.getSnapshot().value, 'expired')
  }

  it('keeps the inviter waiting through each full timer step, and expires it when the last step ends', () => {
    actor = createActor(inviterMachine, {
      input: { inviteId: 'invite', invitee: 'bob', resume: 'delivered', expires: Date.now() + LIFETIME, retryMs: 1000 },
      clock: nodeLikeClock
    }).start()
    assert.equal(actor.getSnapshot().value, 'awaiting join')
    waitsOutEachStep(actor, 'awaiting join')
  })

  it('keeps the invitee\'s opened invite pending through each full timer step, and expires it when the last step ends', async () => {
    const machine = inviteeMachine.provide({
      actors: {
        'check envelope': fromPromise<void, { inviteId: string }>(async () => {}),
        'open invite': fromPromise<{ role: 'replicate' | 'read' | 'write', expires: number }, { inviteId: string }>(async () => ({ role: 'read', expires: Date.now() + LIFETIME }))
      }
    })
    actor = createActor(machine, { input: { inviteId: 'invite', retryMs: 1000, maxAttempts: 3 }, clock: nodeLikeClock }).start()
    // The envelope check and the opening settle on microtasks, which mocked timers leave alone.
    for (let turn = 0; turn < 10 && actor.getSnapshot().value !== 'pending'; turn++) await Promise.resolve()
    assert.equal(actor.getSnapshot().value, 'pending')
    waitsOutEachStep(actor, 'pending')
  })
})
