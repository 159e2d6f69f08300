import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Store } from '../../actors/store.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { encodeRecordBody, toHex } from '../../codecs/event-codec.ts'
import { createRecord } from '../../codecs/record.ts'
import { createThreadsNode, peerIdentity, type ThreadsNode } from '../../net/node.ts'
import { RequestFailedError } from '../../net/requests.ts'
import { askOnce } from '../helpers/ask-once.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import { ReadOnlyStoreError } from '../../storage/errors.ts'
import { openStorage } from '../../storage/storage.ts'
import { handMadeJoin } from '../helpers/hand-made-join.ts'
import { portOf, tempPeer, until, within, type TempPeer } from '../helpers/temp-peer.ts'

/** Invites and Joins between real peers over TCP on 127.0.0.1, each on its own LMDB environment. */

const FAST = { invites: { retryMs: 150, maxAttempts: 6 } }
const states = (peer: TempPeer, inviteId: string): string | undefined => peer.peer.invitation(inviteId)?.state

async function reachState (peer: TempPeer, inviteId: string, state: string, ms = 5000): Promise<void> {
  await until(() => states(peer, inviteId) === state, `invite ${inviteId} to reach ${state} on ${peer.peer.peerId} (it is ${states(peer, inviteId)})`, ms)
}

async function pendingOn (peer: TempPeer, inviteId: string): Promise<void> {
  await until(() => peer.peer.invites().some(invite => invite.id === inviteId), `invite ${inviteId} delivered to ${peer.peer.peerId}`, 5000)
}

const notes = async (db: Store): Promise<string[]> => (await db.collection('Note').find()).map(note => String(note.text)).sort()

