import { coveringPaths } from '../spec/helpers/model-paths.ts'
import { inviterMachine } from '../machines/inviter.machine.ts'
import { inviteeMachine } from '../machines/invitee.machine.ts'
const ev = (type: string, extra = {}) => ({ type, ...extra })
const fail = { error: new Error('x') }
const inviterEvents = (s: any) => {
  switch (s.value) {
    case 'composing': return [ev('xstate.done.actor.author invite'), ev('xstate.error.actor.author invite', fail)]
    case 'sent': return [ev('xstate.done.actor.deliver invite'), ev('xstate.error.actor.deliver invite', fail)]
    case 'awaiting delivery': return [ev('invitee connected'), ev('xstate.after.retry.inviter.awaiting delivery'), ev('xstate.after.expiry.inviter.awaiting delivery')]
    case 'awaiting join': return [ev('join seen', { logId: 'L' }), ev('accepted'), ev('declined'), ev('xstate.after.expiry.inviter.awaiting join')]
    default: return []
  }
}
const term = new Set(['joined', 'declined', 'expired', 'failed'])
for (const resume of [undefined, 'delivered', 'undelivered', 'joined']) {
  const paths = coveringPaths(inviterMachine, { input: { inviteId: 'i', invitee: 'p', expires: Date.now() + 1e6, retryMs: 1, ...(resume ? { resume } : {}) }, events: inviterEvents as any, serialize: s => String(s.value), terminal: s => term.has(String(s.value)) })
  console.log('resume', resume, paths.length)
  for (const p of paths) console.log('  ', p.states.join(' > '), ' | ', p.events.slice(1).join(', '))
}
const W = { role: 'write', expires: Date.now() + 1e6 }, R = { role: 'read', expires: Date.now() + 1e6 }
const inviteeEvents = (s: any) => {
  const writer = s.context.role === 'write'
  switch (s.value) {
    case 'received': return [ev('xstate.done.actor.check envelope'), ev('xstate.error.actor.check envelope', fail)]
    case 'opening': return [ev('xstate.done.actor.open invite', { output: W }), ev('xstate.done.actor.open invite', { output: R }), ev('xstate.error.actor.open invite', fail)]
    case 'pending': return [ev('accept'), ev('decline'), ev('xstate.after.expiry.invitee.pending')]
    case 'accepting': return writer ? [ev('xstate.done.actor.accept invite', { output: { logId: 'L' } }), ev('xstate.error.actor.accept invite', fail)] : [ev('xstate.done.actor.accept invite', { output: {} })]
    case 'log created': return [ev('xstate.done.actor.author join')]
    case 'join authored': return [ev('xstate.done.actor.announce join'), ev('xstate.error.actor.announce join', fail)]
    case 'syncing': return writer ? [ev('xstate.done.actor.sync thread')] : [ev('xstate.done.actor.sync thread'), ev('xstate.error.actor.sync thread', fail)]
    case 'waiting for peers': return [ev('peer connected'), ev('xstate.after.backoff.invitee.waiting for peers')]
    case 'declining': return [ev('xstate.done.actor.send decline'), ev('xstate.error.actor.send decline', fail)]
    default: return []
  }
}
const iterm = new Set(['synced', 'declined', 'expired', 'failed'])
const ip = coveringPaths(inviteeMachine, { input: { inviteId: 'i', retryMs: 1, maxAttempts: 3 }, events: inviteeEvents as any, serialize: s => `${String(s.value)}${s.context.role ? '/' + s.context.role : ''}`, terminal: s => iterm.has(String(s.value)) })
console.log('invitee', ip.length)
for (const p of ip) console.log('  ', p.states.join(' > '), ' | ', p.events.slice(1).join(', '))
