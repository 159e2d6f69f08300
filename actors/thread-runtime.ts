import { AsyncLocalStorage } from 'node:async_hooks'
import { createActor, fromCallback, fromPromise, waitFor, type ActorSystem, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate'
import type { ActionType, Entity } from '../codecs/event-codec.ts'
import type { RecordBlocks } from '../codecs/record.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { dispatcherMachine, type DispatcherEvent, type DispatcherJob, type Outcome, type SettledJob } from '../machines/dispatcher.machine.ts'
import { listenerMachine, type PageEvent, type PageRead, type PagesCommand } from '../machines/listener.machine.ts'
import { logSyncMachine, type LogSyncEvent, type PullStep, type PushOutcome } from '../machines/log-sync.machine.ts'
import { reducerMachine, type ReducerJob } from '../machines/reducer.machine.ts'
import { systemIdOf, threadMachine } from '../machines/thread.machine.ts'
import { LONGEST_TIME_LIMIT, transactionMachine, type TransactionKind } from '../machines/transaction.machine.ts'
import {
  EventsMissingError, InvalidArgumentError, NestedWriteError, ReadOnlyStoreError, ReplayedRecordError, StorageClosedError, TransactionClosedError,
  TransactionTimeoutError
} from '../storage/errors.ts'
import type { Change, Committed, StoreEngine } from '../storage/store-engine.ts'
import type { CheckedRecord, LogStore } from '../storage/log-store.ts'
import { named, type CollectionDefinition } from '../storage/view-store.ts'
import { settle, settleEach, type Settled } from '../storage/settled.ts'
import type { Storage } from '../storage/storage.ts'
import { createTurns } from '../storage/turns.ts'

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
  logs: LogStore
  engine: StoreEngine
  threadId: ThreadId
  /** Our own log in the thread, which local commits append to; none for a reader, which cannot write. */
  logId?: string
  snapshotEvery: number
  /** How long a transaction's body may run, in milliseconds, unless the transaction says otherwise. */
  transactionTimeout: number
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** The network moves each log's sync actor is made of; without them the thread syncs with no one. */
  sync?: LogSyncEffects
  /** Hears what each committed or ingested record's control events did (Joins, grants, refusals). */
  onAccess?: (outcomes: Committed['access']) => void
}

export interface LogSyncEffects {
  /**
   * Publishes consecutive records of our own log on the thread's gossip topic; a batch too large for one message, or
   * with no one on the topic, is left to the direct push and to pulls.
   */
  gossip (logId: string, records: readonly RecordBlocks[]): void
  /**
   * Sends consecutive records of our own log directly to the thread's peers, or to those of `to` (peer IDs) only;
   * says which it could not reach, and fails when it reached none.
   */
  push (logId: string, records: readonly RecordBlocks[], to?: readonly string[]): Promise<PushOutcome>
  /** Fetches what the peers holding `logId` have beyond what we hold, telling `progress` each step. */
  pull (logId: string, progress: (step: PullStep) => void): Promise<number>
  /** Fetches what the peers with these IDs hold of the thread beyond what we hold; returns how many records came. */
  pullFrom (peers: readonly string[]): Promise<number>
  /** Whether a peer other than this one is known to hold `logId`: a log no one else holds has nothing to pull. */
  heldElsewhere (logId: string): boolean
  pollMs: number
  pushDelayMs: number
  backoffMs: number
  maxBackoffMs: number
  maxAttempts: number
}

/**
 * A transaction's body: it writes through `collect`, which the runtime turns into `collect` events, and asks
 * `assertRunning` before a read of its own; both refuse once the transaction machine has left `running`. `ended`
 * aborts once the transaction has ended, however it ended: a body left behind by its time limit lets go of what it
 * holds (a pinned state) then.
 */
export type TransactionBody<T> = (collect: (changes: Change[]) => void, assertRunning: () => void, ended: AbortSignal) => Promise<T>

export interface TransactionOptions {
  /**
   * How long the body may run, in milliseconds (at most 2,147,483,647, about 24.8 days), counted from when a write
   * transaction holds the lock, a read transaction from its start; `Infinity` for no limit. The runtime's
   * `transactionTimeout` unless given. A read transaction inside a write transaction's body is part of that one, and
   * runs under its limit instead.
   */
  timeout?: number
}

