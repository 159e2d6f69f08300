import { getShortestPaths, getSimplePaths } from 'xstate/graph'
import { inviterMachine } from '../machines/inviter.machine.ts'
import { inviteeMachine } from '../machines/invitee.machine.ts'

const ev = (t: string, extra = {}) => ({ type: t, ...extra }) as any
const inviterEvents = [
  ev('xstate.done.actor.author invite'), ev('xstate.error.actor.author invite', { error: new Error('x') }),
  ev('xstate.done.actor.deliver invite'), ev('xstate.error.actor.deliver invite', { error: new Error('x') }),
  ev('join seen', { logId: 'L' }), ev('join refused', { code: 'C' }), ev('accepted'), ev('declined'), ev('invitee connected'),
  ev('xstate.after.expiry.inviter.sent'), ev('xstate.after.expiry.inviter.awaiting join'), ev('xstate.after.expiry.inviter.awaiting delivery'), ev('xstate.after.retry.inviter.awaiting delivery')
]
const paths = getShortestPaths(inviterMachine, { input: { inviteId: 'i', invitee: 'p', expires: Date.now() + 1000, retryMs: 10 }, events: inviterEvents, serializeState: s => JSON.stringify(s.value) })
for (const p of paths) console.log(JSON.stringify(p.state.value), p.steps.map(s => s.event.type).join(' → '))
const simple = getSimplePaths(inviterMachine, { input: { inviteId: 'i', invitee: 'p', expires: Date.now() + 1000, retryMs: 10 }, events: inviterEvents, serializeState: s => JSON.stringify(s.value) })
console.log('simple', simple.length)
