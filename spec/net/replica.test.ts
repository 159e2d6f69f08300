import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { randomSymmetricKey } from '../../codecs/aead.ts'
import { DecryptionError } from '../../codecs/errors.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { encodeRecordBody, type StoreEvent } from '../../codecs/event-codec.ts'
import { createRecord } from '../../codecs/record.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { serviceKeyProof } from '../../codecs/wire.ts'
import { createThreadsNode } from '../../net/node.ts'
import { RequestFailedError } from '../../net/requests.ts'
import { pullThread } from '../../net/sync.ts'
import { askOnce, withRequester } from '../helpers/ask-once.ts'
import { MissingKeyError } from '../../storage/errors.ts'
import { tempPeer, until } from '../helpers/temp-peer.ts'

const SECRET = 'PLAINTEXT-SECRET-7f3a91'

/** Everything the peer has written to disk, as one buffer. */
async function diskOf (path: string): Promise<Buffer> {
  const files = await readdir(path)
  return Buffer.concat(await Promise.all(files.map(async file => await readFile(join(path, file)))))
}

describe('replicas', () => {
  it('store and serve a thread they cannot read, and readers catch up from them while the writer is away', async () => {
    const writer = await tempPeer()
    const replica = await tempPeer({ replicateFor: [writer.peer.peerId] })
    const reader = await tempPeer()
    try {
      const db = await writer.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      await db.addReplicator(replica.peer.addresses[0]!)
      for (let i = 0; i < 20; i++) await db.collection('Note').create([{ text: `${SECRET} ${i}` }])
      const head = (): number => writer.peer.logs.head(db.id, db.logId!).counter
      const replicaHead = (): number => replica.peer.logs.hasThread(db.id) && replica.peer.logs.hasLog(db.id, db.logId!)
        ? replica.peer.logs.head(db.id, db.logId!).counter
        : 0
      await until(() => replicaHead() === head(), 'the replica to hold every record', 10_000)

      const [held] = replica.peer.logs.records(db.id, db.logId!, { direction: 'backward', limit: 1 })
      assert.throws(() => replica.peer.logs.content(held!), (e: unknown) => e instanceof MissingKeyError && e.code === 'ERR_MISSING_KEY')
      assert.equal(replica.peer.logs.getThread(db.id).key.canRead, false, 'it was given the service key only')
      assert.equal(replica.peer.logs.verifyLog(db.id, db.logId!).records, head(), 'it verified every record it holds')
      assert.equal((await diskOf(replica.path)).includes(SECRET), false, 'no plaintext anywhere in its LMDB files')
      assert.equal((await diskOf(writer.path)).includes(SECRET), true, 'the same check finds it where it is readable')

      const readerDb = await reader.peer.openStore(db.address!, { key: db.key })
      assert.equal((await readerDb.collection('Note').find()).length, 20)
      const id = db.id
      await reader.peer.close()
      for (let i = 20; i < 30; i++) await db.collection('Note').create([{ text: `${SECRET} ${i}` }])
      await until(() => replicaHead() === head(), 'the replica to hold the later records', 10_000)
      await writer.peer.close()

      const back = await reader.reopen()
      const again = await back.store(id)
      await again.sync()
      await until(async () => (await again.collection('Note').find()).length === 30, 'the reader to catch up from the replica', 10_000)
    } finally {
      await writer.dispose().catch(() => {})
      await replica.dispose()
      await reader.dispose()
    }
  })

  it('stay among the addresses of the log, while the writer\'s own addresses from before a restart go', async () => {
    const writer = await tempPeer()
    const replica = await tempPeer({ replicateFor: [writer.peer.peerId] })
    try {
      const db = await writer.peer.newStore()
      const at = replica.peer.addresses[0]!.toString()
      await db.addReplicator(replica.peer.addresses[0]!)
      const before = writer.peer.addresses.map(String)
      const back = await writer.reopen()
      const again = await back.store(db.id)
      const now = back.addresses.map(String)
      assert.notDeepEqual(now, before, 'the restarted writer listens on another port')
      const held = back.logs.addrs.addrs(db.id, again.logId!).map(String).sort()
      assert.deepEqual(held, [...now, at].sort(), 'where the writer listens now, and the replica')
    } finally {
      await writer.dispose()
      await replica.dispose()
    }
  })

  it('catch up on a long log by pulling it, linking every record in order', async () => {
    const writer = await tempPeer()
    const replica = await tempPeer({ replicateFor: [writer.peer.peerId] })
    try {
      const db = await writer.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      for (let n = 0; n < 400; n += 50) await Promise.all(Array.from({ length: 50 }, async (_, i) => await db.collection('Note').create([{ n: n + i }])))
      await db.addReplicator(replica.peer.addresses[0]!)
      const head = writer.peer.logs.head(db.id, db.logId!).counter
      await until(() => replica.peer.logs.hasLog(db.id, db.logId!) && replica.peer.logs.head(db.id, db.logId!).counter === head, `all ${head} records at the replica`, 20_000)
      assert.equal(replica.peer.logs.verifyLog(db.id, db.logId!).records, head)
      assert.equal(replica.peer.refusals.size, 0)
    } finally {
      await writer.dispose()
      await replica.dispose()
    }
  })

  it('are made only for the peers they replicate for: a stranger\'s request is refused, typed, and changes nothing', async () => {
    const stranger = await tempPeer()
    const careful = await tempPeer()
    const open = await tempPeer({ replicateFor: 'anyone' })
    try {
      const db = await stranger.peer.newStore()
      await assert.rejects(db.addReplicator(careful.peer.addresses[0]!), (e: unknown) =>
        e instanceof RequestFailedError && e.remoteCode === 'ERR_REPLICATION_REFUSED')
      assert.equal(careful.peer.logs.hasThread(db.id), false, 'no key taken, no thread held')
      assert.equal(careful.peer.refusals.get(stranger.peer.peerId)?.get('ERR_REPLICATION_REFUSED'), 1, 'and the refusal is counted')
      await db.addReplicator(open.peer.addresses[0]!)
      await until(() => open.peer.logs.hasThread(db.id), 'a peer that replicates for anyone to take the thread', 10_000)
    } finally {
      await stranger.dispose()
      await careful.dispose()
      await open.dispose()
    }
  })
})

