import { assign, fromCallback, fromPromise, not, setup } from 'xstate'

/**
 * One log of one thread, kept in sync. Our own log pushes: every commit is gossiped at once (or, while a direct push
 * is on its way, with the others committed meanwhile when it ends) and adds its record to `outgoing`; after a short
 * hold the machine sends what has queued to the thread's peers directly, a batch at a time, in log order. Someone
 * else's log pulls: when a peer connects, when an edge differs, and on a slow timer; and when a record pushed or
 * gossiped to us arrives ahead of its ancestors, it fetches them from the peer that sent it. A failed push or pull
 * backs off (doubling, with jitter) and tries again; after `maxAttempts` failures in a row the machine rests in
 * `failed`, with the reason, until something asks it to sync again. A push that reached some peers but not others
 * is progress: the next batch goes out at once, and the latest batch those peers missed is owed to them, sent again
 * to them alone while the log is quiet (backing off likewise) until they take it or the attempts run out; a peer
 * that takes it fetches whatever else it lacks as its ancestors.
 */

export type LogRole = 'own' | 'remote'

/** How a push that reached at least one peer ended: the peers (IDs) it could not reach, none when every one took it. */
export interface PushOutcome {
  unreached: string[]
}

export interface LogSyncInput {
  role: LogRole
  /** Milliseconds between pulls of a quiet remote log. */
  pollMs: number
  /** Milliseconds a commit's direct push waits after its gossip, gathering the commits that come meanwhile. */
  pushDelayMs: number
  /** First backoff; each failure in a row doubles it, up to `maxBackoffMs`. */
  backoffMs: number
  maxBackoffMs: number
  maxAttempts: number
}

export interface LogSyncContext extends LogSyncInput {
  /** Records of our own log not yet pushed, oldest first (opaque here). */
  outgoing: unknown[]
  /** The batch being pushed; kept through failures, so a retry resends exactly it. */
  sending: unknown[]
  /** The latest batch some peers missed when it was pushed, and those peers (IDs). */
  owed: unknown[]
  owedTo: string[]
  /** Attempts so far to hand the owed records over. */
  owedAttempts: number
  /** Records committed while a push was on its way, to gossip together when it ends. */
  ungossiped: unknown[]
  /** Peers that sent records of this log ahead of their ancestors, whom to fetch the ancestors from. */
  ahead: string[]
  /** The peers being fetched from now. */
  fetchingFrom: string[]
  /** Failures since the last success. */
  attempts: number
  error: unknown
}

/** How far a pull has come, as the pull reports it: edges differed, so the logs are listed; a page is asked for; a page is in hand. */
export type PullStep = 'listing logs' | 'fetching page' | 'handing page'

export type LogSyncEvent =
  | { type: 'committed', records: readonly unknown[] }
  | { type: 'sync' }
  /** The store is closing: what waits out the hold, a backoff or a rest in `failed` is pushed now, once. */
  | { type: 'push now' }
  /** `from` sent a record of this log whose ancestors are not held here. */
  | { type: 'ancestors missing', from: string }
  | { type: 'stop' }
  | { type: PullStep }
  /** The pull ended, having taken in `count` records. */
  | { type: 'pulled', count: number }
  | { type: 'pull failed', error: unknown }

