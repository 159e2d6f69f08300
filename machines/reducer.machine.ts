import { assign, enqueueActions, fromPromise, setup } from 'xstate'

/**
 * The reducer owns the views' lifecycle. Folding events into views happens inside every dispatch (a plain
 * function, in the same storage transaction as the events); this machine runs the long jobs around it one at a
 * time, in the order asked: snapshots (on request, and every `snapshotEvery` events), restoring the views from
 * the latest snapshot, rebuilding them from the logs alone, and compacting.
 */

export type ReducerJob = 'snapshot' | 'restore' | 'rebuild' | 'compact'

export interface ReducerRequest {
  readonly job: ReducerJob
  readonly reply: (outcome: { ok: true, result: number } | { ok: false, error: unknown }) => void
}

export interface ReducerInput {
  snapshotEvery: number
  position: number
  snapshotPosition: number
}

export interface ReducerContext {
  snapshotEvery: number
  position: number
  snapshotPosition: number
  /** Position at which a snapshot last failed: the next automatic one waits `snapshotEvery` events past it. */
  failedSnapshotAt: number
  requests: ReducerRequest[]
}

export type ReducerEvent =
  | { type: 'folded', position: number }
  | { type: 'request', request: ReducerRequest }

const ignore = (): void => {}

export const reducerMachine = setup({
  types: {
    context: {} as ReducerContext,
    events: {} as ReducerEvent,
    input: {} as ReducerInput
  },
  actors: {
    /** Runs one job against storage; resolves with the job's figure (a position, or a count of events). */
    'run job': fromPromise<number, { job: ReducerJob }>(async () => {
      throw new Error('reducer jobs are provided by actors/')
    })
  },
  actions: {
    'note position': assign({
      position: ({ context, event }) => event.type === 'folded' ? Math.max(context.position, event.position) : context.position
    }),
    'queue request': assign({
      requests: ({ context, event }) => event.type === 'request' ? [...context.requests, event.request] : context.requests
    }),
    'queue automatic snapshot': assign({
      requests: ({ context }) => [...context.requests, { job: 'snapshot', reply: ignore }]
    }),
    'reply and take next': enqueueActions(({ context, event, enqueue }) => {
      const [current, ...rest] = context.requests
      const done = event as unknown as { output?: number, error?: unknown }
      if ('output' in done) current?.reply({ ok: true, result: done.output! })
      else current?.reply({ ok: false, error: done.error })
      enqueue.assign({ requests: rest })
      if (current?.job === 'snapshot' && 'output' in done) enqueue.assign({ snapshotPosition: done.output! })
      // Retrying at once would spin: a job that fails at once fails again, in a loop of microtasks.
      if (current?.job === 'snapshot' && !('output' in done)) enqueue.assign({ failedSnapshotAt: context.position })
    })
  },
  guards: {
    'a job is waiting': ({ context }) => context.requests.length > 0,
    'snapshot is due': ({ context }) => context.snapshotEvery > 0 &&
      context.position - Math.max(context.snapshotPosition, context.failedSnapshotAt) >= context.snapshotEvery
  }
}).createMachine({
  id: 'reducer',
  context: ({ input }) => ({ ...input, failedSnapshotAt: 0, requests: [] }),
  on: {
    folded: { actions: 'note position' },
    request: { actions: 'queue request' }
  },
  initial: 'ready',
  states: {
    ready: {
      description: 'Views follow every dispatch; no long job runs.',
      always: [
        { guard: 'a job is waiting', target: 'working' },
        { guard: 'snapshot is due', target: 'working', actions: 'queue automatic snapshot' }
      ]
    },
    working: {
      description: 'One job (snapshot, restore, rebuild or compact) runs; others wait their turn.',
      invoke: {
        id: 'run job',
        src: 'run job',
        input: ({ context }) => ({ job: context.requests[0]!.job }),
        onDone: { target: 'ready', actions: 'reply and take next' },
        onError: { target: 'ready', actions: 'reply and take next' }
      }
    }
  }
})
