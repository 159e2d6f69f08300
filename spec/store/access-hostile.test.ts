import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Query } from '../../codecs/query.ts'
import type { Store } from '../../actors/store.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { InvalidClockError } from '../../codecs/errors.ts'
import { encodeRecordBody, toHex, type ControlEvent, type StoreEvent } from '../../codecs/event-codec.ts'
import { Invite, inviteSecrets, tokenHash } from '../../codecs/invite.ts'
import { createRecord, type RecordBlocks } from '../../codecs/record.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import type { CID } from '../../codecs/block.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createThreadsNode, peerIdentity } from '../../net/node.ts'
import { RequestFailedError } from '../../net/requests.ts'
import { askOnce } from '../helpers/ask-once.ts'
import { InvalidArgumentError, SchemaViolationError, TooManyInvitesError } from '../../storage/errors.ts'
import { carry } from '../helpers/carry.ts'
import { handMadeJoin } from '../helpers/hand-made-join.ts'
import { dumpStore, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

/** Members and key holders who play tricks with their records: every compliant peer ends at the same views. */

const OFFLINE = { network: false, invites: { retryMs: 60_000 } } as const
const notes = async (db: Store): Promise<string[]> => (await db.collection('Note').find()).map(note => String(note._id)).sort()
const create = (id: string): StoreEvent => ({ type: 'create', collection: 'Note', id, patch: [{ op: 'replace', path: '', value: { _id: id } }] })


/** A log of hand-made records: each with the time, events and control events it is given, linked in order. */
function handMadeLog (db: Store, entries: ReadonlyArray<{ wall: number, events?: StoreEvent[], control?: ControlEvent[] }>, logKey = Ed25519PrivateKey.generate()): { logId: string, records: RecordBlocks[] } {
  let prev: CID | undefined
  const records = entries.map(({ wall, events = [], control = [] }) => {
    const made = createRecord({ body: encodeRecordBody({ codec: 'json-patch', events, control }), time: { wall, counter: 0 }, logKey, threadKey: db.key, ...(prev === undefined ? {} : { prev }) })
    prev = made.blocks.record.cid
    return made.blocks
  })
  return { logId: logKey.publicKey.logId, records }
}

describe('hostile members of an access-controlled thread', () => {
  let owner: TempPeer
  let bob: TempPeer
  let ownerDb: Store
  const observers: TempPeer[] = []

  before(async () => {
    owner = await tempPeer(OFFLINE)
    bob = await tempPeer(OFFLINE)
    ownerDb = await owner.peer.newStore({ variant: ThreadVariant.AccessControlled })
    await ownerDb.registerSchema('Note', { type: 'object' })
  })
  after(async () => { await Promise.all([owner, bob, ...observers].map(async peer => { await peer.dispose() })) })

  const observer = async (): Promise<Store> => {
    const peer = await tempPeer(OFFLINE)
    observers.push(peer)
    return await peer.peer.openStore(ownerDb.id, { key: ownerDb.key })
  }

  it('refuses a record dated before the one it follows, so no write can slip in before its log\'s Join', async () => {
    const invite = await ownerDb.invite(bob.peer.peerId)
    const identity = await peerIdentity(bob.peer.storage)
    const logKey = Ed25519PrivateKey.generate()
    const join = await handMadeJoin({ store: ownerDb, joiner: bob.peer, logKey, invite: invite.id, token: toHex(invite.open(identity).token) })
    const now = Date.now()
    const log = handMadeLog(ownerDb, [{ wall: now + 60, control: [join] }, { wall: now + 5, events: [create('backdated')] }], logKey)
    const first = await observer()
    const second = await observer()
    await carry(owner.peer, { peer: observers[0]!.peer, store: first })
    await first.ingest(log.logId, log.records[0]!)
    await assert.rejects(first.ingest(log.logId, log.records[1]!), (e: unknown) => e instanceof InvalidClockError && e.code === 'ERR_INVALID_CLOCK')
    // The other order: bob's log before the invite it answers.
    await second.ingest(log.logId, log.records[0]!)
    await assert.rejects(second.ingest(log.logId, log.records[1]!), InvalidClockError)
    await carry(owner.peer, { peer: observers[1]!.peer, store: second })
    assert.deepEqual(await notes(first), [])
    assert.equal(dumpStore(observers[0]!.peer, ['views']).replaceAll(observers[0]!.peer.peerId, ''), dumpStore(observers[1]!.peer, ['views']).replaceAll(observers[1]!.peer.peerId, ''))
  })

  it('admits no one on the word of a member who is no admin, whatever the default role', async () => {
    const open = await owner.peer.newStore({ variant: ThreadVariant.AccessControlled, defaultRole: 'write' })
    await open.registerSchema('Note', { type: 'object' })
    const member = await tempPeer(OFFLINE)
    const puppet = await tempPeer(OFFLINE)
    observers.push(member, puppet)
    const invite = await open.invite(member.peer.peerId)
    const memberKey = Ed25519PrivateKey.generate()
    const memberJoin = await handMadeJoin({ store: open, joiner: member.peer, logKey: memberKey, invite: invite.id, token: toHex(invite.open(await peerIdentity(member.peer.storage)).token) })
    // The member, a writer and no admin, invites a peer of its own making by hand: the API would refuse it.
    const { id, token } = inviteSecrets()
    const now = Date.now()
    const admitted: ControlEvent = { type: 'invite', id, invitee: puppet.peer.peerId, role: 'write', expires: now + 60_000, tokenHash: tokenHash(token) }
    const memberLog = handMadeLog(open, [{ wall: now + 5, control: [memberJoin] }, { wall: now + 6, control: [admitted] }], memberKey)
    const puppetKey = Ed25519PrivateKey.generate()
    const puppetJoin = { ...await handMadeJoin({ store: open, joiner: puppet.peer, logKey: puppetKey, invite: id, token: toHex(token) }), inviterLog: memberKey.publicKey.logId }
    const puppetLog = handMadeLog(open, [{ wall: now + 7, control: [puppetJoin] }, { wall: now + 8, events: [create('by-the-puppet')] }], puppetKey)
    for (const log of [memberLog, puppetLog]) for (const record of log.records) await open.ingest(log.logId, record).catch(() => undefined)
    assert.deepEqual(await notes(open), [])
  })

  it('counts a log\'s records as its peer\'s only from its Join on', async () => {
    // A peer that held the key before it was invited wrote into the same log it later joins with.
    const early = await tempPeer(OFFLINE)
    observers.push(early)
    const earlyDb = await early.peer.openStore(ownerDb.id, { key: ownerDb.key })
    await carry(owner.peer, { peer: early.peer, store: earlyDb })
    const invite = await ownerDb.invite(early.peer.peerId)
    const logId = earlyDb.logId!
    await assert.rejects(earlyDb.collection('Note').create([{ _id: 'before-join' }]), { code: 'ERR_ACCESS_DENIED' })
    // What the API refuses, the peer signs by hand, as the first record of its own log: the Join will follow it there.
    const early1 = handMadeLog(ownerDb, [{ wall: Date.now(), events: [create('before-join')] }], early.peer.logs.keys.privateKey(ownerDb.id, logId))
    assert.equal(early1.logId, logId)
    await earlyDb.ingest(logId, early1.records[0]!)
    await early.peer.join(invite)
    // Offline, the owner's records come by hand: the invite arrives after the Join that answers it.
    await carry(owner.peer, { peer: early.peer, store: earlyDb })
    await earlyDb.collection('Note').create([{ _id: 'after-join' }])
    const witness = await observer()
    for (const [db, peer] of [[ownerDb, owner.peer], [witness, observers.at(-1)!.peer]] as const) {
      await carry(early.peer, { peer, store: db })
      assert.ok((await notes(db)).includes('after-join'))
      assert.ok(!(await notes(db)).includes('before-join'))
      assert.equal(peer.logs.head(db.id, logId).counter, 3, 'the record before the Join, the Join and the one after, all in one log')
    }
    assert.equal(logId, earlyDb.logId, 'the same log before and after the Join')
  })

  it('refuses a record dated further ahead than clocks may drift, keeping nothing of it', async () => {
    const db = await observer()
    await carry(owner.peer, { peer: observers.at(-1)!.peer, store: db })
    const before = dumpStore(observers.at(-1)!.peer)
    const future = handMadeLog(ownerDb, [{ wall: Date.now() + 3 * 24 * 3_600_000, events: [create('future')] }])
    await assert.rejects(db.ingest(future.logId, future.records[0]!), InvalidClockError)
    assert.equal(dumpStore(observers.at(-1)!.peer), before)
  })

  it('keeps an invite its own even when another member makes one with the same ID, earlier', async () => {
    const carol = await tempPeer(OFFLINE)
    observers.push(carol)
    // Bob is a member (a log bound to him by a Join); then the owner invites carol.
    const bobs = await ownerDb.invite(bob.peer.peerId)
    const identity = await peerIdentity(bob.peer.storage)
    const logKey = Ed25519PrivateKey.generate()
    const joined = Date.now()
    await new Promise(resolve => setTimeout(resolve, 10))
    const invite = await ownerDb.invite(carol.peer.peerId)
    // Bob copies the ID of carol's invite into an invite of his own, dated before it.
    const join = await handMadeJoin({ store: ownerDb, joiner: bob.peer, logKey, invite: bobs.id, token: toHex(bobs.open(identity).token) })
    const squat: ControlEvent = { type: 'invite', id: invite.id, invitee: carol.peer.peerId, role: 'write', expires: Date.now() + 60_000, tokenHash: '00'.repeat(32) }
    const bobLog = handMadeLog(ownerDb, [{ wall: joined + 1, control: [join] }, { wall: joined + 2, control: [squat] }], logKey)
    for (const record of bobLog.records) await ownerDb.ingest(bobLog.logId, record)
    const carolDb = await carol.peer.join(invite)
    await carry(owner.peer, { peer: carol.peer, store: carolDb })
    await carolDb.collection('Note').create([{ _id: 'by-carol' }])
    await carry(carol.peer, { peer: owner.peer, store: ownerDb })
    assert.ok((await notes(ownerDb)).includes('by-carol'), 'carol\'s Join answers the owner\'s invite, whoever else used its ID')
  })

  it('refuses names too long to be keys with typed errors, and indexes values of any length', async () => {
    await assert.rejects(ownerDb.collection('Note').create([{ _id: 'x'.repeat(600) }]), SchemaViolationError)
    await assert.rejects(ownerDb.registerSchema('C'.repeat(300), { type: 'object' }), { code: 'ERR_INVALID_SCHEMA' })
    assert.throws(() => ownerDb.acl.entity('N'.repeat(1000), 'y'), InvalidArgumentError)
    await ownerDb.registerSchema('Tagged', { type: 'object' }, { indexes: [{ path: 'tag' }] })
    const [tagged] = await ownerDb.collection('Tagged').create([{ tag: 't'.repeat(600) }])
    assert.deepEqual((await ownerDb.collection('Tagged').find(Query.where('tag').eq('t'.repeat(600)))).map(entity => entity._id), [tagged])
    const db = await observer()
    const long = handMadeLog(ownerDb, [{ wall: Date.now(), events: [create('z'.repeat(600))] }])
    await assert.rejects(db.ingest(long.logId, long.records[0]!), { code: 'ERR_MALFORMED_BLOCK' })
  })

  it('holds at most 16 unanswered invites from one inviter', async () => {
    const pestered = await tempPeer({ invites: { retryMs: 60_000 } })
    observers.push(pestered)
    const attacker = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    try {
      const pest = Ed25519PrivateKey.generate()
      const made = (by = pest): Invite => {
        const { id, token } = inviteSecrets()
        return Invite.seal({
          id, threadId: ownerDb.id, inviter: by.publicKey.logId, inviterLog: by.publicKey.logId, invitee: pestered.peer.peerId, role: 'read',
          expires: Date.now() + 60_000, key: ownerDb.key, logs: [], time: { wall: Date.now(), counter: 0 }, token
        }, by)
      }
      const deliver = async (by = pest): Promise<unknown> => await askOnce(attacker, pestered.peer.addresses[0]!, { type: 'invite', invite: made(by).bytes })
      for (let i = 0; i < 16; i++) await deliver()
      assert.equal(pestered.peer.invites().length, 16)
      await assert.rejects(deliver(), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === TooManyInvitesError.code)
      assert.equal(pestered.peer.invites().length, 16)
      // The cap is the inviter's: another inviter's invite still comes in.
      await deliver(Ed25519PrivateKey.generate())
      assert.equal(pestered.peer.invites().length, 17)
    } finally {
      await attacker.stop()
    }
  })
})
