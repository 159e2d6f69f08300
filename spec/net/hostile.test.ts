import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import type { Store } from '../../actors/store.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { createRecord } from '../../codecs/record.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { encodeUvarint } from '../../codecs/varint.ts'
import { encodeGossip, frame, PROTOCOL, serviceKeyProof, type Request } from '../../codecs/wire.ts'
import { createThreadsNode, type ThreadsNode } from '../../net/node.ts'
import { RequestFailedError } from '../../net/requests.ts'
import { askOnce, withRequester } from '../helpers/ask-once.ts'
import { offlineWriter, type OfflineWriter } from '../helpers/offline-writer.ts'
import { pushRecords } from '../../net/sync.ts'
import { flipByte } from '../helpers/tamper.ts'
import { dumpStore, tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'

/** A peer that holds the thread's key and pushes what it should not: each refused, typed, counted, harmless. */
describe('bad input from the network', () => {
  let honest: TempPeer
  let source: TempPeer
  let db: Store
  let sourceDb: Store
  let attacker: ThreadsNode
  let setup: OfflineWriter

  before(async () => {
    setup = await offlineWriter()
    ;({ honest, source, db, sourceDb, sender: attacker } = setup)
    for (let i = 0; i < 3; i++) await sourceDb.collection('Note').create([{ i }])
  })

  after(async () => {
    await setup.dispose()
  })

  const proof = (): Uint8Array => serviceKeyProof(db.key.service, attacker.peerId.toString(), db.id)
  const push = async (message: Omit<Extract<Request, { type: 'push-records' }>, 'type' | 'threadId' | 'proof'>): Promise<void> => {
    await askOnce(attacker, honest.peer.addresses[0]!, { type: 'push-records', threadId: db.id, proof: proof(), ...message })
  }
  const refusedWith = (code: string) => (e: unknown): boolean => e instanceof RequestFailedError && e.remoteCode === code
  const counted = (code: string): number => honest.peer.refusals.get(attacker.peerId.toString())?.get(code) ?? 0
  const sourceRecords = () => source.peer.logs.records(db.id, sourceDb.logId!)

  it('refuses forged, foreign and replayed records, and counts each, changing nothing', async () => {
    const before = dumpStore(honest.peer)
    const [first, second] = sourceRecords()
    await assert.rejects(push({ logId: sourceDb.logId!, records: [{ ...first!.blocks, body: flipByte(first!.blocks.body, 12) }] }), refusedWith('ERR_BLOCK_INTEGRITY'))
    await assert.rejects(push({ logId: db.logId!, records: [first!.blocks] }), refusedWith('ERR_INVALID_SIGNATURE'))
    assert.equal(dumpStore(honest.peer), before)
    await push({ logId: sourceDb.logId!, records: [first!.blocks] })
    const afterFirst = dumpStore(honest.peer)
    // A record already held is refused with its own code and counted; pushes and pulls cross paths honestly, so an
    // honest pusher takes the answer as delivered.
    await assert.rejects(push({ logId: sourceDb.logId!, records: [first!.blocks] }), refusedWith('ERR_RECORD_REPLAYED'))
    assert.equal(counted('ERR_RECORD_REPLAYED'), 1)
    await withRequester(attacker, async requester => {
      await pushRecords({ requester, peer: honest.peer.addresses[0]!, threadId: db.id, key: db.key, logId: sourceDb.logId!, records: [first!.blocks] })
    })
    assert.equal(counted('ERR_RECORD_REPLAYED'), 2, 'the pusher took the refusal as delivered, and it was counted')
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

  it('keeps only the addresses it can store of those a peer announces for its log', async () => {
    const logId = attacker.peerId.toString()
    const at = (host: string): Multiaddr => multiaddr(`/dns4/${host}/tcp/1/p2p/${logId}`)
    const addrs = [at('good.example'), at(`${'a'.repeat(70)}\u0000b`), at('a'.repeat(600))]
    await askOnce(attacker, honest.peer.addresses[0]!, { type: 'push-log', threadId: db.id, proof: proof(), logId, addrs: addrs.map(addr => addr.bytes) })
    assert.deepEqual(honest.peer.logs.addrs.addrs(db.id, logId).map(addr => addr.toString()), [addrs[0]!.toString()])
  })

  it('refuses requests about threads it does not hold, without saying whether it holds them', async () => {
    const stranger = ThreadId.create()
    await assert.rejects(askOnce(attacker, honest.peer.addresses[0]!, { type: 'get-logs', threadId: stranger, proof: serviceKeyProof(db.key.service, attacker.peerId.toString(), stranger) }), refusedWith('ERR_INVALID_PROOF'))
    const edges = await askOnce(attacker, honest.peer.addresses[0]!, { type: 'get-edges', threads: [{ threadId: stranger, proof: proof() }, { threadId: db.id, proof: proof() }] })
    assert.deepEqual(edges.type === 'edges' ? edges.edges.map(edge => edge.threadId.toString()) : [], [db.id.toString()])
  })
})

/**
 * Peers that flood, stall and ask for what they have no key to, against two honest peers syncing one store: the
 * honest ones stay up, keep syncing, take in nothing bad, count every refusal per peer, and disconnect a peer
 * once it has been refused often enough.
 */
describe('hostile peers', () => {
  const misbehaviour = { threshold: 20, windowMs: 60_000, banMs: 1500 }
  let a: TempPeer
  let b: TempPeer
  let dbA: Store
  let dbB: Store
  const nodes: ThreadsNode[] = []

  before(async () => {
    a = await tempPeer({ misbehaviour })
    b = await tempPeer({ misbehaviour })
    dbA = await a.peer.newStore()
    await dbA.registerSchema('Note', { type: 'object' })
    dbB = await b.peer.openStore(dbA.address!, { key: dbA.key })
  })

  after(async () => {
    for (const node of nodes) await node.stop()
    await a.dispose()
    await b.dispose()
  })

  const attackerNode = async (): Promise<ThreadsNode> => {
    const node = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    nodes.push(node)
    return node
  }
  const counted = (peer: TempPeer, attacker: ThreadsNode, code: string): number => peer.peer.refusals.get(attacker.peerId.toString())?.get(code) ?? 0
  const stillSyncing = async (text: string): Promise<void> => {
    await dbA.collection('Note').create([{ _id: text, text }])
    await until(async () => await dbB.collection('Note').findById(text) !== undefined, `"${text}" to reach the other honest peer`, 10_000)
  }

  it('refuses an oversized record before reading it, and changes nothing', async () => {
    const attacker = await attackerNode()
    const logKey = Ed25519PrivateKey.generate()
    const huge = createRecord({ body: { blob: new Uint8Array(1024 * 1024 + 1) }, time: { wall: Date.now(), counter: 0 }, logKey, threadKey: dbA.key })
    const before = dumpStore(a.peer)
    await assert.rejects(askOnce(attacker, a.peer.addresses[0]!, {
      type: 'push-records', threadId: dbA.id, proof: serviceKeyProof(dbA.key.service, attacker.peerId.toString(), dbA.id), logId: logKey.publicKey.logId, records: [huge.blocks]
    }), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === 'ERR_BLOCK_TOO_LARGE')
    assert.equal(dumpStore(a.peer), before)
    assert.equal(counted(a, attacker, 'ERR_BLOCK_TOO_LARGE'), 1)
  })

  it('keeps syncing while a peer holds every stream it may open half-sent', async () => {
    const attacker = await attackerNode()
    const stall = async (): Promise<Stream> => {
      const stream = await attacker.dialProtocol(a.peer.addresses[0]!, PROTOCOL)
      stream.send(encodeUvarint(1000))
      return stream
    }
    const held: Stream[] = []
    for (let i = 0; i < 32; i++) held.push(await stall())
    // One more than a peer may have open is reset by the server.
    const extra = await attacker.dialProtocol(a.peer.addresses[0]!, PROTOCOL).catch(() => undefined)
    await until(() => extra === undefined || extra.status !== 'open', 'the stream past the limit to be reset', 2000)
    assert.ok(held.every(stream => stream.status === 'open'), 'the first 32 are held open')
    await stillSyncing('past the stalled streams')
    for (const stream of held) stream.abort(new Error('done stalling'))
  })

  it('counts a gossip flood on the thread\'s topic, keeps syncing, and disconnects the flooder for a while', async () => {
    const attacker = await attackerNode()
    const topic = dbA.id.toString()
    await attacker.dial(a.peer.addresses[0]!)
    await until(() => attacker.services.pubsub.getSubscribers(topic).some(peer => peer.toString() === a.peer.peerId), 'the flooder to see the honest peer on the topic', 5000)
    // Garbage, a request where gossip belongs, gossip without records, and records sealed with another thread's key, of
    // the thread's log and of a log not known here: none of it is a record to take, nor a log to learn. Each message differs, as gossip drops a
    // message seen before.
    const stranger = ThreadKey.random()
    const logKey = Ed25519PrivateKey.generate()
    const garbage = (i: number): Uint8Array => [
      Uint8Array.of(1, 2, 3, i),
      frame({ type: 'push-records', threadId: dbA.id, proof: new Uint8Array(32), logId: `${dbA.logId!}-${i}`, records: [] }),
      encodeGossip({ threadId: dbA.id, logId: `${dbA.logId!}-${i}`, records: [] }),
      encodeGossip({ threadId: dbA.id, logId: dbA.logId!, records: [createRecord({ body: { i }, time: { wall: Date.now(), counter: i }, logKey, threadKey: stranger }).blocks] }),
      encodeGossip({ threadId: dbA.id, logId: logKey.publicKey.logId, records: [createRecord({ body: { i }, time: { wall: Date.now(), counter: i }, logKey, threadKey: stranger }).blocks] })
    ][i % 5]!
    const before = dumpStore(a.peer)
    for (let i = 0; i < 60 && !a.peer.banned.has(attacker.peerId.toString()); i++) {
      await attacker.services.pubsub.publish(topic, garbage(i)).catch(() => undefined)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    await until(() => a.peer.banned.has(attacker.peerId.toString()), 'the flooder to be disconnected', 5000)
    const refused = [...(a.peer.refusals.get(attacker.peerId.toString()) ?? new Map<string, number>()).values()].reduce((sum, n) => sum + n, 0)
    assert.ok(refused >= misbehaviour.threshold, `refused ${refused} gossip messages`)
    assert.ok((a.peer.refusals.get(attacker.peerId.toString())?.get('ERR_DECRYPTION_FAILED') ?? 0) > 0, 'records sealed with another key refused for it')
    assert.equal(dumpStore(a.peer), before, 'nothing of it stored')
    assert.equal(a.peer.logs.hasLog(dbA.id, logKey.publicKey.logId), false, 'no log learnt from it')
    const passedOn = ['ERR_MALFORMED_MESSAGE', 'ERR_DECRYPTION_FAILED'].map(code => b.peer.refusals.get(a.peer.peerId!)?.get(code) ?? 0)
    assert.deepEqual(passedOn, [0, 0], 'and nothing of it passed on to the other honest peer')
    await until(() => attacker.getConnections(peerIdFromString(a.peer.peerId!)).length === 0, 'the flooder\'s connection to close', 5000)
    await stillSyncing('through the flood')
  })

  it('never holds replays against a peer, however many: pushes and pulls cross paths honestly', async () => {
    const attacker = await attackerNode()
    const [held] = a.peer.logs.records(dbA.id, dbA.logId!, { limit: 1 })
    const replay = async (): Promise<void> => {
      const proof = serviceKeyProof(dbA.key.service, attacker.peerId.toString(), dbA.id)
      await askOnce(attacker, a.peer.addresses[0]!, { type: 'push-records', threadId: dbA.id, proof, logId: dbA.logId!, records: [held!.blocks] })
    }
    for (let i = 0; i <= misbehaviour.threshold; i++) await assert.rejects(replay(), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === 'ERR_RECORD_REPLAYED')
    assert.equal(counted(a, attacker, 'ERR_RECORD_REPLAYED'), misbehaviour.threshold + 1, 'each replay refused and counted')
    assert.equal(a.peer.banned.has(attacker.peerId.toString()), false, 'and none held against the peer')
  })

  it('answers nothing to a peer without the key, and disconnects it once it keeps asking; it may come back later', async () => {
    const attacker = await attackerNode()
    const stranger = ThreadKey.random()
    const ask = async (): Promise<unknown> => await askOnce(attacker, a.peer.addresses[0]!, { type: 'get-logs', threadId: dbA.id, proof: serviceKeyProof(stranger.service, attacker.peerId.toString(), dbA.id) })
    for (let i = 1; i < misbehaviour.threshold; i++) await assert.rejects(ask(), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === 'ERR_INVALID_PROOF')
    // The request that crosses the threshold is refused and counted, and the answer is cut off with the connection.
    await assert.rejects(ask(), RequestFailedError)
    assert.equal(counted(a, attacker, 'ERR_INVALID_PROOF'), misbehaviour.threshold)
    assert.ok(a.peer.banned.has(attacker.peerId.toString()))
    await assert.rejects(ask(), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === undefined, 'refused before any request is read')
    assert.equal(counted(a, attacker, 'ERR_INVALID_PROOF'), misbehaviour.threshold)
    await stillSyncing('while the stranger is shut out')
    await until(() => !a.peer.banned.has(attacker.peerId.toString()) || Date.now() > a.peer.banned.get(attacker.peerId.toString())!, 'the ban to end', 5000)
    await new Promise(resolve => setTimeout(resolve, 50))
    await assert.rejects(ask(), (e: unknown) => e instanceof RequestFailedError && e.remoteCode === 'ERR_INVALID_PROOF', 'heard again, and refused again')
  })
})
