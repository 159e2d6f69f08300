import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { InvalidInviteError, InviteNotForUsError } from '../../codecs/errors.ts'
import { Invite } from '../../codecs/invite.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { inviteeMachine } from '../../machines/invitee.machine.ts'
import { coveringPaths, type ModelPath } from '../helpers/model-paths.ts'
import { stateRecorder } from '../helpers/state-recorder.ts'
import { portOf, tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'

/**
 * The invitee machine as a model: paths covering every transition the test can bring about are generated with
 * xstate/graph, and each is walked with real peers over TCP on 127.0.0.1, checking that the invitee's actor
 * passes through exactly the states the path names.
 */

type InviteeSnapshot = ReturnType<typeof inviteeMachine.transition>
const failure = { error: new Error('modelled') }
/** An event as the model supplies it: a type, and what the machine reads off it (an output, an error). */
type ModelEvent = { type: string } & Record<string, unknown>
const TERMINAL = new Set(['synced', 'declined', 'expired', 'failed'])
/** The modelled invite has expired by the time its expiry timer fires (a timer step short of it re-arms instead). */
const opened = (role: 'write' | 'read') => ({ type: 'xstate.done.actor.open invite', output: { role, expires: 0 } })

/**
 * What the test can make happen in each state. Left out: a failure to author the Join in our own log (nothing
 * outside the peer can cause it), and a writer failing to pull right after reaching a peer with its Join.
 */
function inviteeEvents (snapshot: InviteeSnapshot): ModelEvent[] {
  const writer = snapshot.context.role === 'write'
  switch (snapshot.value) {
    case 'received': return [{ type: 'xstate.done.actor.check envelope' }, { type: 'xstate.error.actor.check envelope', ...failure }]
    case 'opening': return [opened('write'), opened('read'), { type: 'xstate.error.actor.open invite', ...failure }]
    case 'pending': return [{ type: 'accept' }, { type: 'decline' }, { type: 'xstate.after.expiry.invitee.pending' }]
    case 'accepting': return writer
      ? [{ type: 'xstate.done.actor.accept invite', output: { logId: 'model' } }, { type: 'xstate.error.actor.accept invite', ...failure }]
      : [{ type: 'xstate.done.actor.accept invite', output: {} }]
    case 'log created': return [{ type: 'xstate.done.actor.author join' }]
    case 'join authored': return [{ type: 'xstate.done.actor.announce join' }, { type: 'xstate.error.actor.announce join', ...failure }]
    case 'syncing': return writer ? [{ type: 'xstate.done.actor.sync thread' }] : [{ type: 'xstate.done.actor.sync thread' }, { type: 'xstate.error.actor.sync thread', ...failure }]
    case 'waiting for peers': return [{ type: 'peer connected' }, { type: 'xstate.after.backoff.invitee.waiting for peers' }]
    case 'declining': return [{ type: 'xstate.done.actor.send decline' }, { type: 'xstate.error.actor.send decline', ...failure }]
    default: return []
  }
}

const serialize = (snapshot: InviteeSnapshot): string => `${String(snapshot.value)}${snapshot.context.role === undefined ? '' : `/${snapshot.context.role}`}`
const stateOf = (serialized: string): string => serialized.split('/')[0]!
const paths = coveringPaths(inviteeMachine, {
  input: { inviteId: 'model', retryMs: 1, maxAttempts: 8 },
  events: inviteeEvents,
  serialize,
  terminal: snapshot => TERMINAL.has(String(snapshot.value))
})

const peers: TempPeer[] = []
after(async () => { await Promise.all(peers.map(async peer => { await peer.dispose() })) })
async function peer (options: Parameters<typeof tempPeer>[0]): Promise<TempPeer> {
  const made = await tempPeer(options)
  peers.push(made)
  return made
}

async function walk (path: ModelPath<typeof inviteeMachine>): Promise<void> {
  const has = (type: string): boolean => path.events.some(event => event.startsWith(type))
  const expected = path.states.map(stateOf)
  const role = path.states.some(state => state.endsWith('/read')) ? 'read' : 'write'
  const recorder = stateRecorder('invitee:')
  const alice = await peer({ invites: { retryMs: 60_000, maxAttempts: 8 } })
  const aliceDb = await alice.peer.newStore()
  await aliceDb.registerSchema('Note', { type: 'object' })
  await aliceDb.collection('Note').create([{ text: 'before the invite' }])
  const bob = await peer({ invites: { retryMs: has('xstate.after.backoff') ? 150 : 60_000, maxAttempts: 8 }, inspect: recorder.inspect })

  if (has('xstate.error.actor.check envelope')) {
    const elsewhere = await aliceDb.invite(Ed25519PrivateKey.generate().publicKey.logId)
    await assert.rejects(bob.peer.join(Invite.from(elsewhere.toString())), InviteNotForUsError)
    assert.deepEqual(recorder.states(`invitee:${elsewhere.id}`), expected)
    return
  }
  if (has('xstate.error.actor.open invite')) {
    const genuine = await aliceDb.invite(bob.peer.peerId)
    const envelope = dagCbor.decode(genuine.bytes) as { box: Uint8Array }
    const box = Uint8Array.from(envelope.box)
    box[40] = box[40]! ^ 1
    await assert.rejects(bob.peer.join(dagCbor.encode({ ...envelope, box })), InvalidInviteError)
    assert.deepEqual(recorder.states(`invitee:${genuine.id}`), expected)
    return
  }
  // Holding the thread already under another key, bob cannot take the invite's key set in.
  if (has('xstate.error.actor.accept invite')) await bob.peer.openStore(aliceDb.id, { key: ThreadKey.random() })

  const invite = await aliceDb.invite(bob.peer.peerId, { role, expiresIn: has('xstate.after.expiry') ? 800 : 60_000, address: bob.peer.addresses[0]! })
  const actor = `invitee:${invite.id}`
  const reached = async (states: string[], what: string): Promise<void> => {
    await until(() => JSON.stringify(recorder.states(actor)) === JSON.stringify(states), `${what}: the invitee to pass ${states.join(' → ')} (it passed ${recorder.states(actor).join(' → ')})`, 8000)
  }
  // The inviter goes away once the invite is delivered, when the path has bob find no one, or decline to no one.
  const alicePort = portOf(alice.peer)
  const aliceAddress = alice.peer.addresses[0]!
  const away = has('xstate.error.actor.announce join') || has('xstate.error.actor.sync thread') || has('xstate.error.actor.send decline')
  if (away) {
    await reached(['received', 'opening', 'pending'], 'the invite delivered')
    await alice.peer.close()
  }
  const aliceBack = async (connect: boolean): Promise<void> => {
    await alice.reopen({ listen: [`/ip4/127.0.0.1/tcp/${alicePort}`] })
    if (connect) await alice.peer.connect(bob.peer.addresses[0]!)
  }
  /** What the peers show while the invitee waits in `state`, before the test makes the next thing happen. */
  const peersAgree = async (state: string): Promise<void> => {
    if (state === 'pending') {
      assert.ok(bob.peer.invites().some(entry => entry.id === invite.id), 'bob lists the invite as pending')
      if (!alice.peer.storage.closed) await until(() => alice.peer.invitation(invite.id)?.state === 'awaiting join', 'alice to know the invite delivered', 8000)
    }
    if (state === 'waiting for peers') {
      assert.ok(bob.peer.invitation(invite.id)?.error instanceof Error, 'the invitee keeps why it could not reach the thread')
      await assert.rejects(bob.peer.connect(aliceAddress), 'no peer of the thread is reachable while bob waits for peers')
    }
  }
  const answers: Array<Promise<unknown>> = []
  for (let i = 1; i < path.steps.length; i++) {
    const event = path.events[i]!
    if (event.startsWith('xstate.done.') || event.startsWith('xstate.error.') || event.startsWith('xstate.after.expiry')) continue
    await reached(expected.slice(0, i), `step ${i}`)
    await peersAgree(expected[i - 1]!)
    const pending = (): NonNullable<ReturnType<typeof bob.peer.invites>[number]> => bob.peer.invites().find(entry => entry.id === invite.id)!
    if (event === 'accept') answers.push(pending().accept().catch(() => undefined))
    else if (event === 'decline') answers.push(pending().decline().catch(() => undefined))
    else if (event === 'peer connected') await aliceBack(true)
    else if (event.startsWith('xstate.after.backoff')) await aliceBack(false)
  }
  await reached(expected, 'the whole path')
  await Promise.all(answers)
  if (expected.at(-1) === 'synced') {
    const bobDb = await bob.peer.store(aliceDb.id)
    assert.equal(bobDb.logId === undefined, role === 'read')
    assert.equal((await bobDb.collection('Note').find()).length, 1, 'bob holds what alice wrote before the invite')
  }
}

describe('the invitee machine, walked with real peers', () => {
  it('has paths through every state and transition the test can bring about', () => {
    const states = new Set(paths.flatMap(path => path.states.map(stateOf)))
    for (const state of Object.keys(inviteeMachine.root.states)) assert.ok(states.has(state), `no path reaches ${state}`)
    assert.ok(paths.length >= 12)
  })

  for (const path of paths) {
    it(`${path.states.join(' → ')} (${path.events.slice(1).join(', ')})`, async () => { await walk(path) })
  }
})
