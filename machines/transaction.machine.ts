import { assign, fromPromise, sendTo, setup, type AnyActorRef } from 'xstate'

/**
 * One interactive transaction. A write transaction first takes the dispatcher's lock, so it reads committed state
 * that nothing else changes while its body runs; the body's writes are collected, then committed as one job. A
 * body that throws, or a commit that fails (a schema or unique violation), aborts it and changes nothing. A read
 * transaction takes no lock, so it never waits for writers: each of its reads sees the state committed at that
 * moment (read committed), and it has nothing to commit. A body still running when its time limit passes is left
 * behind: the transaction ends `timed out`, with nothing committed and the lock released, so a body that never
 * returns cannot hold every writer of the store back.
 */

/** The longest delay a timer can wait: the longest time limit there is, short of none (`Infinity`). */
export const LONGEST_TIME_LIMIT = 2 ** 31 - 1

export type TransactionKind = 'read' | 'write'

export interface TransactionInput {
  dispatcher: AnyActorRef
  kind: TransactionKind
  /** How long the body may run, in milliseconds, counted from `running` (a write, once it holds the lock); `Infinity` for no limit. */
  timeout: number
}

export interface TransactionContext {
  dispatcher: AnyActorRef
  kind: TransactionKind
  timeout: number
  changes: unknown[]
  error: unknown
}

export type TransactionEvent =
  | { type: 'lock granted' }
  | { type: 'collect', changes: unknown[] }

export const transactionMachine = setup({
  types: {
    context: {} as TransactionContext,
    events: {} as TransactionEvent,
    input: {} as TransactionInput
  },
  actors: {
    /** The user's transaction body, run against a handle that sends `collect` for every write. */
    'run body': fromPromise<void, { self: AnyActorRef }>(async () => {
      throw new Error('the transaction body is provided by actors/')
    }),
    /** Sends the collected changes to the dispatcher as the lock holder's commit and waits for the outcome. */
    'commit changes': fromPromise<unknown, { dispatcher: AnyActorRef, changes: unknown[], holder: AnyActorRef }>(async () => {
      throw new Error('committing is provided by actors/')
    })
  },
  actions: {
    'request lock': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'acquire', holder: self })),
    'release lock': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'release', holder: self })),
    'collect changes': assign({
      changes: ({ context, event }) => event.type === 'collect' ? [...context.changes, ...event.changes] : context.changes
    }),
    'keep error': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  },
  guards: {
    'is a write transaction': ({ context }) => context.kind === 'write',
    'has changes': ({ context }) => context.changes.length > 0,
    'has a time limit': ({ context }) => Number.isFinite(context.timeout),
    'is a write transaction with a time limit': ({ context }) => context.kind === 'write' && Number.isFinite(context.timeout)
  },
  delays: {
    // With no limit the timer still runs, for the longest time it can, and changes nothing when it fires.
    'time limit': ({ context }) => Math.min(context.timeout, LONGEST_TIME_LIMIT)
  }
}).createMachine({
  id: 'transaction',
  context: ({ input }) => ({ dispatcher: input.dispatcher, kind: input.kind, timeout: input.timeout, changes: [], error: undefined }),
  initial: 'starting',
  states: {
    starting: {
      always: [
        { guard: 'is a write transaction', target: 'acquiring' },
        { target: 'running' }
      ]
    },
    acquiring: {
      description: 'Waiting for the dispatcher to grant the lock.',
      entry: 'request lock',
      on: { 'lock granted': 'running' }
    },
    running: {
      description: 'The body reads committed state and collects writes.',
      invoke: {
        id: 'run body',
        src: 'run body',
        input: ({ self }) => ({ self }),
        onDone: [
          { guard: 'has changes', target: 'committing' },
          { guard: 'is a write transaction', target: 'committed', actions: 'release lock' },
          { target: 'committed' }
        ],
        onError: [
          { guard: 'is a write transaction', target: 'aborted', actions: ['keep error', 'release lock'] },
          { target: 'aborted', actions: 'keep error' }
        ]
      },
      on: { collect: { guard: 'is a write transaction', actions: 'collect changes' } },
      after: {
        'time limit': [
          { guard: 'is a write transaction with a time limit', target: 'timed out', actions: 'release lock' },
          { guard: 'has a time limit', target: 'timed out' }
        ]
      }
    },
    committing: {
      description: 'The dispatcher persists the changes as one record, or refuses them all.',
      invoke: {
        id: 'commit changes',
        src: 'commit changes',
        input: ({ context, self }) => ({ dispatcher: context.dispatcher, changes: context.changes, holder: self }),
        onDone: 'committed',
        onError: { target: 'aborted', actions: 'keep error' }
      }
    },
    committed: { type: 'final' },
    aborted: { type: 'final' },
    'timed out': {
      description: 'The body ran past its time limit; what it collected is dropped, and it can write no more.',
      type: 'final'
    }
  }
})