/**
 * Throws `InvalidArgumentError` unless `timeout` is a time limit: a positive number of milliseconds a timer can wait
 * (at most 2,147,483,647, about 24.8 days), or `Infinity`.
 */
export function assertTimeout (timeout: unknown): asserts timeout is number {
  if (typeof timeout !== 'number' || !(timeout > 0) || (timeout > LONGEST_TIME_LIMIT && timeout !== Infinity)) {
    throw new InvalidArgumentError(`a transaction timeout is a positive number of milliseconds up to ${LONGEST_TIME_LIMIT}, or Infinity, not ${String(timeout)}`)
  }
}

/** Called when a listener's callback throws (or its events went missing); the listener has stopped. */
export type ListenerErrorCallback = (error: unknown) => void

export interface ThreadRuntime {
  readonly threadId: ThreadId
  /** Our own log in the thread; undefined for a reader. */
  readonly logId: string | undefined
  /** True once the thread's store is closed (or the thread deleted). */
  readonly closed: boolean
  /** Throws `StorageClosedError` once the thread's store is closed (or the thread deleted). */
  assertOpen (): void
  commit (changes: Change[]): Promise<Committed | undefined>
  ingest (logId: string, blocks: RecordBlocks): Promise<Committed>
  /**
   * Runs `body` as a transaction of this kind; rejects with `TransactionTimeoutError`, nothing committed, when the
   * body is still running at its time limit.
   */
  transaction<T> (kind: TransactionKind, body: TransactionBody<T>, options?: TransactionOptions): Promise<T>
  listen (filter: ListenFilter, callback: ChangeCallback, onError?: ListenerErrorCallback): () => void
  run (job: ReducerJob): Promise<number>
  /**
   * Makes sure every other log a peer is known to hold has a sync actor (our own log gets its actor with its first
   * commit); with `catchUp`, asks every sync actor to catch up now.
   */
  syncLogs (catchUp?: boolean): void
  /** Asks one log's sync actor to catch up now, starting it first if the log is another's. */
  syncLog (logId: string): void
  /**
   * Tells the log's sync actor that peer `from` sent a record of it ahead of its ancestors, so it fetches them;
   * false when this thread does not sync.
   */
  fetchMissingAncestors (logId: string, from: string): boolean
  /**
   * Pushes what our own log's sync actor still holds back, and waits (up to `graceMs`) until that push has ended, well
   * or not: a store about to close would otherwise leave its last commits to the other peers' pulls.
   */
  pushHeld (graceMs?: number): Promise<void>
  /**
   * Lets jobs already handed to storage finish (up to `graceMs`), stops the thread's actors, and rejects whatever
   * still waits with `StorageClosedError`. Every later call is refused the same way.
   */
  close (graceMs?: number): Promise<void>
}

const PAGE = 256
/** The most records of one log handed to the dispatcher, and so to one storage transaction, at once. */
const MAX_INGEST_BATCH = 1000
const CLOSE_GRACE_MS = 10_000
/** How long closing waits for the last push: long enough for a peer that answers, short for one that does not. */
const CLOSE_PUSH_GRACE_MS = 2_000

function matches (filter: ListenFilter, change: StoreChange): boolean {
  if (filter.collection !== undefined && filter.collection !== change.collection) return false
  if (filter.actions !== undefined && !filter.actions.includes(change.action)) return false
  if (typeof filter.id === 'string') return filter.id === change.id
  if (filter.id !== undefined) return filter.id.includes(change.id)
  return true
}

/** The jobs settled in one turn of the event loop, on their way back together. */
interface SettlingTurn {
  readonly settled: Array<SettledJob<unknown, unknown, unknown>>
  position: number
  readonly records: RecordBlocks[]
}

/** The write transaction whose body is running in the current async context, and its thread. */
const insideWriteTransaction = new AsyncLocalStorage<{ thread: AnyActorRef, transaction: AnyActorRef, ended: AbortSignal }>()