describe('invites and joins between peers', () => {
  let alice: TempPeer
  let aliceDb: Store
  const others: TempPeer[] = []
  const peerNamed = async (init: Parameters<typeof tempPeer>[0] = {}): Promise<TempPeer> => {
    const peer = await tempPeer({ ...FAST, ...init })
    others.push(peer)
    return peer
  }

  before(async () => {
    alice = await tempPeer(FAST)
    aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
    await aliceDb.collection('Note').create([{ text: 'from alice' }])
  })

  after(async () => {
    await Promise.all([alice, ...others].map(async peer => { await peer.dispose() }))
  })

  it('makes a writer: delivered, accepted, joined with a log of its own, and both sides sync', async () => {
    const bob = await peerNamed()
    const invite = await aliceDb.invite(bob.peer.peerId, { address: bob.peer.addresses[0]!.toString() })
    await reachState(alice, invite.id, 'awaiting join')
    await pendingOn(bob, invite.id)
    const [received] = bob.peer.invites()
    assert.equal(received!.role, 'write')
    assert.equal(received!.inviter, alice.peer.peerId)
    const bobDb = await within(bob.peer.join(invite.toString()), 'bob to join')
    assert.equal(states(bob, invite.id), 'synced')
    assert.ok(bobDb.logId !== undefined)
    assert.deepEqual(await notes(bobDb), ['from alice'])
    await reachState(alice, invite.id, 'joined')
    await bobDb.collection('Note').create([{ text: 'from bob' }])
    await until(async () => (await notes(aliceDb)).includes('from bob'), 'bob\'s note at alice', 5000)
    assert.deepEqual(bob.peer.invites(), [])
  })

  it('makes a reader, who reads and cannot write; its acceptance reaches the inviter', async () => {
    const reader = await peerNamed()
    const invite = await aliceDb.invite(reader.peer.peerId, { role: 'read', address: reader.peer.addresses[0]! })
    const readerDb = await within(reader.peer.join(invite), 'the reader to join')
    assert.equal(readerDb.logId, undefined)
    assert.ok((await notes(readerDb)).includes('from alice'))
    await assert.rejects(readerDb.collection('Note').create([{ text: 'no' }]), ReadOnlyStoreError)
    await reachState(alice, invite.id, 'joined')
    await aliceDb.collection('Note').create([{ text: 'for the reader' }])
    await until(async () => (await notes(readerDb)).includes('for the reader'), 'a new note at the reader', 5000)
  })

  it('makes a replica, which stores and serves the thread without being able to read it', async () => {
    const replica = await peerNamed()
    const invite = await aliceDb.invite(replica.peer.peerId, { role: 'replicate', address: replica.peer.addresses[0]! })
    await pendingOn(replica, invite.id)
    await assert.rejects(replica.peer.join(invite), { code: 'ERR_INVALID_ARGUMENT' })
    const [received] = replica.peer.invites()
    await received!.accept()
    assert.equal(replica.peer.logs.getThread(aliceDb.id).key.canRead, false)
    await until(() => replica.peer.logs.records(aliceDb.id, aliceDb.logId!).length === alice.peer.logs.records(aliceDb.id, aliceDb.logId!).length, 'alice\'s log at the replica', 5000)
    await reachState(alice, invite.id, 'joined')
  })

  it('hears a decline, and refuses the same invite presented again', async () => {
    const carol = await peerNamed()
    const invite = await aliceDb.invite(carol.peer.peerId, { address: carol.peer.addresses[0]! })
    await pendingOn(carol, invite.id)
    await carol.peer.invites()[0]!.decline()
    await reachState(alice, invite.id, 'declined')
    await assert.rejects(carol.peer.join(invite), { code: 'ERR_INVITE_REPLAYED' })
    assert.equal(carol.peer.stores().length, 0)
  })

  it('expires on both sides when not answered, and then cannot be accepted', async () => {
    const dave = await peerNamed()
    const invite = await aliceDb.invite(dave.peer.peerId, { expiresIn: 400, address: dave.peer.addresses[0]! })
    await pendingOn(dave, invite.id)
    await reachState(alice, invite.id, 'expired')
    await reachState(dave, invite.id, 'expired')
    await assert.rejects(dave.peer.join(invite), { code: 'ERR_INVITE_REPLAYED' })
    // Longer than a timer can wait in one go (about 24.8 days): still pending on both sides.
    const month = await aliceDb.invite(dave.peer.peerId, { expiresIn: 30 * 24 * 3_600_000, address: dave.peer.addresses[0]! })
    await pendingOn(dave, month.id)
    await reachState(alice, month.id, 'awaiting join')
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(states(alice, month.id), 'awaiting join')
    assert.equal(states(dave, month.id), 'pending')
  })

  it('reaches an invitee that was offline when invited, once it is back', async () => {
    const erin = await peerNamed()
    const address = erin.peer.addresses[0]!
    const port = portOf(erin.peer)
    await erin.peer.close()
    const invite = await aliceDb.invite(erin.peer.peerId, { address })
    await reachState(alice, invite.id, 'awaiting delivery')
    await erin.reopen({ listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const back = erin
    await back.peer.connect(alice.peer.addresses[0]!)
    await pendingOn(back, invite.id)
    await reachState(alice, invite.id, 'awaiting join')
    await within(back.peer.join(invite), 'erin to join')
    await reachState(alice, invite.id, 'joined')
  })

  it('joins while the inviter is offline: another writer carries the Join, and the inviter sees it on return', async () => {
    const owner = await peerNamed()
    const ownerDb = await owner.peer.newStore()
    await ownerDb.registerSchema('Note', { type: 'object' })
    const writer = await peerNamed()
    await within(writer.peer.join(await ownerDb.invite(writer.peer.peerId, { address: writer.peer.addresses[0]! })), 'a second writer to join')
    const late = await peerNamed()
    const invite = await ownerDb.invite(late.peer.peerId, { address: late.peer.addresses[0]! })
    await pendingOn(late, invite.id)
    await reachState(owner, invite.id, 'awaiting join')
    await owner.peer.close()
    const lateDb = await within(late.peer.join(invite), 'the late writer to join while the owner is away')
    assert.equal(states(late, invite.id), 'synced')
    await lateDb.collection('Note').create([{ text: 'while the owner was away' }])
    const returned = await owner.reopen()
    assert.equal(returned.invitation(invite.id)?.state, 'awaiting join', 'the invite outlived the restart')
    const reopened = await returned.store(ownerDb.id)
    await reopened.sync()
    await until(() => returned.invitation(invite.id)?.state === 'joined', 'the owner to see the Join', 5000)
    await until(async () => (await reopened.collection('Note').find()).length === 1, 'the late writer\'s note at the owner', 5000)
  })

  it('joins while the inviter is offline: a replica carries the Join, and the inviter sees it on return', async () => {
    const owner = await peerNamed()
    const ownerDb = await owner.peer.newStore()
    await ownerDb.registerSchema('Note', { type: 'object' })
    await ownerDb.collection('Note').create([{ text: 'kept by the replica too' }])
    const replica = await peerNamed({ replicateFor: [owner.peer.peerId] })
    await ownerDb.addReplicator(replica.peer.addresses[0]!)
    await until(() => replica.peer.logs.hasThread(ownerDb.id) && replica.peer.logs.records(ownerDb.id, ownerDb.logId!).length === 2, 'the owner\'s log at the replica', 5000)
    const late = await peerNamed()
    const invite = await ownerDb.invite(late.peer.peerId, { address: late.peer.addresses[0]! })
    await pendingOn(late, invite.id)
    await reachState(owner, invite.id, 'awaiting join')
    await until(() => replica.peer.logs.records(ownerDb.id, ownerDb.logId!).length === 3, 'the invite\'s record at the replica', 5000)
    await owner.peer.close()
    const lateDb = await within(late.peer.join(invite), 'the late writer to join through the replica')
    assert.equal(states(late, invite.id), 'synced')
    assert.deepEqual(await notes(lateDb), ['kept by the replica too'])
    await until(() => replica.peer.logs.hasLog(ownerDb.id, lateDb.logId!) && replica.peer.logs.records(ownerDb.id, lateDb.logId!).length === 1, 'the Join at the replica', 5000)
    const returned = await owner.reopen()
    const reopened = await returned.store(ownerDb.id)
    await reopened.sync()
    await until(() => returned.invitation(invite.id)?.state === 'joined', 'the owner to see the Join the replica kept', 5000)
  })

  describe('bad input', () => {
    let attacker: ThreadsNode
    let victim: TempPeer
    before(async () => {
      attacker = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
      victim = await peerNamed()
    })
    after(async () => { await attacker.stop() })

    const refusedWith = (code: string) => (e: unknown): boolean => e instanceof RequestFailedError && e.remoteCode === code
    const counted = (code: string): number => victim.peer.refusals.get(attacker.peerId.toString())?.get(code) ?? 0

    it('refuses, counts and keeps nothing of invites for someone else, tampered ones and garbage', async () => {
      const elsewhere = await aliceDb.invite(Ed25519PrivateKey.generate().publicKey.logId)
      await assert.rejects(askOnce(attacker, victim.peer.addresses[0]!, { type: 'invite', invite: elsewhere.bytes }), refusedWith('ERR_INVITE_NOT_FOR_US'))
      const genuine = await aliceDb.invite(victim.peer.peerId)
      const envelope = dagCbor.decode(genuine.bytes) as { box: Uint8Array }
      const box = Uint8Array.from(envelope.box)
      box[box.length - 5]! ^= 1
      const tampered = dagCbor.encode({ ...envelope, box })
      await assert.rejects(askOnce(attacker, victim.peer.addresses[0]!, { type: 'invite', invite: tampered }), refusedWith('ERR_INVALID_INVITE'))
      await assert.rejects(askOnce(attacker, victim.peer.addresses[0]!, { type: 'invite', invite: new Uint8Array([1, 2, 3]) }), refusedWith('ERR_INVALID_INVITE'))
      assert.equal(counted('ERR_INVITE_NOT_FOR_US'), 1)
      assert.equal(counted('ERR_INVALID_INVITE'), 2)
      assert.deepEqual(victim.peer.invites(), [])
      await askOnce(attacker, victim.peer.addresses[0]!, { type: 'invite', invite: genuine.bytes })
      await pendingOn(victim, genuine.id)
    })

    it('refuses an answer to an invite from anyone but its invitee', async () => {
      const invite = await aliceDb.invite(victim.peer.peerId)
      await assert.rejects(
        askOnce(attacker, alice.peer.addresses[0]!, { type: 'invite-reply', threadId: aliceDb.id, inviteId: invite.id, answer: 'decline' }),
        refusedWith('ERR_ACCESS_DENIED'))
      assert.notEqual(states(alice, invite.id), 'declined')
    })

    it('refuses a duplicate Join, a Join with the wrong token and a Join after expiry, and applies nothing of them', async () => {
      const target = await peerNamed()
      const guarded = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled })
      await guarded.registerSchema('Note', { type: 'object' })
      const invite = await guarded.invite(target.peer.peerId, { expiresIn: 60_000, address: target.peer.addresses[0]! })
      await within(target.peer.join(invite), 'the target to join')
      await reachState(alice, invite.id, 'joined')
      const identity = await peerIdentity(target.peer.storage)
      const token = toHex(invite.open(identity).token)
      const joinFrom = async (wall: number, tokenHex: string, inviteId = invite.id): Promise<string> => {
        const logKey = Ed25519PrivateKey.generate()
        const control = [await handMadeJoin({ store: guarded, joiner: target.peer, logKey, invite: inviteId, token: tokenHex })]
        const body = encodeRecordBody({ codec: 'json-patch', events: [{ type: 'create', collection: 'Note', id: logKey.publicKey.logId, patch: [{ op: 'replace', path: '', value: { _id: logKey.publicKey.logId, text: 'smuggled' } }] }], control })
        await guarded.ingest(logKey.publicKey.logId, createRecord({ body, time: { wall, counter: 0 }, logKey, threadKey: guarded.key }).blocks)
        return guarded.acl.refused().find(refusal => refusal.logId === logKey.publicKey.logId)?.code ?? ''
      }
      const refused = alice.peer.invitation(invite.id)!.refusedJoins
      assert.equal(await joinFrom(Date.now(), token), 'ERR_DUPLICATE_JOIN')
      assert.equal(await joinFrom(Date.now(), '00'.repeat(32)), 'ERR_JOIN_MISMATCH')
      const short = await guarded.invite(target.peer.peerId, { expiresIn: 50 })
      const shortToken = toHex(short.open(identity).token)
      assert.equal(await joinFrom(Date.now() + 60_000, shortToken, short.id), 'ERR_INVITE_EXPIRED')
      await until(() => alice.peer.invitation(invite.id)!.refusedJoins === refused + 2, 'the inviter to count both refused Joins')
      assert.ok(!(await notes(guarded)).includes('smuggled'), 'no refused Join binds a log, so nothing its log carries is applied')
      assert.equal(guarded.acl.refused().filter(refusal => refusal.code === 'ERR_ACCESS_DENIED').length, 3)
    })
  })
})