describe('a replica holding a log no reader can read', () => {
  /** A writer's store with one note, replicated; `plant` seals a log no read key opens and pushes it to the replica. */
  const replicated = async () => {
    const writer = await tempPeer()
    const replica = await tempPeer({ replicateFor: [writer.peer.peerId] })
    const attacker = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    const db = await writer.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    await db.collection('Note').create([{ _id: 'real' }])
    await db.addReplicator(replica.peer.addresses[0]!)
    await until(() => replica.peer.logs.hasLog(db.id, db.logId!) && replica.peer.logs.head(db.id, db.logId!).counter === writer.peer.logs.head(db.id, db.logId!).counter, 'the replica to hold the log', 10_000)
    // Whoever holds the service key, as every replica does, can seal logs no read key opens.
    const events: StoreEvent[] = [{ type: 'create', collection: 'Note', id: 'junk', patch: [{ op: 'replace', path: '', value: { _id: 'junk' } }] }]
    const plant = async (junkKey: Ed25519PrivateKey): Promise<void> => {
      const junk = createRecord({ body: encodeRecordBody({ codec: 'json-patch', events }), time: { wall: Date.now(), counter: 0 }, logKey: junkKey, threadKey: ThreadKey.of(db.key.service, randomSymmetricKey()) })
      await askOnce(attacker, replica.peer.addresses[0]!, { type: 'push-records', threadId: db.id, proof: serviceKeyProof(db.key.service, attacker.peerId.toString(), db.id), logId: junkKey.publicKey.logId, records: [junk.blocks] })
    }
    const dispose = async (): Promise<void> => {
      await attacker.stop()
      for (const temp of [writer, replica]) await temp.dispose()
    }
    return { writer, replica, db, plant, dispose }
  }

  it('keeps readers who open the thread from it, and itself once invited to read, from being stopped by that log', async () => {
    const { replica, db, plant, dispose } = await replicated()
    const reader = await tempPeer()
    try {
      // Planted logs that sort before the thread's own, so a reader meets them first.
      for (let planted = 0; planted < 40;) {
        const junkKey = Ed25519PrivateKey.generate()
        if (junkKey.publicKey.logId >= db.logId!) continue
        await plant(junkKey)
        planted++
      }
      assert.equal(replica.peer.logs.getThread(db.id).logs.length, 41)

      const opened = await reader.peer.openStore(`${replica.peer.addresses[0]!.toString()}/thread/${db.id.toString()}`, { key: db.key })
      assert.deepEqual((await opened.collection('Note').find()).map(note => note._id), ['real'])
      const joined = await replica.peer.join(await db.invite(replica.peer.peerId, { role: 'read' }))
      await until(async () => (await joined.collection('Note').find()).length === 1, 'the replica, now a reader, to read the note', 10_000)
      assert.deepEqual((await (await replica.peer.store(db.id)).collection('Note').find()).map(note => note._id), ['real'])
    } finally {
      await reader.dispose()
      await dispose()
    }
  })

  it('names the log a pull could not take in, beside the records it took of the others', async () => {
    const { writer, replica, db, plant, dispose } = await replicated()
    const reader = await tempPeer({ network: false })
    const taker = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    try {
      const junkKey = Ed25519PrivateKey.generate()
      await plant(junkKey)
      const local = await reader.peer.openStore(db.id, { key: db.key })
      const pulled = await withRequester(taker, async requester => await pullThread({
        requester,
        logs: reader.peer.logs,
        peer: replica.peer.addresses[0]!,
        threadId: db.id,
        key: db.key,
        take: async (logId, records) => { for (const record of records) await local.ingest(logId, record) },
        learn: async () => {}
      }))
      assert.equal(pulled.records, writer.peer.logs.head(db.id, db.logId!).counter, 'every record of the writer\'s log came')
      assert.deepEqual(pulled.failed.map(failure => failure.logId), [junkKey.publicKey.logId])
      assert.ok(pulled.failed[0]!.error instanceof DecryptionError)
      assert.deepEqual((await local.collection('Note').find()).map(note => note._id), ['real'])
    } finally {
      await taker.stop()
      await reader.dispose()
      await dispose()
    }
  })
})
