import { AsyncLocalStorage } from 'node:async_hooks'
import { createActor, fromCallback, fromPromise, waitFor, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate'
import type { ActionType, Entity } from '../codecs/event-codec.ts'
import type { RecordBlocks } from '../codecs/record.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { dispatcherMachine, type DispatcherJob, type Outcome } from '../machines/dispatcher.machine.ts'
import { listenerMachine, type PageRead } from '../machines/listener.machine.ts'
import { reducerMachine, type ReducerJob } from '../machines/reducer.machine.ts'
import { threadMachine } from '../machines/thread.machine.ts'
import { transactionMachine, type TransactionKind } from '../machines/transaction.machine.ts'
import { NestedWriteError, TransactionClosedError } from '../storage/errors.ts'
import type { Change, Committed, StoreEngine } from '../storage/store-engine.ts'
import type { Storage } from '../storage/storage.ts'

/**
 * The living side of one thread: the thread machine with its effects provided against storage. Everything
 * else in the API goes through here, as events to the thread's actors.
 */

/** One change to one entity, as listeners receive it. */
export interface StoreChange {
  readonly collection: string
  readonly action: ActionType
  readonly id: string
  /** The entity after the change; absent after a delete. */
  readonly entity?: Entity
  /** Position of the event in this peer's arrival order. */
  readonly position: number
}

export interface ListenFilter {
  collection?: string
  /** One entity, or several. */
  id?: string | readonly string[]
  actions?: readonly ActionType[]
}

export type ChangeCallback = (change: StoreChange) => void | Promise<void>

export interface ThreadRuntimeInit {
  storage: Storage
  engine: StoreEngine
  threadId: ThreadId
  /** Our own log in the thread, which local commits append to. */
  logId: string
  snapshotEvery: number
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

/** The handle a transaction body writes through; the runtime turns its writes into `collect` events. */
export type TransactionBody<T> = (collect: (changes: Change[]) => void) => Promise<T>

export interface ThreadRuntime {
  readonly threadId: ThreadId
  commit (changes: Change[]): Promise<Committed>
  ingest (logId: string, blocks: RecordBlocks): Promise<Committed>
  transaction<T> (kind: TransactionKind, body: TransactionBody<T>): Promise<T>
  listen (filter: ListenFilter, callback: ChangeCallback): () => void
  run (job: ReducerJob): Promise<number>
  stop (): void
}

const PAGE = 256

function matches (filter: ListenFilter, change: StoreChange): boolean {
  if (filter.collection !== undefined && filter.collection !== change.collection) return false
  if (filter.actions !== undefined && !filter.actions.includes(change.action)) return false
  if (typeof filter.id === 'string') return filter.id === change.id
  if (filter.id !== undefined) return filter.id.includes(change.id)
  return true
}

/** The thread whose write-transaction body is running in the current async context, if any. */
const insideWriteTransaction = new AsyncLocalStorage<AnyActorRef>()

export function startThread (init: ThreadRuntimeInit): ThreadRuntime {
  const { storage, engine, threadId, logId } = init
  const bodies = new Map<string, TransactionBody<unknown>>()
  const results = new Map<string, unknown>()
  const listeners = new Map<string, { filter: ListenFilter, callback: ChangeCallback }>()
  let nextId = 0

  const persister = fromCallback<{ type: 'persist', job: DispatcherJob<unknown, unknown> }>(({ sendBack, receive }) => {
    receive(({ job }) => {
      storage.transaction(() => job.kind === 'commit'
        ? engine.commitWithin(threadId, logId, job.changes as Change[])
        : engine.ingestWithin(threadId, job.logId, job.blocks)
      ).then(
        result => sendBack({ type: 'persisted', job, result, position: result.events.at(-1)?.position ?? 0 }),
        (error: unknown) => {
          engine.invalidate()
          sendBack({ type: 'persist failed', job, error })
        }
      )
    })
  })

  const runBody = fromPromise<void, { self: AnyActorRef }>(async ({ input }) => {
    const body = bodies.get(input.self.id)!
    const collect = (changes: Change[]): void => {
      if (input.self.getSnapshot().value !== 'running') throw new TransactionClosedError('the transaction has ended')
      input.self.send({ type: 'collect', changes })
    }
    const run = (): Promise<unknown> => body(collect)
    const kind = (input.self.getSnapshot().context as { kind: TransactionKind }).kind
    results.set(input.self.id, await (kind === 'write' ? insideWriteTransaction.run(actor, run) : run()))
  })

  const commitChanges = fromPromise<unknown, { dispatcher: AnyActorRef, changes: unknown[], holder: AnyActorRef }>(({ input }) =>
    new Promise((resolve, reject) => {
      input.dispatcher.send({
        type: 'commit',
        changes: input.changes,
        holder: input.holder,
        reply: (outcome: Outcome<Committed>) => { outcome.ok ? resolve(outcome.result) : reject(outcome.error) }
      })
    }))

  const readPage = fromPromise<PageRead, { cursor: number }>(async ({ input, self }) => {
    const listener = listeners.get(self._parent!.id)
    const events = engine.eventsAfter(threadId, input.cursor, PAGE)
    const changes: StoreChange[] = []
    for (const { position, event, entity } of events) {
      if (event.type === 'collection') continue
      const change: StoreChange = { collection: event.collection, action: event.type, id: event.id, entity, position }
      if (listener !== undefined && matches(listener.filter, change)) changes.push(change)
    }
    return { changes, position: events.at(-1)?.position ?? input.cursor }
  })

  const deliverPage = fromPromise<void, { changes: unknown[] }>(async ({ input, self }) => {
    for (const change of input.changes as StoreChange[]) {
      // Looked up for every change: a listener stopped in the middle of a page gets nothing more.
      const listener = listeners.get(self._parent!.id)
      if (listener === undefined) return
      await listener.callback(change)
    }
  })

  /** The position every listener has read up to; a compaction keeps everything after it. */
  const slowestCursor = (): number => {
    let slowest = Number.MAX_SAFE_INTEGER
    for (const [id, child] of Object.entries(actor.getSnapshot().children)) {
      if (id.startsWith('listener:')) slowest = Math.min(slowest, (child as AnyActorRef).getSnapshot().context.cursor as number)
    }
    return slowest
  }

  const runJob = fromPromise<number, { job: ReducerJob }>(async ({ input }) => {
    switch (input.job) {
      case 'snapshot': return await engine.snapshot(threadId)
      case 'restore': return await engine.restore(threadId)
      case 'rebuild': return await engine.rebuild(threadId)
      case 'compact': return await engine.compact(threadId, slowestCursor())
    }
  })

  const machine = threadMachine.provide({
    actors: {
      dispatcher: dispatcherMachine.provide({ actors: { persister } }),
      reducer: reducerMachine.provide({ actors: { 'run job': runJob } }),
      listener: listenerMachine.provide({ actors: { 'read page': readPage, 'deliver page': deliverPage } }),
      transaction: transactionMachine.provide({ actors: { 'run body': runBody, 'commit changes': commitChanges } })
    }
  })
  const actor = createActor(machine, {
    id: `thread:${threadId.toString()}`,
    input: {
      threadId: threadId.toString(),
      position: engine.position(threadId),
      snapshotEvery: init.snapshotEvery,
      snapshotPosition: engine.snapshotPosition(threadId)
    },
    inspect: init.inspect
  })
  actor.start()

  const child = (id: string): AnyActorRef => actor.getSnapshot().children[id] as AnyActorRef

  const dispatch = <T extends Committed>(event: { type: 'commit', changes: Change[] } | { type: 'ingest', logId: string, blocks: RecordBlocks }): Promise<T> =>
    new Promise((resolve, reject) => {
      child('dispatcher').send({ ...event, reply: (outcome: Outcome<Committed>) => { outcome.ok ? resolve(outcome.result as T) : reject(outcome.error) } })
    })

  return {
    threadId,
    async commit (changes) {
      if (insideWriteTransaction.getStore() === actor) {
        throw new NestedWriteError('a write made from inside a write transaction\'s body, but not through it, would wait forever for the transaction to end: write through the transaction')
      }
      return await dispatch({ type: 'commit', changes })
    },
    ingest: (fromLog, blocks) => dispatch({ type: 'ingest', logId: fromLog, blocks }),

    async transaction (kind, body) {
      if (kind === 'write' && insideWriteTransaction.getStore() === actor) {
        throw new NestedWriteError('a write transaction started inside another one\'s body would wait forever for it to end')
      }
      const id = `transaction:${++nextId}`
      bodies.set(id, body as TransactionBody<unknown>)
      try {
        actor.send({ type: 'begin transaction', id, kind })
        // Sent from inside another transaction's body, the event waits until the thread finishes its current step.
        await waitFor(actor, snapshot => snapshot.children[id] !== undefined, { timeout: Infinity })
        const transaction = child(id)
        const done = await waitFor(transaction, snapshot => snapshot.status === 'done', { timeout: Infinity })
        if (done.value === 'aborted') throw done.context.error
        return results.get(id) as Awaited<ReturnType<typeof body>>
      } finally {
        bodies.delete(id)
        results.delete(id)
      }
    },

    listen (filter, callback) {
      const id = `listener:${++nextId}`
      listeners.set(id, { filter, callback })
      actor.send({ type: 'listen', id, cursor: engine.position(threadId) })
      return () => {
        listeners.delete(id)
        actor.send({ type: 'unlisten', id })
      }
    },

    run: job => new Promise((resolve, reject) => {
      child('reducer').send({ type: 'request', request: { job, reply: (outcome: { ok: true, result: number } | { ok: false, error: unknown }) => { outcome.ok ? resolve(outcome.result) : reject(outcome.error) } } })
    }),

    stop () {
      actor.stop()
    }
  }
}