describe('an access-controlled invite declined or left to expire', () => {
  const peers: TempPeer[] = []
  let alice: TempPeer
  const peerNamed = async (): Promise<TempPeer> => {
    const peer = await tempPeer(FAST)
    peers.push(peer)
    return peer
  }

  before(async () => {
    alice = await peerNamed()
  })

  after(async () => {
    await Promise.all(peers.map(async peer => { await peer.dispose() }))
  })

  const decline = async (db: Store, invitee: TempPeer, inviteId: string): Promise<void> => {
    await pendingOn(invitee, inviteId)
    await invitee.peer.invites().find(invite => invite.id === inviteId)!.decline()
    await reachState(alice, inviteId, 'declined')
    assert.equal(alice.peer.invitation(inviteId)?.error, undefined)
  }

  /** An inviter of its own, free to restart, with a write invite to a fresh peer pending there. */
  const invitedByOwnPeer = async () => {
    const inviter = await peerNamed()
    const db = await inviter.peer.newStore({ variant: ThreadVariant.AccessControlled })
    const invitee = await peerNamed()
    const invite = await db.invite(invitee.peer.peerId, { role: 'write', address: invitee.peer.addresses[0]! })
    await pendingOn(invitee, invite.id)
    return { inviter, db, invitee, invite }
  }

  it('takes back the role it granted once declined', async () => {
    const db = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled })
    const carol = await peerNamed()
    const invite = await db.invite(carol.peer.peerId, { role: 'write', address: carol.peer.addresses[0]! })
    assert.deepEqual(db.acl.get().peers[carol.peer.peerId], ['write'], 'the invite grants its role as it is made')
    await decline(db, carol, invite.id)
    assert.deepEqual(db.acl.get().peers[carol.peer.peerId], [], 'declined: the role is taken back')
  })

  it('takes back the grant of an invite declined after a restart, before its store is opened again', async () => {
    const { inviter, db, invitee: ivan, invite } = await invitedByOwnPeer()
    await inviter.reopen({ ...FAST, listen: [`/ip4/127.0.0.1/tcp/${portOf(inviter.peer)}`] })
    await ivan.peer.invites().find(pending => pending.id === invite.id)!.decline()
    await reachState(inviter, invite.id, 'declined')
    assert.deepEqual((await inviter.peer.store(db.id)).acl.get().peers[ivan.peer.peerId], [])
  })

  it('takes back the grant of a decline it took in but had not acted on when it stopped', async () => {
    const { inviter, db, invitee: kim, invite } = await invitedByOwnPeer()
    await inviter.peer.close()
    // What a stop between taking the decline in and committing the withdrawal leaves: the invite's record, marked declined.
    const storage = await openStorage({ path: inviter.path })
    const sent = storage.valueDatabase<Record<string, unknown>>('sent-invites')
    await storage.transaction(() => sent.putSync(invite.id, { ...sent.get(invite.id)!, declined: true }))
    await storage.close()
    await inviter.reopen(FAST)
    await reachState(inviter, invite.id, 'declined')
    assert.equal(inviter.peer.invitation(invite.id)?.error, undefined)
    assert.deepEqual((await inviter.peer.store(db.id)).acl.get().peers[kim.peer.peerId], [])
    await inviter.reopen(FAST)
    assert.equal(inviter.peer.invitation(invite.id), undefined, 'a withdrawn invite is not taken up again')
  })

  it('keeps the grant of an invite that expires unanswered: a Join made before the expiry counts whenever it comes', async () => {
    const inviter = await peerNamed()
    const port = portOf(inviter.peer)
    const db = await inviter.peer.newStore({ variant: ThreadVariant.AccessControlled })
    await db.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
    const judy = await peerNamed()
    const invite = await db.invite(judy.peer.peerId, { role: 'write', expiresIn: 1500, address: judy.peer.addresses[0]! })
    await pendingOn(judy, invite.id)
    await inviter.peer.close()
    const judyDb = await within(judy.peer.join(invite), 'judy to join while the inviter is away')
    assert.equal(states(judy, invite.id), 'waiting for peers')
    const { expires } = invite.open(await peerIdentity(judy.peer.storage))
    await new Promise(resolve => setTimeout(resolve, Math.max(0, expires - Date.now() + 100)))
    await inviter.reopen({ ...FAST, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const back = await inviter.peer.store(db.id)
    await reachState(judy, invite.id, 'synced', 15_000)
    await judyDb.collection('Note').create([{ text: 'from judy' }])
    await until(async () => (await back.collection('Note').find()).some(note => note.text === 'from judy'), 'judy\'s note at the inviter', 15_000)
    assert.deepEqual(back.acl.get().peers[judy.peer.peerId], ['write'])
  })

  it('leaves the invitee what the default role gave it', async () => {
    const db = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled, defaultRole: 'read' })
    const erin = await peerNamed()
    const invite = await db.invite(erin.peer.peerId, { role: 'write', address: erin.peer.addresses[0]! })
    await decline(db, erin, invite.id)
    assert.deepEqual(db.acl.get().peers[erin.peer.peerId], ['read'], 'named now, so the default read is granted by name')
  })

  it('leaves a role the invitee held before the invite', async () => {
    const db = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled })
    const frank = await peerNamed()
    await db.acl.grant(frank.peer.peerId, 'delete')
    const invite = await db.invite(frank.peer.peerId, { role: 'write', address: frank.peer.addresses[0]! })
    assert.deepEqual(db.acl.get().peers[frank.peer.peerId], ['write', 'delete'])
    await decline(db, frank, invite.id)
    assert.deepEqual(db.acl.get().peers[frank.peer.peerId], ['delete'])
  })

  it('leaves the ACL alone when the invitee\'s entry changed after the invite', async () => {
    const db = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled })
    const grace = await peerNamed()
    const invite = await db.invite(grace.peer.peerId, { role: 'read', address: grace.peer.addresses[0]! })
    await db.acl.grant(grace.peer.peerId, 'write')
    await decline(db, grace, invite.id)
    assert.deepEqual(db.acl.get().peers[grace.peer.peerId], ['read', 'write'], 'a grant made since meant the invitee to stay')
  })

  it('keeps the role of an invite that was taken up', async () => {
    const db = await alice.peer.newStore({ variant: ThreadVariant.AccessControlled })
    const heidi = await peerNamed()
    const invite = await db.invite(heidi.peer.peerId, { role: 'write', expiresIn: 1500, address: heidi.peer.addresses[0]! })
    await within(heidi.peer.join(invite), 'heidi to join')
    await reachState(alice, invite.id, 'joined')
    await new Promise(resolve => setTimeout(resolve, 1700))
    assert.equal(states(alice, invite.id), 'joined')
    assert.deepEqual(db.acl.get().peers[heidi.peer.peerId], ['write'])
  })
})

