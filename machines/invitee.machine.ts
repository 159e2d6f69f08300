import { and, assign, fromPromise, setup } from 'xstate'
import { MAX_TIMER_MS } from './inviter.machine.ts'

/**
 * The invited side of one invite: opens it, waits for the user to accept or decline, and on accepting takes the
 * thread in. A writer creates a log of its own and authors a Join in it, announces the log to whoever of the
 * thread it can reach (the inviter, another writer, a replica: any of them carries the Join on), then pulls the
 * thread. Unreachable peers are tried again, with backoff, up to a limit; the invite's expiry ends a pending one.
 */

export interface InviteeInput {
  inviteId: string
  /**
   * How far the handshake had come before a restart: accepted, it goes on once opened rather than wait for an
   * answer; with its Join authored, it announces that Join rather than write another.
   */
  resumed?: 'accepted' | 'join authored'
  /** Milliseconds between tries to reach the thread's peers; doubles with each failure. */
  retryMs: number
  maxAttempts: number
}

export interface InviteeContext extends InviteeInput {
  role?: 'replicate' | 'read' | 'write'
  /** Milliseconds since the epoch after which the invite is void (known once opened). */
  expires: number
  /** Our log in the thread, once a writer has made it. */
  logId?: string
  attempts: number
  error?: unknown
}

export type InviteeEvent =
  | { type: 'accept' }
  | { type: 'decline' }
  /** A peer of the thread connected: worth trying again now. */
  | { type: 'peer connected' }

export const inviteeMachine = setup({
  types: {
    context: {} as InviteeContext,
    events: {} as InviteeEvent,
    input: {} as InviteeInput
  },
  actors: {
    /** Reads the envelope: an invite for this peer, not one it already answered. */
    'check envelope': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('checking is provided by actors/')
    }),
    /** Opens the sealed invite and checks it: intact, signed by its inviter, not expired. */
    'open invite': fromPromise<{ role: 'replicate' | 'read' | 'write', expires: number }, { inviteId: string }>(async () => {
      throw new Error('opening is provided by actors/')
    }),
    /** Takes the thread in with the invite's keys and logs; a writer also gets a log of its own. */
    'accept invite': fromPromise<{ logId?: string }, { inviteId: string }>(async () => {
      throw new Error('accepting is provided by actors/')
    }),
    /** Authors the Join in our new log. */
    'author join': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('joining is provided by actors/')
    }),
    /** Announces our log, with the Join, to every peer of the thread it can reach; fails if it reaches none. */
    'announce join': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('announcing is provided by actors/')
    }),
    /** Pulls the thread from its peers (and tells the inviter a reader accepted); fails if it reaches none. */
    'sync thread': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('syncing is provided by actors/')
    }),
    /** Tells the inviter we decline, if it can be reached. */
    'send decline': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('declining is provided by actors/')
    })
  },
  delays: {
    expiry: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, context.expires - Date.now())),
    backoff: ({ context }) => context.retryMs * 2 ** Math.max(0, context.attempts - 1)
  },
  actions: {
    'note the invite': assign(({ event }) => {
      const { role, expires } = (event as unknown as { output: { role: InviteeContext['role'], expires: number } }).output
      return { role, expires }
    }),
    'note our log': assign({ logId: ({ event }) => (event as unknown as { output: { logId?: string } }).output.logId }),
    'count failure': assign({
      attempts: ({ context }) => context.attempts + 1,
      error: ({ event }) => (event as { error?: unknown }).error
    }),
    'keep the reason': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  },
  guards: {
    'past expiry': ({ context }) => Date.now() >= context.expires,
    'accepted before': ({ context }) => context.resumed !== undefined,
    'join authored before': ({ context }) => context.resumed === 'join authored',
    'is a writer': ({ context }) => context.role === 'write',
    'out of attempts': ({ context }) => context.attempts + 1 >= context.maxAttempts
  }
}).createMachine({
  id: 'invitee',
  context: ({ input }) => ({ ...input, expires: Number.MAX_SAFE_INTEGER, attempts: 0 }),
  initial: 'received',
  states: {
    received: {
      description: 'An invite arrived, directly or handed over out of band: is it for us, and new?',
      invoke: {
        id: 'check envelope',
        src: 'check envelope',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'opening',
        onError: { target: 'failed', actions: 'keep the reason' }
      }
    },
    opening: {
      invoke: {
        id: 'open invite',
        src: 'open invite',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: [
          { guard: 'accepted before', target: 'accepting', actions: 'note the invite' },
          { target: 'pending', actions: 'note the invite' }
        ],
        onError: { target: 'failed', actions: 'keep the reason' }
      }
    },
    pending: {
      description: 'Opened and valid: waits for the user to accept or decline, until the invite expires.',
      on: { accept: 'accepting', decline: 'declining' },
      after: { expiry: [{ guard: 'past expiry', target: 'expired' }, { target: 'pending', reenter: true }] }
    },
    accepting: {
      invoke: {
        id: 'accept invite',
        src: 'accept invite',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: [
          { guard: and(['is a writer', 'join authored before']), target: 'join authored', actions: 'note our log' },
          { guard: 'is a writer', target: 'log created', actions: 'note our log' },
          { target: 'syncing' }
        ],
        onError: { target: 'failed', actions: 'keep the reason' }
      }
    },
    'log created': {
      description: 'A writer has its own log in the thread: it authors the Join there.',
      invoke: {
        id: 'author join',
        src: 'author join',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'join authored',
        onError: { target: 'failed', actions: 'keep the reason' }
      }
    },
    'join authored': {
      description: 'Announces our log and its Join to whoever of the thread can be reached.',
      invoke: {
        id: 'announce join',
        src: 'announce join',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'syncing',
        onError: [
          { guard: 'out of attempts', target: 'failed', actions: 'count failure' },
          { target: 'waiting for peers', actions: 'count failure' }
        ]
      }
    },
    syncing: {
      description: 'Pulls the thread from its peers.',
      invoke: {
        id: 'sync thread',
        src: 'sync thread',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'synced',
        onError: [
          { guard: 'out of attempts', target: 'failed', actions: 'count failure' },
          { target: 'waiting for peers', actions: 'count failure' }
        ]
      }
    },
    'waiting for peers': {
      description: 'No peer of the thread could be reached: tries again after a backoff, or when one connects.',
      on: {
        'peer connected': [{ guard: 'is a writer', target: 'join authored' }, { target: 'syncing' }]
      },
      after: {
        backoff: [{ guard: 'is a writer', target: 'join authored' }, { target: 'syncing' }]
      }
    },
    declining: {
      invoke: {
        id: 'send decline',
        src: 'send decline',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'declined',
        onError: 'declined'
      }
    },
    synced: { type: 'final', description: 'In the thread, and caught up with it.' },
    declined: { type: 'final' },
    expired: { type: 'final', description: 'Not accepted before the invite expired.' },
    failed: { type: 'final', description: 'Could not open, accept or join; keeps the reason.' }
  }
})
