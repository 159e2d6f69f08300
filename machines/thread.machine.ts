import { enqueueActions, forwardTo, setup, type AnyActorRef } from 'xstate'
import { dispatcherMachine } from './dispatcher.machine.ts'
import { listenerMachine } from './listener.machine.ts'
import { logSyncMachine, type LogRole } from './log-sync.machine.ts'
import { reducerMachine } from './reducer.machine.ts'
import { transactionMachine, type TransactionKind } from './transaction.machine.ts'

/**
 * A thread's actors, one actor system per thread: the dispatcher and the reducer for its lifetime, a sync actor
 * per log with something to sync while the peer is networked, a listener per subscription and a transaction per
 * interactive transaction for theirs. System IDs name the thread and the role (`thread:<tid>/dispatcher`,
 * `thread:<tid>/reducer`, `thread:<tid>/log:<logId>/sync`, `thread:<tid>/listener:3`, `thread:<tid>/transaction:7`),
 * so a trace of many threads and peers says what it shows.
 */

/** The system ID of a thread's actor in the role `role` (the child's ID in the thread machine). */
export const systemIdOf = (threadId: string, role?: string): string => role === undefined ? `thread:${threadId}` : `thread:${threadId}/${role}`

export interface ThreadInput {
  threadId: string
  position: number
  snapshotEvery: number
  snapshotPosition: number
}

export interface ThreadContext {
  threadId: string
  position: number
  snapshotEvery: number
  snapshotPosition: number
}

export type ThreadEvent =
  | { type: 'folded', position: number }
  | { type: 'listen', id: string, cursor: number }
  | { type: 'unlisten', id: string }
  | { type: 'begin transaction', id: string, kind: TransactionKind, timeout: number }
  | { type: 'end transaction', id: string }
  /** Starts keeping one log in sync (once per log; later asks are no-ops). */
  | { type: 'sync log', logId: string, role: LogRole, pollMs: number, pushDelayMs: number, backoffMs: number, maxBackoffMs: number, maxAttempts: number }
  /** Asks every log's sync to catch up now (a peer connected, the store opened, a gap showed). */
  | { type: 'sync all' }

export const threadMachine = setup({
  types: {
    context: {} as ThreadContext,
    events: {} as ThreadEvent,
    input: {} as ThreadInput
  },
  actors: {
    dispatcher: dispatcherMachine,
    reducer: reducerMachine,
    listener: listenerMachine,
    transaction: transactionMachine,
    logSync: logSyncMachine
  },
  actions: {
    'tell the reducer': forwardTo('reducer'),
    'start the dispatcher and the reducer': enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('dispatcher', {
        id: 'dispatcher',
        systemId: systemIdOf(context.threadId, 'dispatcher'),
        input: { position: context.position }
      })
      enqueue.spawnChild('reducer', {
        id: 'reducer',
        systemId: systemIdOf(context.threadId, 'reducer'),
        input: { snapshotEvery: context.snapshotEvery, position: context.position, snapshotPosition: context.snapshotPosition }
      })
    }),
    'start listener': enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'listen') return
      const dispatcher = self.getSnapshot().children.dispatcher as AnyActorRef
      enqueue.spawnChild('listener', {
        id: event.id,
        systemId: systemIdOf(context.threadId, event.id),
        input: { dispatcher, cursor: event.cursor }
      })
    }),
    'stop listener': enqueueActions(({ event, enqueue, self }) => {
      if (event.type !== 'unlisten') return
      const listener = self.getSnapshot().children[event.id] as AnyActorRef | undefined
      if (listener === undefined) return
      enqueue.sendTo(listener, { type: 'stop' })
      enqueue.stopChild(event.id)
    }),
    'start log sync': enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'sync log') return
      const id = `log:${event.logId}/sync`
      if (self.getSnapshot().children[id] !== undefined) return
      const { logId: _logId, type: _type, ...input } = event
      enqueue.spawnChild('logSync', { id, systemId: systemIdOf(context.threadId, id), input })
    }),
    'ask every log to sync': enqueueActions(({ enqueue, self }) => {
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        if (id.startsWith('log:')) enqueue.sendTo(child as AnyActorRef, { type: 'sync' })
      }
    }),
    'stop transaction': enqueueActions(({ event, enqueue }) => {
      if (event.type === 'end transaction') enqueue.stopChild(event.id)
    }),
    'start transaction': enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'begin transaction') return
      const dispatcher = self.getSnapshot().children.dispatcher as AnyActorRef
      enqueue.spawnChild('transaction', {
        id: event.id,
        systemId: systemIdOf(context.threadId, event.id),
        input: { dispatcher, kind: event.kind, timeout: event.timeout }
      })
    })
  }
}).createMachine({
  id: 'thread',
  context: ({ input }) => ({ ...input }),
  // Spawned rather than invoked: an invoke's system ID is fixed in the definition, and these name their thread.
  entry: 'start the dispatcher and the reducer',
  on: {
    folded: { actions: 'tell the reducer' },
    listen: { actions: 'start listener' },
    unlisten: { actions: 'stop listener' },
    'begin transaction': { actions: 'start transaction' },
    'end transaction': { actions: 'stop transaction' },
    'sync log': { actions: 'start log sync' },
    'sync all': { actions: 'ask every log to sync' }
  }
})