describe('an invitee that restarts with its handshake unfinished', () => {
  it('takes the handshake up again, however often: the inviter hears the Join once both are back, and no second Join is written', async () => {
    const inviter = await tempPeer(FAST)
    const invitee = await tempPeer(FAST)
    try {
      const db = await inviter.peer.newStore()
      await db.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
      const port = portOf(inviter.peer)
      const invite = await db.invite(invitee.peer.peerId, { address: invitee.peer.addresses[0]! })
      await pendingOn(invitee, invite.id)
      await reachState(inviter, invite.id, 'awaiting join')
      await inviter.peer.close()
      const joined = await within(invitee.peer.join(invite), 'the join while the inviter is away', 20_000)
      // Twice, the second time while the resumed handshake is on its way again.
      await invitee.reopen()
      await invitee.reopen()
      assert.deepEqual(invitee.peer.invites(), [], 'an accepted invite is not offered again')
      await inviter.reopen({ listen: [`/ip4/127.0.0.1/tcp/${port}`] })
      await inviter.peer.store(db.id)
      await reachState(inviter, invite.id, 'joined', 15_000)
      await reachState(invitee, invite.id, 'synced', 15_000)
      assert.equal(invitee.peer.logs.head(db.id, joined.logId!).counter, 1, 'the Join, once')
    } finally {
      await invitee.dispose()
      await inviter.dispose()
    }
  })
})
