import { assign, fromPromise, sendTo, setup, type AnyActorRef } from 'xstate'

/**
 * A subscriber to a thread's changes. It never holds changes in memory beyond one page: it keeps a cursor into
 * the persisted events and, when the dispatcher says events are available past it, reads the next page, keeps
 * the changes its filter wants, and hands them to the callback, waiting for the callback before reading on.
 * A slow callback therefore lags behind, loses nothing, and costs no memory.
 */

export interface ListenerInput {
  dispatcher: AnyActorRef
  /** Position to start after: the thread's position when the listener was created. */
  cursor: number
}

export interface ListenerContext {
  dispatcher: AnyActorRef
  cursor: number
  /** The latest position the dispatcher announced. */
  known: number
  /** The page read and waiting to be delivered. */
  page: unknown[]
  error: unknown
}

export type ListenerEvent =
  | { type: 'events available', position: number }
  | { type: 'stop' }

export interface PageRead {
  /** The changes the filter kept. */
  changes: unknown[]
  /** Position of the last event read, kept or not. */
  position: number
}

export const listenerMachine = setup({
  types: {
    context: {} as ListenerContext,
    events: {} as ListenerEvent,
    input: {} as ListenerInput
  },
  actors: {
    /** Reads the page after `cursor`; fails when events up to `known` are no longer there to read. */
    'read page': fromPromise<PageRead, { cursor: number, known: number }>(async () => {
      throw new Error('reading is provided by actors/')
    }),
    'deliver page': fromPromise<void, { changes: unknown[] }>(async () => {
      throw new Error('delivery is provided by actors/')
    })
  },
  actions: {
    'note position': assign({
      known: ({ context, event }) => event.type === 'events available' ? Math.max(context.known, event.position) : context.known
    }),
    'subscribe': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'subscribe', listener: self })),
    'unsubscribe': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'unsubscribe', listener: self })),
    'keep page': assign(({ event }) => {
      const { changes, position } = (event as unknown as { output: PageRead }).output
      return { page: changes, cursor: position }
    }),
    'clear page': assign({ page: [] }),
    'note stall': assign({ error: ({ context }) => new Error(`events after ${context.cursor} up to ${context.known} could not be read`) }),
    'keep error': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  },
  guards: {
    'behind': ({ context }) => context.cursor < context.known,
    'page has changes': ({ event }) => (event as unknown as { output: PageRead }).output.changes.length > 0,
    // Reading again from the same cursor would return the same page forever: fail instead of spinning.
    'page made no progress': ({ context, event }) => (event as unknown as { output: PageRead }).output.position <= context.cursor
  }
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ dispatcher: input.dispatcher, cursor: input.cursor, known: input.cursor, page: [], error: undefined }),
  entry: 'subscribe',
  on: {
    'events available': { actions: 'note position' },
    stop: { target: '.stopped' }
  },
  initial: 'idle',
  states: {
    idle: {
      description: 'Caught up: waits for the dispatcher to announce new events.',
      always: { guard: 'behind', target: 'reading' }
    },
    reading: {
      description: 'Reads the next page of persisted events after the cursor.',
      invoke: {
        id: 'read page',
        src: 'read page',
        input: ({ context }) => ({ cursor: context.cursor, known: context.known }),
        onDone: [
          { guard: 'page made no progress', target: 'failed', actions: 'note stall' },
          { guard: 'page has changes', target: 'delivering', actions: 'keep page' },
          { target: 'idle', actions: 'keep page' }
        ],
        onError: { target: 'failed', actions: 'keep error' }
      }
    },
    delivering: {
      description: 'Hands the page to the callback and waits for it: backpressure, not buffering.',
      invoke: {
        id: 'deliver page',
        src: 'deliver page',
        input: ({ context }) => ({ changes: context.page }),
        onDone: { target: 'idle', actions: 'clear page' },
        onError: { target: 'failed', actions: 'keep error' }
      }
    },
    failed: {
      entry: 'unsubscribe',
      type: 'final'
    },
    stopped: {
      entry: 'unsubscribe',
      type: 'final'
    }
  }
})
