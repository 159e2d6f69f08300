import { assign, fromPromise, setup } from 'xstate'

/**
 * The inviting side of one invite: authors the Invite in our log, delivers it to the invitee, and waits for the
 * answer, which is a Join in the invitee's new log (a writer), a direct acceptance (a reader or replica), or a
 * decline, until the invite expires. An invitee that cannot be reached is tried again later, and when it
 * connects; a Join that arrives after the first, for an invite already used, is refused and counted. A declined
 * invite takes back the grant it brought before it ends, so the invitee keeps no role it said no to. An expired one
 * keeps it: a Join its invitee made before the expiry counts whenever it arrives.
 */

/**
 * Where an invite made before a restart stands: answered by a Join already, declined with its grant not yet taken
 * back, delivered, or not yet delivered.
 */
export type InviterResume = 'joined' | 'declined' | 'delivered' | 'undelivered'

export interface InviterInput {
  inviteId: string
  invitee: string
  /** Set when the invite was made before this peer restarted: the machine takes up where it stood. */
  resume?: InviterResume
  /** Milliseconds since the epoch after which the invite is void. */
  expires: number
  /** Milliseconds between deliveries to an invitee that could not be reached. */
  retryMs: number
}

export interface InviterContext extends InviterInput {
  /** The log of the Join that answered the invite. */
  joinedBy?: string
  /** Joins refused for this invite: duplicates, mismatches, late ones. */
  refusedJoins: number
  error?: unknown
}

export type InviterEvent =
  /** A Join answering the invite was folded, from log `logId`. */
  | { type: 'join seen', logId: string }
  /** A Join naming the invite was refused (a duplicate, a mismatch, or after expiry). */
  | { type: 'join refused', code: string }
  /** The invitee (a reader or replica, who authors no Join) said it accepted. */
  | { type: 'accepted' }
  | { type: 'declined' }
  /** The invitee connected: worth delivering again. */
  | { type: 'invitee connected' }

/**
 * Node runs a timer for at most 2³¹−1 ms (about 24.8 days); a longer wait would fire at once. An invite may live
 * longer, so its expiry timer is armed in such steps, and a step that ends before the expiry arms the next one.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** How the invitee's answer lands, wherever the invite stands: the same in every state that waits for it. */
const ANSWERS = {
  'join seen': { target: 'joined', actions: 'note the join' },
  'join refused': { actions: 'count refused join' },
  accepted: 'joined',
  declined: 'withdrawing grant'
} as const

export const inviterMachine = setup({
  types: {
    context: {} as InviterContext,
    events: {} as InviterEvent,
    input: {} as InviterInput
  },
  actors: {
    /** Commits the Invite (and, in an access-controlled thread, the grant it brings) to our log. */
    'author invite': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('authoring is provided by actors/')
    }),
    /** Sends the sealed invite to the invitee. */
    'deliver invite': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('delivery is provided by actors/')
    }),
    /** Takes back what the invite granted its declining invitee (in an access-controlled thread), unless the ACL moved on since. */
    'withdraw grant': fromPromise<void, { inviteId: string }>(async () => {
      throw new Error('withdrawing is provided by actors/')
    })
  },
  delays: {
    expiry: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, context.expires - Date.now())),
    retry: ({ context }) => context.retryMs
  },
  guards: {
    'past expiry': ({ context }) => Date.now() >= context.expires,
    'was joined': ({ context }) => context.resume === 'joined',
    'was declined': ({ context }) => context.resume === 'declined',
    'was delivered': ({ context }) => context.resume === 'delivered',
    'was not delivered': ({ context }) => context.resume === 'undelivered'
  },
  actions: {
    'note the join': assign({ joinedBy: ({ event }) => event.type === 'join seen' ? event.logId : undefined }),
    'count refused join': assign({ refusedJoins: ({ context }) => context.refusedJoins + 1 }),
    'keep the reason': assign({ error: ({ event }) => (event as { error?: unknown }).error })
  }
}).createMachine({
  id: 'inviter',
  context: ({ input }) => ({ ...input, refusedJoins: 0 }),
  initial: 'starting',
  states: {
    starting: {
      description: 'A new invite is composed; one made before a restart takes up where it stood.',
      always: [
        { guard: 'was joined', target: 'joined' },
        { guard: 'was declined', target: 'withdrawing grant' },
        { guard: 'was delivered', target: 'awaiting join' },
        { guard: 'was not delivered', target: 'awaiting delivery' },
        { target: 'composing' }
      ]
    },
    composing: {
      description: 'Authors the Invite in our log: the thread\'s writers learn of it as they sync.',
      invoke: {
        id: 'author invite',
        src: 'author invite',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'sent',
        onError: { target: 'failed', actions: 'keep the reason' }
      }
    },
    sent: {
      description: 'Delivers the sealed invite to the invitee directly.',
      invoke: {
        id: 'deliver invite',
        src: 'deliver invite',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'awaiting join',
        onError: { target: 'awaiting delivery', actions: 'keep the reason' }
      },
      on: ANSWERS,
      after: { expiry: { guard: 'past expiry', target: 'expired' } }
    },
    'awaiting delivery': {
      description: 'The invitee could not be reached: tries again later, or as soon as it connects.',
      on: { ...ANSWERS, 'invitee connected': 'sent' },
      after: { retry: 'sent', expiry: [{ guard: 'past expiry', target: 'expired' }, { target: 'awaiting delivery', reenter: true }] }
    },
    'awaiting join': {
      description: 'Delivered: waits for the invitee\'s Join, acceptance or decline.',
      on: ANSWERS,
      after: { expiry: [{ guard: 'past expiry', target: 'expired' }, { target: 'awaiting join', reenter: true }] }
    },
    joined: {
      description: 'The invitee joined. Any further Join for this invite is refused.',
      on: { 'join refused': { actions: 'count refused join' } }
    },
    'withdrawing grant': {
      description: 'Declined: takes back the role the invite granted.',
      invoke: {
        id: 'withdraw grant',
        src: 'withdraw grant',
        input: ({ context }) => ({ inviteId: context.inviteId }),
        onDone: 'declined',
        onError: { target: 'declined', actions: 'keep the reason' }
      }
    },
    declined: { type: 'final', description: 'The invitee declined.' },
    expired: { type: 'final', description: 'No answer before the invite expired; a later Join is refused.' },
    failed: { type: 'final', description: 'The invite could not be authored (for example, the ACL does not allow it).' }
  }
})
