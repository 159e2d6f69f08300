import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { InvalidInviteError, InviteNotForUsError } from '../../codecs/errors.ts'
import { Invite, inviteSecrets, type InviteContent } from '../../codecs/invite.ts'
import { seal } from '../../codecs/sealed-box.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { seededRandom } from '../helpers/seeded-random.ts'

const inviter = Ed25519PrivateKey.generate()
const invitee = Ed25519PrivateKey.generate()

function content (overrides: Partial<InviteContent> = {}): InviteContent {
  const { id, token } = inviteSecrets()
  return {
    id,
    threadId: ThreadId.create(),
    inviter: inviter.publicKey.logId,
    inviterLog: inviter.publicKey.logId,
    invitee: invitee.publicKey.logId,
    role: 'write',
    expires: Date.now() + 60_000,
    key: ThreadKey.random(),
    logs: [{ id: inviter.publicKey.logId, addrs: [] }],
    time: { wall: Date.now(), counter: 3 },
    token,
    ...overrides
  }
}

const invalid = (e: unknown): boolean => e instanceof InvalidInviteError && e.code === 'ERR_INVALID_INVITE'

describe('invites', () => {
  it('open for their invitee, as sealed, from bytes and from their string form', () => {
    const made = content({ acl: { default: 'no-access', peers: { [inviter.publicKey.logId]: ['write', 'delete'] } } })
    const invite = Invite.seal(made, inviter)
    for (const copy of [invite, Invite.from(invite.toString()), Invite.from(invite.bytes)]) {
      const opened = copy.open(invitee)
      assert.equal(opened.id, made.id)
      assert.ok(opened.threadId.equals(made.threadId))
      assert.deepEqual(opened.key.bytes, made.key.bytes)
      assert.deepEqual(opened.token, made.token)
      assert.deepEqual(opened.acl, made.acl)
      assert.deepEqual(opened.time, made.time)
    }
  })

  it('carry the service key alone for a replica', () => {
    const made = content({ role: 'replicate', key: ThreadKey.random().serviceOnly() })
    assert.equal(Invite.seal(made, inviter).open(invitee).key.canRead, false)
  })

  it('are refused by anyone but the invitee, before and after the envelope is rewritten', () => {
    const invite = Invite.seal(content(), inviter)
    const stranger = Ed25519PrivateKey.generate()
    assert.throws(() => invite.open(stranger), (e: unknown) => e instanceof InviteNotForUsError && e.code === 'ERR_INVITE_NOT_FOR_US')
    const readdressed = Invite.fromBytes(dagCbor.encode({ ...dagCbor.decode(invite.bytes) as object, invitee: stranger.publicKey.logId }))
    assert.throws(() => readdressed.open(stranger), invalid)
  })

  it('are refused when a byte of the box or the envelope is changed', () => {
    const invite = Invite.seal(content(), inviter)
    const envelope = dagCbor.decode(invite.bytes) as { box: Uint8Array }
    for (const index of [0, 40, envelope.box.length - 1]) {
      const box = Uint8Array.from(envelope.box)
      box[index] = box[index]! ^ 1
      assert.throws(() => Invite.fromBytes(dagCbor.encode({ ...envelope, box })).open(invitee), invalid)
    }
    const renamed = Invite.fromBytes(dagCbor.encode({ ...envelope, id: 'another' }))
    assert.throws(() => renamed.open(invitee), invalid)
    const moved = Invite.fromBytes(dagCbor.encode({ ...envelope, thread: ThreadId.create().bytes }))
    assert.throws(() => moved.open(invitee), invalid)
  })

  it('are refused when not signed by the inviter they name', () => {
    const forger = Ed25519PrivateKey.generate()
    const made = content()
    const genuine = Invite.seal(made, inviter)
    // The forger seals content naming the real inviter, signed with its own key.
    const opened = genuine.open(invitee)
    const forgedBytes = dagCbor.encode({
      id: opened.id, thread: opened.threadId.bytes, inviter: inviter.publicKey.logId, inviterLog: opened.inviterLog, invitee: opened.invitee, role: opened.role,
      expires: opened.expires, key: opened.key.bytes, logs: [], time: [opened.time.wall, opened.time.counter], token: opened.token
    })
    const box = seal(invitee.publicKey, dagCbor.encode({ content: forgedBytes, sig: forger.sign(forgedBytes) }))
    const forged = Invite.fromBytes(dagCbor.encode({ ...(dagCbor.decode(genuine.bytes) as object), box }))
    assert.throws(() => forged.open(invitee), (e: unknown) => invalid(e) && /not signed by/.test((e as Error).message))
    assert.throws(() => Invite.seal({ ...made, inviter: inviter.publicKey.logId }, forger), invalid)
  })

  it('give only a valid invite or a typed error for 1,000 seeded mutations of an invite', () => {
    const invite = Invite.seal(content(), inviter)
    const bytes = invite.bytes
    const next = seededRandom(7)
    let opened = 0
    for (let i = 0; i < 1000; i++) {
      const mutated = Uint8Array.from(bytes)
      for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) mutated[Math.floor(next() * mutated.length)] = Math.floor(next() * 256)
      const cut = next() < 0.2 ? mutated.subarray(0, Math.floor(next() * mutated.length)) : mutated
      try {
        Invite.fromBytes(cut).open(invitee)
        opened++
        // Only a mutation that changed nothing (a byte set to the value it had) may open.
        assert.deepEqual(cut, bytes, `mutation ${i} opened`)
      } catch (error) {
        assert.ok(error instanceof InvalidInviteError || error instanceof InviteNotForUsError, `mutation ${i}: ${String(error)}`)
      }
    }
    assert.ok(opened < 1000)
  })

  it('refuse a key set that does not fit the role, and garbage of every kind', () => {
    assert.throws(() => Invite.seal(content({ role: 'replicate' }), inviter).open(invitee), invalid)
    assert.throws(() => Invite.seal(content({ logs: [{ id: 'not a log ID', addrs: [] }] }), inviter).open(invitee), invalid)
    for (const garbage of ['', 'not an invite', 'uAAAA', 'u' + 'A'.repeat(400)]) assert.throws(() => Invite.from(garbage), invalid)
    for (const bytes of [new Uint8Array(0), Uint8Array.of(0xa0), dagCbor.encode({ v: 2 }), dagCbor.encode({ v: 1, id: 'x', invitee: 'y', thread: new Uint8Array(3), box: new Uint8Array(1) })]) {
      assert.throws(() => Invite.fromBytes(bytes), invalid)
    }
  })
})
