import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { encodeRecordBody, type ControlEvent } from '../../codecs/event-codec.ts'
import { createRecord } from '../../codecs/record.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import { AccessDeniedError, ReadOnlyStoreError } from '../../storage/errors.ts'
import { carry } from '../helpers/carry.ts'
import { handMadeJoin } from '../helpers/hand-made-join.ts'
import { dumpStore, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

const OFFLINE = { network: false, invites: { retryMs: 60_000 } } as const
const notes = async (db: Store): Promise<string[]> => (await db.collection('Note').find()).map(note => String(note.text)).sort()
const codes = (db: Store): string[] => db.acl.refused().map(refusal => refusal.code)


describe('access-controlled threads', () => {
  let owner: TempPeer
  let writer: TempPeer
  let reader: TempPeer
  let ownerDb: Store
  let writerDb: Store
  let readerDb: Store

  before(async () => {
    owner = await tempPeer(OFFLINE)
    writer = await tempPeer(OFFLINE)
    reader = await tempPeer(OFFLINE)
    ownerDb = await owner.peer.newStore({ variant: ThreadVariant.AccessControlled })
    await ownerDb.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
    await ownerDb.collection('Note').create([{ _id: 'n1', text: 'by the owner' }])
    writerDb = await writer.peer.join((await ownerDb.invite(writer.peer.peerId, { role: 'write' })).toString())
    readerDb = await reader.peer.join((await ownerDb.invite(reader.peer.peerId, { role: 'read' })).toString())
    await carry(owner.peer, { peer: writer.peer, store: writerDb })
    await carry(owner.peer, { peer: reader.peer, store: readerDb })
  })

  after(async () => {
    await Promise.all([owner.dispose(), writer.dispose(), reader.dispose()])
  })

  it('starts with its owner, proven by the thread ID, as the only writer and ACL admin', () => {
    assert.deepEqual(ownerDb.acl.admin.get(), { default: 'no-access', peers: { [owner.peer.peerId]: ['write', 'delete'] } })
    const acl = ownerDb.acl.get()
    assert.deepEqual(acl.peers[owner.peer.peerId], ['write', 'delete'])
    assert.deepEqual(acl.peers[writer.peer.peerId], ['write'])
    assert.deepEqual(acl.peers[reader.peer.peerId], ['read'])
    assert.deepEqual(writerDb.acl.get(), acl, 'the writer folded the same ACL')
  })

  it('applies an invited writer\'s records once its Join and grant are known, whatever arrived first', async () => {
    await writerDb.collection('Note').create([{ _id: 'w1', text: 'by the writer' }])
    await carry(writer.peer, { peer: owner.peer, store: ownerDb })
    await carry(writer.peer, { peer: reader.peer, store: readerDb })
    assert.deepEqual(await notes(ownerDb), ['by the owner', 'by the writer'])
    assert.deepEqual(await notes(readerDb), ['by the owner', 'by the writer'])
    assert.deepEqual(codes(ownerDb), [])
  })

  it('lets a reader read and not write', async () => {
    await assert.rejects(readerDb.collection('Note').create([{ text: 'no' }]), (e: unknown) => e instanceof ReadOnlyStoreError && e.code === 'ERR_READ_ONLY')
  })

  it('refuses a grant by a peer without ACL rights: typed, kept, nothing applied', async () => {
    await assert.rejects(writerDb.acl.grant(reader.peer.peerId, 'write'), (e: unknown) => e instanceof AccessDeniedError && e.code === 'ERR_ACCESS_DENIED')
    // The same grant, authored anyway by a hostile copy of the writer's log, changes nothing anywhere.
    const logKey = Ed25519PrivateKey.generate()
    const control: ControlEvent[] = [
      await handMadeJoin({ store: ownerDb, joiner: writer.peer, logKey, invite: 'none', token: '00' }),
      { type: 'acl', op: 'grant', target: { kind: 'thread' }, peer: reader.peer.peerId, roles: ['write'], observed: [] }
    ]
    const record = createRecord({ body: encodeRecordBody({ codec: 'json-patch', events: [], control }), time: { wall: Date.now(), counter: 0 }, logKey, threadKey: ownerDb.key })
    const acl = ownerDb.acl.get()
    const views = dumpStore(owner.peer, ['views'])
    await ownerDb.ingest(logKey.publicKey.logId, record.blocks)
    assert.deepEqual(ownerDb.acl.get(), acl)
    assert.equal(dumpStore(owner.peer, ['views']), views)
    assert.ok(codes(ownerDb).includes('ERR_JOIN_MISMATCH'))
    assert.ok(codes(ownerDb).includes('ERR_ACCESS_DENIED'))
  })

  it('never shows a record by a log that belongs to no member', async () => {
    const logKey = Ed25519PrivateKey.generate()
    const body = encodeRecordBody({ codec: 'json-patch', events: [{ type: 'create', collection: 'Note', id: 'x1', patch: [{ op: 'replace', path: '', value: { _id: 'x1', text: 'intruder' } }] }] })
    const record = createRecord({ body, time: { wall: Date.now(), counter: 0 }, logKey, threadKey: ownerDb.key })
    const before = await notes(ownerDb)
    await ownerDb.ingest(logKey.publicKey.logId, record.blocks)
    assert.deepEqual(await notes(ownerDb), before)
    assert.equal(ownerDb.acl.refused().at(-1)?.logId, logKey.publicKey.logId)
  })

  it('needs delete to delete, and honours an entity\'s own ACL', async () => {
    await assert.rejects(writerDb.collection('Note').delete(['n1']), (e: unknown) => e instanceof AccessDeniedError)
    await ownerDb.acl.entity('Note', 'n1').grant(owner.peer.peerId, ['write', 'delete'])
    await carry(owner.peer, { peer: writer.peer, store: writerDb })
    await assert.rejects(writerDb.collection('Note').save([{ _id: 'n1', text: 'changed by the writer' }]), (e: unknown) => e instanceof AccessDeniedError)
    await writerDb.collection('Note').save([{ _id: 'w1', text: 'by the writer, again' }])
    await ownerDb.acl.grant(writer.peer.peerId, 'delete')
    await carry(owner.peer, { peer: writer.peer, store: writerDb })
    await writerDb.collection('Note').delete(['w1'])
    await carry(writer.peer, { peer: owner.peer, store: ownerDb })
    assert.deepEqual(await notes(ownerDb), ['by the owner'])
  })

  it('keeps an entity\'s ACL apart from every other entity\'s, however long its collection\'s name and its ID', async () => {
    const collection = 'SharedProjectDocuments'
    const id = '0190f3a2-7b1c-7def-8abc-1234567890ab'
    await ownerDb.registerSchema(collection, { type: 'object', properties: { text: { type: 'string' } } })
    await ownerDb.registerSchema('Docs\u0000secret', { type: 'object' })
    await ownerDb.collection(collection).create([{ _id: id, text: 'by the owner' }])
    await ownerDb.acl.entity(collection, id).grant(owner.peer.peerId, ['write', 'delete'])
    await ownerDb.acl.entity('Docs\u0000secret', 'x').grant(owner.peer.peerId, ['write'])
    await carry(owner.peer, { peer: writer.peer, store: writerDb })
    assert.deepEqual(Object.keys(ownerDb.acl.entity(collection, id).get().peers), [owner.peer.peerId])
    assert.deepEqual(ownerDb.acl.entity('Docs', 'secret\u0000x').get().peers, {}, 'no other entity\'s ACL')
    await assert.rejects(writerDb.collection(collection).save([{ _id: id, text: 'changed by the writer' }]), (e: unknown) => e instanceof AccessDeniedError)
    assert.equal((await ownerDb.collection(collection).findById(id))?.text, 'by the owner')
  })

  it('refuses ACL changes in a raw thread', async () => {
    const raw = await owner.peer.newStore()
    await assert.rejects(raw.acl.grant(writer.peer.peerId, 'read'), (e: unknown) => e instanceof AccessDeniedError)
  })
})
