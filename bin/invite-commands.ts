import { ROLES, isRole, type Peer, type Role } from '../index.ts'
import { listenOf, withPeer, type Command, type Values } from './command.ts'
import { UsageError } from './errors.ts'

/**
 * Invites, joins and ACLs from the command line. Invites travel over the network, so the commands that send or
 * answer one run networked (on `--listen`, loopback by default) for as long as the handshake needs, up to
 * `--wait` milliseconds; an invite authored meanwhile is kept, and a daemon on the same path takes it up again.
 */

const DEFAULT_WAIT_MS = 10_000
const POLL_MS = 50


function waitMs (values: Values): number {
  const wait = Number(values.wait ?? DEFAULT_WAIT_MS)
  if (!Number.isSafeInteger(wait) || wait < 0) throw new UsageError('--wait takes a whole number of milliseconds')
  return wait
}

/** Waits until the invite's handshake leaves `states`, or `ms` pass; returns where it stands. */
async function settle (peer: Peer, inviteId: string, states: readonly string[], ms: number): Promise<string | undefined> {
  const deadline = Date.now() + ms
  while (states.includes(peer.invitation(inviteId)?.state ?? '') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, POLL_MS))
  return peer.invitation(inviteId)?.state
}

function rolesOf (texts: string[]): Role[] {
  if (texts.length === 0 || !texts.every(isRole)) throw new UsageError(`roles are some of ${ROLES.join(', ')}`)
  return texts as Role[]
}

const NETWORKED = { listen: { type: 'string', multiple: true }, wait: { type: 'string' } } as const

export const inviteCommands: Command[] = [
  {
    name: 'id',
    summary: 'Prints this peer\'s ID: what others invite, and what ACLs name.',
    usage: '',
    arguments: [],
    options: {},
    async run (values, _positionals, out) {
      await withPeer(values, { readOnly: true, mayCreate: true }, async peer => { out.result(peer.peerId, { peerId: peer.peerId }) })
    }
  },
  {
    name: 'invite',
    summary: 'Invites a peer into a store (write, read or replicate) and delivers the invite if it can be reached; prints the invite, which can also be handed over out of band.',
    usage: '<store> <peer-id | multiaddr ending in /p2p/<peer-id>> [--role write|read|replicate] [--expires-in MS] [--listen MULTIADDR]… [--wait MS]',
    arguments: ['store', 'peer'],
    options: { role: { type: 'string', default: 'write' }, 'expires-in': { type: 'string' }, ...NETWORKED },
    async run (values, positionals, out) {
      const [id, invitee] = positionals
      const role = values.role as string
      if (role !== 'write' && role !== 'read' && role !== 'replicate') throw new UsageError('--role is write, read or replicate')
      const expiresIn = values['expires-in'] === undefined ? undefined : Number(values['expires-in'])
      const address = invitee!.startsWith('/') ? invitee! : undefined
      const peerId = address === undefined ? invitee! : address.slice(address.lastIndexOf('/p2p/') + '/p2p/'.length)
      await withPeer(values, { network: true, listen: listenOf(values) }, async peer => {
        const invite = await (await peer.store(id!)).invite(peerId, { role, ...(expiresIn === undefined ? {} : { expiresIn }), ...(address === undefined ? {} : { address }) })
        const state = await settle(peer, invite.id, ['sent'], waitMs(values))
        out.result(`invite ${invite.id} (${state ?? 'sent'})\n${invite.toString()}`, { id: invite.id, state, invite: invite.toString() })
      })
    }
  },
  {
    name: 'join',
    summary: 'Accepts an invite and joins its store: a writer gets a log of its own, a reader reads. Prints the store\'s ID.',
    usage: '<invite> [--listen MULTIADDR]… [--wait MS]',
    arguments: ['invite'],
    options: NETWORKED,
    async run (values, positionals, out) {
      const [invite] = positionals
      await withPeer(values, { network: true, listen: listenOf(values) }, async peer => {
        const store = await peer.join(invite!)
        out.result(`joined ${store.id.toString()}${store.logId === undefined ? ' as a reader' : ` with log ${store.logId}`}`, { id: store.id.toString(), logId: store.logId })
      })
    }
  },
  {
    name: 'invites',
    summary: 'Lists the invites received and not yet answered.',
    usage: '',
    arguments: [],
    options: {},
    async run (values, _positionals, out) {
      await withPeer(values, { readOnly: true }, async peer => {
        const pending = peer.invites().map(invite => ({ id: invite.id, store: invite.threadId.toString(), inviter: invite.inviter, role: invite.role, expires: new Date(invite.expires).toISOString() }))
        out.result(pending.map(invite => `${invite.id}  ${invite.role.padEnd(9)} ${invite.store} from ${invite.inviter}, until ${invite.expires}`).join('\n'), pending)
      })
    }
  },
  {
    name: 'acl',
    summary: 'Shows an access-controlled store\'s ACL, or grants or revokes roles (replicate, read, write, delete).',
    usage: '<store> [grant|revoke <peer-id> <role>…] [--entity COLLECTION/ID | --admin]',
    arguments: ['store'],
    moreArguments: true,
    options: { entity: { type: 'string' }, admin: { type: 'boolean', default: false } },
    async run (values, positionals, out) {
      const [id, change, peerId, ...roles] = positionals
      if (change !== undefined && change !== 'grant' && change !== 'revoke') throw new UsageError('threads acl <store> changes the ACL with grant or revoke')
      if (change !== undefined && peerId === undefined) throw new UsageError(`threads acl <store> ${change} needs <peer-id> <role>…`)
      const entity = values.entity as string | undefined
      const slash = entity?.indexOf('/') ?? -1
      if (entity !== undefined && slash <= 0) throw new UsageError('--entity is COLLECTION/ID')
      await withPeer(values, { readOnly: change === undefined }, async peer => {
        const acl = (await peer.store(id!)).acl
        const handle = entity !== undefined ? acl.entity(entity.slice(0, slash), entity.slice(slash + 1)) : values.admin === true ? acl.admin : acl
        if (change === 'grant') await handle.grant(peerId!, rolesOf(roles))
        if (change === 'revoke') await handle.revoke(peerId!, rolesOf(roles))
        const document = handle.get()
        out.result([`default ${document.default}`, ...Object.entries(document.peers).map(([peer, held]) => `${peer} ${held.join(', ')}`)].join('\n'), document)
      })
    }
  }
]