export const logSyncMachine = setup({
  types: {
    context: {} as LogSyncContext,
    events: {} as LogSyncEvent,
    input: {} as LogSyncInput
  },
  actors: {
    /**
     * Sends a batch of our own log's records directly to the thread's peers, or to those of `to` only; says whom it
     * missed, and fails when it reached none.
     */
    'push records': fromPromise<PushOutcome, { records: unknown[], to?: string[] }>(async () => {
      throw new Error('pushing is provided by actors/')
    }),
    /** Pulls what the log's peers hold beyond what we hold, reporting each step, then `pulled` or `pull failed`. */
    'pull records': fromCallback<LogSyncEvent, undefined>(() => {
      throw new Error('pulling is provided by actors/')
    }),
    /** Pulls the thread from the peers that sent records ahead of their ancestors; resolves with how many came. */
    'fetch missing ancestors': fromPromise<number, { from: string[] }>(async () => {
      throw new Error('fetching is provided by actors/')
    })
  },
  delays: {
    'push delay': ({ context }) => context.pushDelayMs,
    poll: ({ context }) => context.pollMs * (0.75 + Math.random() / 2),
    backoff: ({ context }) => Math.min(context.maxBackoffMs, context.backoffMs * 2 ** (context.attempts - 1)) * (0.5 + Math.random() / 2),
    'repay delay': ({ context }) => Math.min(context.maxBackoffMs, context.backoffMs * 2 ** context.owedAttempts) * (0.5 + Math.random() / 2)
  },
  actions: {
    /** Publishes records of our own log on the thread's gossip topic. */
    'gossip records': (_, _params: { records: unknown[] }) => {
      throw new Error('gossiping is provided by actors/')
    },
    'hold records for gossip': assign({
      ungossiped: ({ context, event }) => event.type === 'committed' ? [...context.ungossiped, ...event.records] : context.ungossiped
    }),
    'forget held records': assign({ ungossiped: [] }),
    'queue records': assign({
      outgoing: ({ context, event }) => event.type === 'committed' ? [...context.outgoing, ...event.records] : context.outgoing
    }),
    'take batch': assign(({ context }) => context.sending.length > 0
      ? {}
      : { sending: context.outgoing, outgoing: [] }),
    'batch sent': assign({ sending: [] }),
    // Only the latest batch: a peer that takes it without the records before it fetches those as its ancestors.
    'owe the batch to the peers that missed it': assign(({ context }, outcome: PushOutcome) => ({ owed: context.sending, owedTo: outcome.unreached, owedAttempts: 0 })),
    'owe it still to the peers that missed it again': assign(({ context }, outcome: PushOutcome) => ({ owedTo: outcome.unreached, owedAttempts: context.owedAttempts + 1 })),
    'count a missed repayment': assign({ owedAttempts: ({ context }) => context.owedAttempts + 1 }),
    'forget what is owed': assign({ owed: [], owedTo: [], owedAttempts: 0 }),
    'note peer ahead': assign({
      ahead: ({ context, event }) => event.type === 'ancestors missing' && !context.ahead.includes(event.from) ? [...context.ahead, event.from] : context.ahead
    }),
    'take peers ahead': assign(({ context }) => ({ fetchingFrom: context.ahead, ahead: [] })),
    'ancestors fetched': assign({ fetchingFrom: [] }),
    'ask those peers again': assign(({ context }) => ({
      ahead: [...context.fetchingFrom, ...context.ahead.filter(peer => !context.fetchingFrom.includes(peer))],
      fetchingFrom: []
    })),
    'count failure': assign({
      attempts: ({ context }) => context.attempts + 1,
      error: ({ event }) => (event as { error?: unknown }).error
    }),
    'reset failures': assign({ attempts: 0, error: undefined })
  },
  guards: {
    'is our own log': ({ context }) => context.role === 'own',
    'has records to push': ({ context }) => context.outgoing.length > 0 || context.sending.length > 0,
    'some peers missed the batch': (_, outcome: PushOutcome) => outcome.unreached.length > 0,
    'owes records to peers': ({ context }) => context.owed.length > 0,
    'out of attempts to repay': ({ context }) => context.owed.length > 0 && context.owedAttempts >= context.maxAttempts,
    'records came ahead of their ancestors': ({ context }) => context.ahead.length > 0,
    'out of attempts': ({ context }) => context.attempts + 1 >= context.maxAttempts
  }
}).createMachine({
  id: 'log sync',
  context: ({ input }) => ({ ...input, outgoing: [], sending: [], owed: [], owedTo: [], owedAttempts: 0, ungossiped: [], ahead: [], fetchingFrom: [], attempts: 0, error: undefined }),
  on: {
    committed: { actions: [{ type: 'gossip records', params: ({ event }) => ({ records: [...event.records] }) }, 'queue records'] },
    // Our own log has every record of its own; only someone else's can come ahead of its ancestors.
    'ancestors missing': { guard: not('is our own log'), actions: 'note peer ahead' },
    stop: '.stopped'
  },
  initial: 'idle',
  states: {
    idle: {
      description: 'In step with what we know: waits for a commit to push, or a reason to pull.',
      always: [
        { guard: 'has records to push', target: 'holding' },
        { guard: 'records came ahead of their ancestors', target: 'fetching missing ancestors' },
        // Those peers pull what they lack: from us on their next poll, or when a later record shows them the gap.
        { guard: 'out of attempts to repay', actions: 'forget what is owed' }
      ],
      on: { sync: [{ guard: 'is our own log' }, { target: 'pulling' }] },
      after: {
        'repay delay': { guard: 'owes records to peers', target: 'repaying' },
        poll: [{ guard: 'is our own log', target: 'idle', reenter: true }, { target: 'pulling' }]
      }
    },
    holding: {
      description: 'Lets the gossiped copy reach the peers first, rather than race a pushed copy for their time, and gathers what is committed meanwhile into one push.',
      after: { 'push delay': 'pushing' },
      on: { 'push now': 'pushing' }
    },
    pushing: {
      description: 'Sends what has queued to the thread\'s peers directly, the way that says it arrived; records committed meanwhile wait for the next batch.',
      entry: 'take batch',
      // The peers are busy taking a batch: what is committed meanwhile goes to them in one gossip message, not one each.
      on: { committed: { actions: ['hold records for gossip', 'queue records'] } },
      exit: [{ type: 'gossip records', params: ({ context }) => ({ records: context.ungossiped }) }, 'forget held records'],
      invoke: {
        id: 'push records',
        src: 'push records',
        input: ({ context }) => ({ records: context.sending }),
        onDone: [
          {
            guard: { type: 'some peers missed the batch', params: ({ event }) => event.output },
            target: 'idle',
            actions: [{ type: 'owe the batch to the peers that missed it', params: ({ event }) => event.output }, 'batch sent', 'reset failures']
          },
          // Every peer took it, those owed an earlier batch too: they fetch that as its ancestors.
          { target: 'idle', actions: ['batch sent', 'reset failures', 'forget what is owed'] }
        ],
        onError: [
          { guard: 'out of attempts', target: 'failed', actions: 'count failure' },
          { target: 'backingOff', actions: 'count failure' }
        ]
      }
    },
    repaying: {
      description: 'While the log is quiet, sends the records some peers missed to those peers alone; a commit comes first, and what is owed waits for the next quiet spell.',
      // A commit is gossiped and queued as in any state; queued, it goes on to be pushed at once.
      always: { guard: 'has records to push', target: 'holding' },
      invoke: {
        id: 'repay records',
        src: 'push records',
        input: ({ context }) => ({ records: context.owed, to: context.owedTo }),
        onDone: [
          {
            guard: { type: 'some peers missed the batch', params: ({ event }) => event.output },
            target: 'idle',
            actions: { type: 'owe it still to the peers that missed it again', params: ({ event }) => event.output }
          },
          { target: 'idle', actions: 'forget what is owed' }
        ],
        onError: { target: 'idle', actions: 'count a missed repayment' }
      }
    },
    pulling: {
      description: 'Asks the log\'s peers for the records after the ones we hold: edges first, then page by page.',
      invoke: { id: 'pull records', src: 'pull records' },
      on: {
        pulled: { target: 'idle', actions: 'reset failures' },
        'pull failed': [
          { guard: 'out of attempts', target: 'failed', actions: 'count failure' },
          { target: 'backingOff', actions: 'count failure' }
        ]
      },
      initial: 'comparing edges',
      states: {
        'comparing edges': {
          description: 'Equal edges mean equal heads: nothing to fetch, which is what most pulls find.',
          on: { 'listing logs': 'listing logs' }
        },
        'listing logs': {
          description: 'Learns the thread\'s logs and where they live before any record, so a pull cut short resumes.',
          on: { 'fetching page': 'fetching' }
        },
        fetching: {
          description: 'Asks for a page of records after the last one held.',
          on: { 'handing page': 'handing to the dispatcher' }
        },
        'handing to the dispatcher': {
          description: 'The dispatcher verifies each record (signature, links, keys), folds it and commits, in order.',
          on: { 'fetching page': 'fetching' }
        }
      }
    },
    'fetching missing ancestors': {
      description: 'A record came ahead of its ancestors: fetches them, and it, from the peers that sent such records.',
      entry: 'take peers ahead',
      invoke: {
        id: 'fetch missing ancestors',
        src: 'fetch missing ancestors',
        input: ({ context }) => ({ from: context.fetchingFrom }),
        onDone: { target: 'idle', actions: ['ancestors fetched', 'reset failures'] },
        onError: [
          { guard: 'out of attempts', target: 'failed', actions: ['ask those peers again', 'count failure'] },
          { target: 'backingOff', actions: ['ask those peers again', 'count failure'] }
        ]
      }
    },
    backingOff: {
      description: 'A push or pull failed: waits (longer each time, with jitter) before trying again.',
      after: { backoff: [{ guard: 'is our own log', target: 'pushing' }, { target: 'pulling' }] },
      on: {
        sync: [{ guard: 'is our own log', target: 'pushing' }, { target: 'pulling' }],
        'push now': { guard: 'is our own log', target: 'pushing' }
      }
    },
    failed: {
      description: 'Gave up after too many failures in a row; keeps the reason. A new reason to sync starts over.',
      on: {
        sync: [{ guard: 'is our own log', target: 'pushing', actions: 'reset failures' }, { target: 'pulling', actions: 'reset failures' }],
        'push now': { guard: 'is our own log', target: 'pushing' },
        'ancestors missing': { guard: not('is our own log'), target: 'fetching missing ancestors', actions: ['note peer ahead', 'reset failures'] }
      }
    },
    stopped: { type: 'final' }
  }
})

