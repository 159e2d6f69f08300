import { assign, enqueueActions, fromCallback, setup, type AnyActorRef } from 'xstate'

/**
 * The dispatcher: one per thread, the single way anything reaches the thread's storage. Commits (local
 * transactions) and ingests (records from other logs) become jobs that the `persister` runs, each as one
 * storage transaction, in the order they arrived. Jobs are handed over without waiting for earlier ones to
 * finish: storage commits them in order, grouping commits, so the thread stays serializable while its writes
 * pipeline; the jobs one commit settled come back together, as one `persisted`. An interactive write transaction
 * takes the lock: the dispatcher waits until nothing is in flight, grants it, and queues everything else until the
 * holder commits or releases. After jobs settle it tells each requester, then the listeners (`events available`)
 * and the reducer (`folded`) once for all of them.
 *
 * `Changes`, `Incoming` (a checked record of another log) and `Outcome` stay opaque here: the machine only routes them.
 */

export type Outcome<Result> =
  | { readonly ok: true, readonly result: Result }
  | { readonly ok: false, readonly error: unknown }

export type DispatcherJob<Changes, Incoming, Result> =
  | { readonly kind: 'commit', readonly changes: Changes, readonly reply: (outcome: Outcome<Result>) => void }
  | { readonly kind: 'ingest', readonly logId: string, readonly record: Incoming, readonly reply: (outcome: Outcome<Result>) => void }

export type DispatcherEvent<Changes, Incoming, Result> =
  | { type: 'commit', changes: Changes, reply: (outcome: Outcome<Result>) => void, holder?: AnyActorRef }
  | { type: 'ingest', logId: string, record: Incoming, reply: (outcome: Outcome<Result>) => void }
  | { type: 'acquire', holder: AnyActorRef }
  | { type: 'release', holder: AnyActorRef }
  | { type: 'persisted', settled: ReadonlyArray<SettledJob<Changes, Incoming, Result>>, position: number }
  | { type: 'subscribe', listener: AnyActorRef }
  | { type: 'unsubscribe', listener: AnyActorRef }

/** A job the persister finished, and how it ended. */
export interface SettledJob<Changes, Incoming, Result> {
  readonly job: DispatcherJob<Changes, Incoming, Result>
  readonly outcome: Outcome<Result>
}

/** What waits behind the lock: a job, or another transaction wanting the lock. */
type Waiting<Changes, Incoming, Result> =
  | { readonly kind: 'job', readonly job: DispatcherJob<Changes, Incoming, Result> }
  | { readonly kind: 'acquire', readonly holder: AnyActorRef }

export interface DispatcherContext<Changes, Incoming, Result> {
  inFlight: number
  waiting: Array<Waiting<Changes, Incoming, Result>>
  holder: AnyActorRef | undefined
  listeners: AnyActorRef[]
  /** Position of the latest event persisted; listeners read up to it. */
  position: number
}

export interface DispatcherInput {
  position: number
}

/** Messages the dispatcher sends to others. */
export type LockGranted = { type: 'lock granted' }
export type EventsAvailable = { type: 'events available', position: number }
export type Folded = { type: 'folded', position: number }

type Changes = unknown
type Incoming = unknown
type Result = unknown
type Context = DispatcherContext<Changes, Incoming, Result>
type Event = DispatcherEvent<Changes, Incoming, Result>

const jobOf = (event: Event): DispatcherJob<Changes, Incoming, Result> => {
  if (event.type === 'commit') return { kind: 'commit', changes: event.changes, reply: event.reply }
  if (event.type === 'ingest') return { kind: 'ingest', logId: event.logId, record: event.record, reply: event.reply }
  throw new Error(`not a job: ${event.type}`)
}

