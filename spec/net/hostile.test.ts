import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Store } from '../../actors/store.ts'
import { createRecord } from '../../codecs/record.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { serviceKeyProof, type Request } from '../../codecs/wire.ts'
import { createThreadsNode, type ThreadsNode } from '../../net/node.ts'
import { request, RequestFailedError } from '../../net/requests.ts'
import { flipByte } from '../helpers/tamper.ts'
import { dumpStore, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

/** A peer that holds the thread's key and pushes what it should not: each refused, typed, counted, harmless. */
describe('bad input from the network', () => {
  let honest: TempPeer
  let source: TempPeer
  let db: Store
  let sourceDb: Store
  let attacker: ThreadsNode

  before(async () => {
    honest = await tempPeer()
    source = await tempPeer({ network: false })
    db = await honest.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    sourceDb = await source.peer.openStore(db.id, { key: db.key })
    for (const record of honest.peer.logs.records(db.id, db.logId!)) await sourceDb.ingest(db.logId!, record.blocks)
    for (let i = 0; i < 3; i++) await sourceDb.collection('Note').create([{ i }])
    attacker = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
  })

  after(async () => {
    await attacker.stop()
    await honest.dispose()
    await source.dispose()
  })

  const proof = (): Uint8Array => serviceKeyProof(db.key.service, attacker.peerId.toString(), db.id)
  const push = async (message: Omit<Extract<Request, { type: 'push-records' }>, 'type' | 'threadId' | 'proof'>): Promise<void> => {
    await request(attacker, honest.peer.addresses[0]!, { type: 'push-records', threadId: db.id, proof: proof(), ...message })
  }
  const refusedWith = (code: string) => (e: unknown): boolean => e instanceof RequestFailedError && e.remoteCode === code
  const counted = (code: string): number => honest.peer.refusals.get(attacker.peerId.toString())?.get(code) ?? 0
  const sourceRecords = () => source.peer.logs.records(db.id, sourceDb.logId!)

  it('refuses forged and foreign records, ignores replays, and counts both, changing nothing', async () => {
    const before = dumpStore(honest.peer)
    const [first, second] = sourceRecords()
    await assert.rejects(push({ logId: sourceDb.logId!, records: [{ ...first!.blocks, body: flipByte(first!.blocks.body, 12) }] }), refusedWith('ERR_BLOCK_INTEGRITY'))
    await assert.rejects(push({ logId: db.logId!, records: [first!.blocks] }), refusedWith('ERR_INVALID_SIGNATURE'))
    assert.equal(dumpStore(honest.peer), before)
    await push({ logId: sourceDb.logId!, records: [first!.blocks] })
    const afterFirst = dumpStore(honest.peer)
    // A record already held is answered as fine (pushes and pulls cross paths honestly), counted, and ignored.
    await push({ logId: sourceDb.logId!, records: [first!.blocks] })
    assert.equal(counted('ERR_RECORD_REPLAYED'), 1)
    assert.equal(dumpStore(honest.peer), afterFirst, 'a replay changes nothing')
    await push({ logId: sourceDb.logId!, records: [second!.blocks] })
    assert.equal((await db.collection('Note').find()).length, 2)
    assert.ok(counted('ERR_BLOCK_INTEGRITY') >= 1)
    assert.ok(counted('ERR_INVALID_SIGNATURE') >= 1)
  })

  it('refuses a fork pushed over the network: a second record on a prev it already holds', async () => {
    const [first] = sourceRecords()
    const logKey = source.peer.logs.keys.privateKey(db.id, sourceDb.logId!)!
    const fork = createRecord({ body: { codec: 'json-patch', events: new Uint8Array([0x5b, 0x5d]) }, time: { wall: Date.now(), counter: 0 }, prev: first!.cid, logKey, threadKey: db.key })
    const before = dumpStore(honest.peer)
    await assert.rejects(push({ logId: sourceDb.logId!, records: [fork.blocks] }), refusedWith('ERR_LOG_FORK'))
    assert.equal(counted('ERR_LOG_FORK'), 1)
    assert.equal(dumpStore(honest.peer), before)
  })

  it('refuses requests about threads it does not hold, without saying whether it holds them', async () => {
    const stranger = ThreadId.create()
    await assert.rejects(request(attacker, honest.peer.addresses[0]!, { type: 'get-logs', threadId: stranger, proof: serviceKeyProof(db.key.service, attacker.peerId.toString(), stranger) }), refusedWith('ERR_INVALID_PROOF'))
    const edges = await request(attacker, honest.peer.addresses[0]!, { type: 'get-edges', threads: [{ threadId: stranger, proof: proof() }, { threadId: db.id, proof: proof() }] })
    assert.deepEqual(edges.type === 'edges' ? edges.edges.map(edge => edge.threadId.toString()) : [], [db.id.toString()])
  })
})
