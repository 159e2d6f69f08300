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
    'read page': fromPromise<PageRead, { cursor: number }>(async () => {
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
    'keep page': assign(({ context, event }) => {
      const { changes, position } = (event as unknown as { output: PageRead }).output
      // A page that makes no progress while behind means the events up to the announced position are gone (compacted
      // away): reading again at once would spin forever without yielding, so the cursor moves up to what is known.
      return { page: changes, cursor: position > context.cursor ? position : Math.max(context.cursor, context.known) }
    }),
    'clear page': assign({ page: [] }),
    'keep error': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  },
  guards: {
    'behind': ({ context }) => context.cursor < context.known,
    'page has changes': ({ event }) => (event as unknown as { output: PageRead }).output.changes.length > 0
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
        src: 'read page',
        input: ({ context }) => ({ cursor: context.cursor }),
        onDone: [
          { guard: 'page has changes', target: 'delivering', actions: 'keep page' },
          { target: 'idle', actions: 'keep page' }
        ],
        onError: { target: 'failed', actions: 'keep error' }
      }
    },
    delivering: {
      description: 'Hands the page to the callback and waits for it: backpressure, not buffering.',
      invoke: {
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
