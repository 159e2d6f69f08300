import { assign, fromPromise, sendTo, setup, type AnyActorRef } from 'xstate'

/**
 * One interactive transaction. A write transaction first takes the dispatcher's lock, so it reads committed state
 * that nothing else changes while its body runs; the body's writes are collected, then committed as one job. A
 * body that throws, or a commit that fails (a schema or unique violation), aborts it and changes nothing. A read
 * transaction takes no lock, so it never waits for writers: each of its reads sees the state committed at that
 * moment (read committed), and it has nothing to commit.
 */

export type TransactionKind = 'read' | 'write'

export interface TransactionInput {
  dispatcher: AnyActorRef
  kind: TransactionKind
}

export interface TransactionContext {
  dispatcher: AnyActorRef
  kind: TransactionKind
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
    'has changes': ({ context }) => context.changes.length > 0
  }
}).createMachine({
  id: 'transaction',
  context: ({ input }) => ({ dispatcher: input.dispatcher, kind: input.kind, changes: [], error: undefined }),
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
      on: { collect: { guard: 'is a write transaction', actions: 'collect changes' } }
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
    aborted: { type: 'final' }
  }
})