/**
 * What the actors of one thread do, against that thread's storage and callers. The thread machine is provided
 * once, for every thread: its actors find their thread's effects through the actor system they run in (one per
 * thread), since a machine provided per thread would rebuild every state node of six machines for each thread.
 */
interface ThreadEffects {
  /** Runs a dispatcher job as one storage transaction; the jobs settled in one turn go back as one `persisted`. */
  persist (job: DispatcherJob<unknown, unknown, unknown>, sendBack: (event: DispatcherEvent<unknown, unknown, unknown>) => void): void
  /** Runs an interactive transaction's body, keeping what it returns. */
  runBody (transaction: AnyActorRef): Promise<void>
  /** The next page of a listener's changes after `cursor`. */
  readPage (listener: string, cursor: number, known: number): PageRead
  /** Hands a page of changes to a listener's callback, one at a time. */
  deliverPage (listener: string, changes: readonly StoreChange[]): Promise<void>
  /** Runs one of the reducer's long jobs. */
  runJob (job: ReducerJob): Promise<number>
  gossip (logId: string, records: readonly RecordBlocks[]): void
  push (logId: string, records: readonly RecordBlocks[], to?: readonly string[]): Promise<PushOutcome>
  pull (logId: string, progress: (step: PullStep) => void): Promise<number>
  pullFrom (peers: readonly string[]): Promise<number>
}

const threadEffects = new WeakMap<ActorSystem<any>, ThreadEffects>()
const effectsOf = (system: ActorSystem<any>): ThreadEffects => threadEffects.get(system)!

const persister = fromCallback<{ type: 'persist', job: DispatcherJob<unknown, unknown, unknown> }>(({ sendBack, receive, system }) => {
  const effects = effectsOf(system)
  receive(({ job }) => { effects.persist(job, sendBack) })
})

const runBody = fromPromise<void, { self: AnyActorRef }>(async ({ input, system }) => { await effectsOf(system).runBody(input.self) })

const commitChanges = fromPromise<unknown, { dispatcher: AnyActorRef, changes: unknown[], holder: AnyActorRef }>(({ input }) =>
  new Promise((resolve, reject) => {
    input.dispatcher.send({
      type: 'commit',
      changes: input.changes,
      holder: input.holder,
      reply: (outcome: Outcome<Committed>) => { outcome.ok ? resolve(outcome.result) : reject(outcome.error) }
    })
  }))

const pages = fromCallback<PagesCommand, undefined, PageEvent>(({ receive, sendBack, self, system }) => {
  const listener = self._parent!.id
  // Once the listener stops, a delivery still on its way reports to no one.
  let listening = true
  receive(command => {
    if (command.type === 'read') {
      let page: PageRead
      try {
        page = effectsOf(system).readPage(listener, command.cursor, command.known)
      } catch (error) {
        sendBack({ type: 'read failed', error })
        return
      }
      sendBack({ type: 'page read', page })
      return
    }
    effectsOf(system).deliverPage(listener, command.changes as StoreChange[]).then(
      () => { if (listening) sendBack({ type: 'page delivered' }) },
      (error: unknown) => { if (listening) sendBack({ type: 'delivery failed', error }) })
  })
  return () => { listening = false }
})

const runJob = fromPromise<number, { job: ReducerJob }>(async ({ input, system }) => await effectsOf(system).runJob(input.job))

const syncedLog = (logSync: AnyActorRef): string => logSync.id.slice('log:'.length, -'/sync'.length)
const logOf = (self: AnyActorRef): string => syncedLog(self._parent!)
const gossipRecords = ({ self, system }: { self: AnyActorRef, system: ActorSystem<any> }, { records }: { records: unknown[] }): void => {
  if (records.length > 0) effectsOf(system).gossip(syncedLog(self), records as RecordBlocks[])
}
const pushRecords = fromPromise<PushOutcome, { records: unknown[], to?: string[] }>(async ({ input, self, system }) =>
  await effectsOf(system).push(logOf(self), input.records as RecordBlocks[], input.to))
