import { assign, fromCallback, sendTo, setup, type AnyActorRef } from 'xstate'

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

/** What the listener asks of its `pages` actor: one thing at a time, each answered by a `PageEvent`. */
export type PagesCommand =
  | { type: 'read', cursor: number, known: number }
  | { type: 'deliver', changes: unknown[] }

/** How a command to the `pages` actor ended. */
export type PageEvent =
  | { type: 'page read', page: PageRead }
  | { type: 'read failed', error: unknown }
  | { type: 'page delivered' }
  | { type: 'delivery failed', error: unknown }

export type ListenerEvent =
  | { type: 'events available', position: number }
  | { type: 'stop' }
  | PageEvent

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
    /**
     * Runs for the listener's life and does what it is told, one command at a time: `read` the page after `cursor`
     * (failing when events up to `known` are no longer there to read), `deliver` a page to the callback. One actor
     * for every page, rather than one per read and per delivery, spares each page two actors' start and stop.
     */
    pages: fromCallback<PagesCommand, undefined, PageEvent>(() => {
      throw new Error('reading and delivery are provided by actors/')
    })
  },
  actions: {
    'note position': assign({
      known: ({ context, event }) => event.type === 'events available' ? Math.max(context.known, event.position) : context.known
    }),
    'subscribe': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'subscribe', listener: self })),
    'unsubscribe': sendTo(({ context }) => context.dispatcher, ({ self }) => ({ type: 'unsubscribe', listener: self })),
    'read the next page': sendTo('pages', ({ context }) => ({ type: 'read', cursor: context.cursor, known: context.known }) satisfies PagesCommand),
    'deliver the page': sendTo('pages', ({ context }) => ({ type: 'deliver', changes: context.page }) satisfies PagesCommand),
    'keep page': assign(({ event }) => {
      const { changes, position } = (event as Extract<ListenerEvent, { type: 'page read' }>).page
      return { page: changes, cursor: position }
    }),
    'clear page': assign({ page: [] }),
    'note stall': assign({ error: ({ context }) => new Error(`events after ${context.cursor} up to ${context.known} could not be read`) }),
    'keep error': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  },
  guards: {
    'behind': ({ context }) => context.cursor < context.known,
    'page has changes': ({ event }) => (event as Extract<ListenerEvent, { type: 'page read' }>).page.changes.length > 0,
    // Reading again from the same cursor would return the same page forever: fail instead of spinning.
    'page made no progress': ({ context, event }) => (event as Extract<ListenerEvent, { type: 'page read' }>).page.position <= context.cursor
  }
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ dispatcher: input.dispatcher, cursor: input.cursor, known: input.cursor, page: [], error: undefined }),
  entry: 'subscribe',
  invoke: { id: 'pages', src: 'pages' },
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
      entry: 'read the next page',
      on: {
        'page read': [
          { guard: 'page made no progress', target: 'failed', actions: 'note stall' },
          { guard: 'page has changes', target: 'delivering', actions: 'keep page' },
          { target: 'idle', actions: 'keep page' }
        ],
        'read failed': { target: 'failed', actions: 'keep error' }
      }
    },
    delivering: {
      description: 'Hands the page to the callback and waits for it: backpressure, not buffering.',
      entry: 'deliver the page',
      on: {
        'page delivered': { target: 'idle', actions: 'clear page' },
        'delivery failed': { target: 'failed', actions: 'keep error' }
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