export const dispatcherMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as DispatcherInput
  },
  actors: {
    /** Runs each job it receives as one storage transaction; sends back `persisted` with the jobs each commit settled. */
    persister: fromCallback<{ type: 'persist', job: DispatcherJob<Changes, Incoming, Result> }>(() => {
      throw new Error('the persister is provided by actors/')
    })
  },
  actions: {
    'persist job': enqueueActions(({ event, enqueue }) => {
      enqueue.sendTo('persister', { type: 'persist', job: jobOf(event) })
      enqueue.assign({ inFlight: ({ context }) => context.inFlight + 1 })
    }),
    'queue job': assign({
      waiting: ({ context, event }) => [...context.waiting, { kind: 'job', job: jobOf(event) }]
    }),
    'queue acquire': assign({
      waiting: ({ context, event }) => event.type === 'acquire' ? [...context.waiting, { kind: 'acquire', holder: event.holder }] : context.waiting
    }),
    'grant lock': enqueueActions(({ context, enqueue }) => {
      const [next, ...rest] = context.waiting
      if (next?.kind !== 'acquire') return
      enqueue.assign({ holder: next.holder, waiting: rest })
      enqueue.sendTo(next.holder, { type: 'lock granted' } satisfies LockGranted)
    }),
    'release lock': assign({ holder: undefined }),
    /** Hands queued jobs to the persister, in order, up to the next transaction waiting for the lock. */
    'persist waiting jobs': enqueueActions(({ context, enqueue }) => {
      const stop = context.waiting.findIndex(waiting => waiting.kind === 'acquire')
      const ready = stop === -1 ? context.waiting : context.waiting.slice(0, stop)
      for (const waiting of ready) if (waiting.kind === 'job') enqueue.sendTo('persister', { type: 'persist', job: waiting.job })
      enqueue.assign({
        inFlight: context.inFlight + ready.length,
        waiting: stop === -1 ? [] : context.waiting.slice(stop)
      })
    }),
    'settle jobs': enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'persisted') return
      for (const { job, outcome } of event.settled) job.reply(outcome)
      const position = Math.max(context.position, event.position)
      enqueue.assign({ inFlight: context.inFlight - event.settled.length, position })
      if (!event.settled.some(({ outcome }) => outcome.ok)) return
      for (const listener of context.listeners) enqueue.sendTo(listener, { type: 'events available', position } satisfies EventsAvailable)
      enqueue.sendParent({ type: 'folded', position } satisfies Folded)
    }),
    'add listener': enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'subscribe') return
      enqueue.assign({ listeners: [...context.listeners, event.listener] })
      enqueue.sendTo(event.listener, { type: 'events available', position: context.position } satisfies EventsAvailable)
    }),
    'remove listener': assign({
      listeners: ({ context, event }) => context.listeners.filter(listener => event.type !== 'unsubscribe' || listener !== event.listener)
    })
  },
  guards: {
    'nothing in flight': ({ context }) => context.inFlight === 0,
    'from the holder': ({ context, event }) => (event.type === 'release' || event.type === 'commit') && event.holder !== undefined && event.holder === context.holder,
    'a transaction waits for the lock': ({ context }) => context.waiting.some(waiting => waiting.kind === 'acquire')
  }
}).createMachine({
  id: 'dispatcher',
  context: ({ input }) => ({ inFlight: 0, waiting: [], holder: undefined, listeners: [], position: input.position }),
  invoke: { id: 'persister', src: 'persister' },
  on: {
    persisted: { actions: 'settle jobs' },
    subscribe: { actions: 'add listener' },
    unsubscribe: { actions: 'remove listener' }
  },
  initial: 'open',
  states: {
    open: {
      description: 'Jobs go straight to the persister; storage keeps them in order.',
      on: {
        commit: { actions: 'persist job' },
        ingest: { actions: 'persist job' },
        acquire: { target: 'draining', actions: 'queue acquire' }
      }
    },
    draining: {
      description: 'A transaction waits for the lock: nothing new starts until every job in flight has settled.',
      always: { guard: 'nothing in flight', target: 'locked', actions: 'grant lock' },
      on: {
        commit: { actions: 'queue job' },
        ingest: { actions: 'queue job' },
        acquire: { actions: 'queue acquire' },
        persisted: { target: 'draining', reenter: true, actions: 'settle jobs' }
      }
    },
    locked: {
      description: 'One transaction reads and writes alone; its commit is the next job.',
      on: {
        commit: [
          { guard: 'from the holder', target: 'unlocking', actions: ['persist job', 'release lock'] },
          { actions: 'queue job' }
        ],
        ingest: { actions: 'queue job' },
        acquire: { actions: 'queue acquire' },
        release: { guard: 'from the holder', target: 'unlocking', actions: 'release lock' }
      }
    },
    unlocking: {
      description: 'The lock is free: queued jobs go to the persister, up to the next transaction waiting.',
      entry: 'persist waiting jobs',
      always: [
        { guard: 'a transaction waits for the lock', target: 'draining' },
        { target: 'open' }
      ]
    }
  }
})