const pullRecords = fromCallback<LogSyncEvent, undefined>(({ sendBack, self, system }) => {
  // Once the actor stops (the store closes, the log stops syncing), what the pull still reports goes nowhere.
  let listening = true
  const report = (event: LogSyncEvent): void => { if (listening) sendBack(event) }
  void effectsOf(system).pull(logOf(self), step => { report({ type: step }) }).then(
    count => { report({ type: 'pulled', count }) },
    (error: unknown) => { report({ type: 'pull failed', error }) })
  return () => { listening = false }
})

const fetchMissingAncestors = fromPromise<number, { from: string[] }>(async ({ input, system }) => await effectsOf(system).pullFrom(input.from))

const threadActors = threadMachine.provide({
  actors: {
    logSync: logSyncMachine.provide({ actions: { 'gossip records': gossipRecords }, actors: { 'push records': pushRecords, 'pull records': pullRecords, 'fetch missing ancestors': fetchMissingAncestors } }),
    dispatcher: dispatcherMachine.provide({ actors: { persister } }),
    reducer: reducerMachine.provide({ actors: { 'run job': runJob } }),
    listener: listenerMachine.provide({ actors: { pages } }),
    transaction: transactionMachine.provide({ actors: { 'run body': runBody, 'commit changes': commitChanges } })
  }
})

export function startThread (init: ThreadRuntimeInit): ThreadRuntime {
  const { storage, engine, threadId, logId } = init
  const bodies = new Map<string, { body: TransactionBody<unknown>, ended: AbortSignal }>()
  const results = new Map<string, unknown>()
  const listeners = new Map<string, { filter: ListenFilter, callback: ChangeCallback }>()
  // Everything a caller still awaits, so closing can answer it.
  const waiting = new Set<(error: Error) => void>()
  let closed = false
  let nextId = 0
  // xstate keeps what it works out for each kind of event a machine meets for as long as the machine lives, and a
  // child's end is an event named after the child: a fresh ID for every transaction and listener would grow that
  // without bound. An ID is handed out again once its child is gone.
  const freeIds: string[] = []
  const takeId = (kind: 'transaction' | 'listener'): string => {
    const children = actor.getSnapshot().children
    const index = freeIds.findIndex(id => id.startsWith(`${kind}:`) && children[id] === undefined)
    return index === -1 ? `${kind}:${++nextId}` : freeIds.splice(index, 1)[0]!
  }

  const assertOpen = (): void => {
    if (closed) throw new StorageClosedError(`the store of thread ${threadId.toString()} is closed`)
  }

  const ownLog = (): string => {
    if (logId === undefined) throw new ReadOnlyStoreError(`this peer reads thread ${threadId.toString()} and has no log to write to`)
    return logId
  }

  /** The write transaction of this thread running its body (and so holding the lock) in this async context, if one is. */
  const ownWriteTransaction = (): { ended: AbortSignal } | undefined => {
    const inside = insideWriteTransaction.getStore()
    return inside !== undefined && inside.thread === actor && inside.transaction.getSnapshot().value === 'running' ? inside : undefined
  }

  // Storage commits many jobs at once and settles them in one turn: they go back to the dispatcher as one event, and
  // the records of ours among them to our log's sync actor as one.
  let settling: SettlingTurn | undefined

  /** Reports how a job ended, with what it committed: its access outcomes now, the rest with the jobs of its turn. */
  const settled = (job: DispatcherJob<unknown, unknown, unknown>, outcome: Outcome<unknown>, committed: readonly Committed[], sendBack: (event: DispatcherEvent<unknown, unknown, unknown>) => void): void => {
    const access = committed.flatMap(one => one.access)
    if (access.length > 0) init.onAccess?.(access)
    let turn = settling
    if (turn === undefined) {
      const opened: SettlingTurn = { settled: [], position: 0, records: [] }
      turn = settling = opened
      queueMicrotask(() => {
        settling = undefined
        // The writers hear first; the gossip that follows goes out before this turn ends.
        sendBack({ type: 'persisted', settled: opened.settled, position: opened.position })
        if (opened.records.length > 0) logSync(ownLog())?.send({ type: 'committed', records: opened.records })
      })
    }
    turn.settled.push({ job, outcome })
    for (const one of committed) turn.position = Math.max(turn.position, one.events.at(-1)?.position ?? 0)
    if (job.kind === 'commit') turn.records.push(...committed.map(one => one.record.blocks))
  }

  const effects: ThreadEffects = {
    persist (job, sendBack) {
      const failed = (error: unknown): void => {
        engine.invalidate()
        settled(job, { ok: false, error }, [], sendBack)
      }
      if (job.kind === 'commit') {
        storage.transaction(() => engine.commitWithin(threadId, ownLog(), job.changes as Change[])).then(
          result => { settled(job, { ok: true, result }, result === undefined ? [] : [result], sendBack) },
          failed)
        return
      }
      // One transaction for a batch of a log's records, each in a child of its own: one refused takes no other with it.
      storage.transaction(() => settleEach(storage, job.record as CheckedRecord[], checked => engine.ingestWithin(checked))).then(
        outcomes => { settled(job, { ok: true, result: outcomes }, outcomes.flatMap(outcome => outcome.ok ? [outcome.result] : []), sendBack) },
        failed)
    },

    async runBody (transaction) {
      const running = bodies.get(transaction.id)!
      const assertRunning = (): void => {
        if (transaction.getSnapshot().value !== 'running') throw new TransactionClosedError('the transaction has ended')
      }
      const collect = (changes: Change[]): void => {
        assertRunning()
        transaction.send({ type: 'collect', changes })
      }
      const kind = (transaction.getSnapshot().context as { kind: TransactionKind }).kind
      const run = (): Promise<unknown> => running.body(collect, assertRunning, running.ended)
      const result = await (kind === 'write' ? insideWriteTransaction.run({ thread: actor, transaction, ended: running.ended }, run) : run())
      // A body that outran its time limit returns to a transaction that has ended, and its ID may name another by now.
      if (bodies.get(transaction.id) === running) results.set(transaction.id, result)
    },

    readPage (id, cursor, known) {
      const listener = listeners.get(id)
      const events = engine.eventsAfter(threadId, cursor, PAGE)
      if (events.length === 0 && cursor < known) {
        throw new EventsMissingError(`events ${cursor + 1}–${known} of thread ${threadId.toString()} are gone from the arrival index`)
      }
      const changes: StoreChange[] = []
      const definitions = new Map<string, CollectionDefinition | undefined>()
      const definitionOf = (collection: string): CollectionDefinition | undefined => {
        if (!definitions.has(collection)) definitions.set(collection, engine.definition(threadId, collection))
        return definitions.get(collection)
      }
      for (const { position, event, entity } of events) {
        if (event.type === 'collection') continue
        const change: StoreChange = {
          collection: event.collection,
          action: event.type,
          id: event.id,
          entity: entity === undefined ? undefined : named(definitionOf(event.collection), event.id, entity),
          position
        }
        if (listener !== undefined && matches(listener.filter, change)) changes.push(change)
      }
      return { changes, position: events.at(-1)?.position ?? cursor }
    },

    async deliverPage (id, changes) {
      const listener = listeners.get(id)
      for (const change of changes) {
        // Checked for every change: a listener stopped in the middle of a page (the store closing stops them all)
        // gets nothing more, nor does a later listener given its ID.
        if (listener === undefined || listeners.get(id) !== listener) return
        await listener.callback(change)
      }
    },

    async runJob (job) {
      switch (job) {
        case 'snapshot': return await engine.snapshot(threadId)
        case 'restore': return await engine.restore(threadId)
        case 'rebuild': return await engine.rebuild(threadId)
        case 'compact': return await engine.compact(threadId, slowestCursor())
      }
    },

    gossip (log, records) {
      init.sync?.gossip(log, records)
    },

    async push (log, records, to) {
      return await init.sync?.push(log, records, to) ?? { unreached: [] }
    },

    async pull (log, progress) {
      return await (init.sync?.pull(log, progress) ?? 0)
    },

    async pullFrom (peers) {
      return await (init.sync?.pullFrom(peers) ?? 0)
    }
  }

  /** The position every running listener has read up to; a compaction keeps everything after it. */
  const slowestCursor = (): number => {
    let slowest = Number.MAX_SAFE_INTEGER
    for (const [id, child] of Object.entries(actor.getSnapshot().children)) {
      const listener = (child as AnyActorRef).getSnapshot()
      if (id.startsWith('listener:') && listener.status === 'active') slowest = Math.min(slowest, listener.context.cursor as number)
    }
    return slowest
  }

  /**
   * The log's sync actor, started now if it has none (unless the store is closing): a log gets one only once it has
   * something to sync (a commit to push, a peer to pull from), so a peer holding many quiet threads runs no actor and
   * no timer for them.
   */
  const logSync = (log: string): AnyActorRef | undefined => {
    const id = `log:${log}/sync`
    if (!closed && init.sync !== undefined && actor.getSnapshot().children[id] === undefined) {
      const { pollMs, pushDelayMs, backoffMs, maxBackoffMs, maxAttempts } = init.sync
      actor.send({ type: 'sync log', logId: log, role: log === logId ? 'own' : 'remote', pollMs, pushDelayMs, backoffMs, maxBackoffMs, maxAttempts })
    }
    return actor.getSnapshot().children[id] as AnyActorRef | undefined
  }

  const actor = createActor(threadActors, {
    id: systemIdOf(threadId.toString()),
    systemId: systemIdOf(threadId.toString()),
    input: {
      threadId: threadId.toString(),
      position: engine.position(threadId),
      snapshotEvery: init.snapshotEvery,
      snapshotPosition: engine.snapshotPosition(threadId)
    },
    inspect: init.inspect
  })
  threadEffects.set(actor.system, effects)
  actor.start()

  const child = (id: string): AnyActorRef => actor.getSnapshot().children[id] as AnyActorRef

  /** A promise for a reply, answered by `reply` or, if the thread closes first, with `StorageClosedError`. */
  const awaitReply = <T>(send: (reply: (outcome: Outcome<T>) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.add(reject)
      send(outcome => {
        waiting.delete(reject)
        outcome.ok ? resolve(outcome.result) : reject(outcome.error)
      })
    })

  const dispatch = async <T>(event: { type: 'commit', changes: Change[] } | { type: 'ingest', logId: string, record: CheckedRecord[] }): Promise<T> => {
    // Work that waited its turn (a check, an earlier batch) can find the thread closed when the turn comes.
    assertOpen()
    return await awaitReply<T>(reply => { child('dispatcher').send({ ...event, reply }) })
  }

  // A log ID embeds its public key: a record of a log not yet known here brings the log with it, once, if it proves it.
  const learning = new Map<string, Promise<void>>()
  const knowLog = async (fromLog: string, blocks: RecordBlocks): Promise<void> => {
    if (init.logs.hasLog(threadId, fromLog)) return
    let learnt = learning.get(fromLog)
    if (learnt === undefined) {
      learnt = init.logs.addLogOf(threadId, fromLog, blocks).then(() => { logSync(fromLog) }).finally(() => { learning.delete(fromLog) })
      learning.set(fromLog, learnt)
    }
    await learnt
  }

  interface Incoming {
    readonly checking: Promise<Settled<CheckedRecord>>
    readonly settle: (outcome: Settled<Committed>) => void
  }
  // Records of a log are checked side by side as they come, and handed to the dispatcher in the order they came, a
  // batch at a time: the records that come while the log's previous batch waits its turn join the next batch.
  const collecting = new Map<string, Incoming[]>()
  const handingOver = createTurns()
  // The same record often comes twice at once, pushed and gossiped: a copy waits for the one before it.
  const ingesting = new Map<string, { batch: Incoming[], taken: Promise<boolean> }>()

  const handOverBatch = async (fromLog: string, batch: Incoming[]): Promise<void> => {
    const turn = handingOver.take(fromLog)
    let checks: Array<Settled<CheckedRecord>> = []
    let stored: Promise<Array<Settled<Committed>>> = Promise.resolve([])
    try {
      await turn.ready
      if (collecting.get(fromLog) === batch) collecting.delete(fromLog)
      checks = await Promise.all(batch.map(async incoming => await incoming.checking))
      const passed = checks.flatMap(check => check.ok ? [check.result] : [])
      if (passed.length > 0) stored = dispatch<Array<Settled<Committed>>>({ type: 'ingest', logId: fromLog, record: passed })
    } finally {
      turn.done()
    }
    const outcomes = await settle(stored)
    let next = 0
    checks.forEach((check, index) => {
      batch[index]!.settle(!check.ok ? check : outcomes.ok ? outcomes.result[next++]! : outcomes)
    })
  }

  /**
   * Takes the record's place in its log's order now, so nothing that comes after it can overtake it; it is checked
   * once its log is known (`learnt`).
   */
  const ingestInOrder = (fromLog: string, blocks: RecordBlocks, learnt: Promise<Settled<void>>): Promise<Committed> => new Promise((resolve, reject) => {
    let batch = collecting.get(fromLog)
    if (batch === undefined || batch.length >= MAX_INGEST_BATCH) {
      batch = []
      collecting.set(fromLog, batch)
      void handOverBatch(fromLog, batch)
    }
    const slot = `${fromLog} ${blocks.record.cid.toString()}`
    const first = ingesting.get(slot)
    // A copy in an earlier batch is waited for: taken in, it makes this one a replay; refused (its blocks failed their
    // checks), it must not stand in for this one, which may pass them. A copy in this same batch meets this one in
    // the log, which refuses the second as a replay.
    const check = async (): Promise<CheckedRecord> => {
      const known = await learnt
      if (!known.ok) throw known.error
      return await init.logs.check(threadId, fromLog, blocks)
    }
    const checking = first === undefined || first.batch === batch
      ? check()
      : first.taken.then(async taken => {
        if (taken) throw new ReplayedRecordError(`record ${blocks.record.cid.toString()} was taken in from another copy`)
        return await check()
      })
    let noteTaken!: (taken: boolean) => void
    const mine = { batch, taken: new Promise<boolean>(resolve => { noteTaken = resolve }) }
    ingesting.set(slot, mine)
    batch.push({
      checking: settle(checking),
      settle: outcome => {
        if (ingesting.get(slot) === mine) ingesting.delete(slot)
        noteTaken(outcome.ok)
        outcome.ok ? resolve(outcome.result) : reject(outcome.error)
      }
    })
  })

  return {
    threadId,
    logId,
    get closed () { return closed },
    assertOpen,

    async commit (changes) {
      assertOpen()
      ownLog()
      if (ownWriteTransaction() !== undefined) {
        throw new NestedWriteError('a write made from inside a write transaction\'s body, but not through it, would wait forever for the transaction to end: write through the transaction')
      }
      return await dispatch({ type: 'commit', changes })
    },

    async ingest (fromLog, blocks) {
      assertOpen()
      // Its place is taken before its log is known: a record that comes while the log is being learnt from an earlier
      // one must not overtake that one once the log is known.
      return await ingestInOrder(fromLog, blocks, settle(knowLog(fromLog, blocks)))
    },

    async transaction (kind, body, options = {}) {
      assertOpen()
      const timeout = options.timeout ?? init.transactionTimeout
      assertTimeout(timeout)
      const ended = new AbortController()
      const outer = ownWriteTransaction()
      if (outer !== undefined) {
        if (kind === 'write') throw new NestedWriteError('a write transaction started inside another one\'s body would wait forever for it to end')
        // A read inside a write transaction's body already sees the state the lock keeps still: it is part of that
        // transaction, and ends with it at the latest, under its time limit rather than one of its own.
        try {
          return await body(() => { throw new TransactionClosedError('a read transaction cannot write') }, () => {}, AbortSignal.any([outer.ended, ended.signal]))
        } finally {
          ended.abort()
        }
      }
      const id = takeId('transaction')
      bodies.set(id, { body: body as TransactionBody<unknown>, ended: ended.signal })
      let rejectOnClose: ((error: Error) => void) | undefined
      try {
        actor.send({ type: 'begin transaction', id, kind, timeout })
        // Sent from inside another transaction's body, the event waits until the thread finishes its current step.
        await waitFor(actor, snapshot => snapshot.children[id] !== undefined, { timeout: Infinity })
        const closing = new Promise<never>((_resolve, reject) => { rejectOnClose = reject })
        waiting.add(rejectOnClose!)
        const done = await Promise.race([waitFor(child(id), snapshot => snapshot.status === 'done', { timeout: Infinity }), closing])
          .catch((error: unknown) => {
            if (closed) throw new StorageClosedError(`the store of thread ${threadId.toString()} closed before this transaction ended`)
            throw error
          })
        if (done.value === 'aborted') throw done.context.error
        if (done.value === 'timed out') {
          throw new TransactionTimeoutError(kind === 'write'
            ? `the write transaction's body ran past its ${timeout} ms limit; nothing it wrote was committed`
            : `the read transaction's body ran past its ${timeout} ms limit; the state it read was let go`)
        }
        return results.get(id) as Awaited<ReturnType<typeof body>>
      } finally {
        ended.abort()
        if (rejectOnClose !== undefined) waiting.delete(rejectOnClose)
        bodies.delete(id)
        results.delete(id)
        if (!closed) {
          actor.send({ type: 'end transaction', id })
          freeIds.push(id)
        }
      }
    },

    listen (filter, callback, onError) {
      assertOpen()
      const id = takeId('listener')
      listeners.set(id, { filter, callback })
      actor.send({ type: 'listen', id, cursor: engine.position(threadId) })
      const stop = (): void => {
        if (!listeners.delete(id) || closed) return
        actor.send({ type: 'unlisten', id })
        freeIds.push(id)
      }
      const watch = (listener: AnyActorRef): void => {
        const watching = listener.subscribe({
          complete: () => {
            watching.unsubscribe()
            const { value, context } = listener.getSnapshot() as { value: string, context: { error: unknown } }
            if (value !== 'failed') return
            stop()
            if (onError !== undefined) onError(context.error)
            else process.emitWarning(context.error instanceof Error ? context.error : new Error(String(context.error)), 'ListenerStopped')
          }
        })
      }
      const spawned = actor.getSnapshot().children[id] as AnyActorRef | undefined
      // Asked for from inside a transaction's body, the listener starts once the thread finishes its current step.
      if (spawned !== undefined) watch(spawned)
      else void waitFor(actor, snapshot => snapshot.children[id] !== undefined, { timeout: Infinity }).then(snapshot => { watch(snapshot.children[id] as AnyActorRef) }, () => {})
      return stop
    },

    syncLogs (catchUp = true) {
      if (closed || init.sync === undefined) return
      for (const log of init.logs.keys.logs(threadId)) {
        if (log !== logId && init.sync.heldElsewhere(log)) logSync(log)
      }
      if (catchUp) actor.send({ type: 'sync all' })
    },

    syncLog (log) {
      if (closed) return
      const sync = log === logId ? actor.getSnapshot().children[`log:${log}/sync`] as AnyActorRef | undefined : logSync(log)
      sync?.send({ type: 'sync' })
    },

    fetchMissingAncestors (log, from) {
      if (closed || init.sync === undefined) return false
      logSync(log)!.send({ type: 'ancestors missing', from })
      return true
    },

    async run (job) {
      assertOpen()
      return await awaitReply<number>(reply => { child('reducer').send({ type: 'request', request: { job, reply } }) })
    },

    async pushHeld (graceMs = CLOSE_PUSH_GRACE_MS) {
      if (closed || logId === undefined) return
      const until = Date.now() + graceMs
      // Commits still in storage's hands join the push once they land.
      await waitFor(child('dispatcher'), snapshot => snapshot.context.inFlight === 0, { timeout: graceMs }).catch(() => {})
      const sync = actor.getSnapshot().children[`log:${logId}/sync`] as AnyActorRef | undefined
      if (closed || sync === undefined) return
      sync.send({ type: 'push now' })
      const left = until - Date.now()
      if (left > 0) await waitFor(sync, snapshot => snapshot.value !== 'holding' && snapshot.value !== 'pushing', { timeout: left }).catch(() => {})
    },

    async close (graceMs = CLOSE_GRACE_MS) {
      if (closed) return
      closed = true
      await waitFor(child('dispatcher'), snapshot => snapshot.context.inFlight === 0, { timeout: graceMs }).catch(() => {})
      listeners.clear()
      actor.stop()
      const error = new StorageClosedError(`the store of thread ${threadId.toString()} closed before this finished`)
      for (const reject of waiting) reject(error)
      waiting.clear()
    }
  }
}
