import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { MAX_FRAME_BYTES, MAX_RECORDS_PER_PAGE, recordWireBytes, serviceKeyProof, type LogRange } from '../../codecs/wire.ts'
import { pushRecords } from '../../net/sync.ts'
import { askOnce, withRequester } from '../helpers/ask-once.ts'
import { offlineWriter, type OfflineWriter } from '../helpers/offline-writer.ts'
import { tempPeer } from '../helpers/temp-peer.ts'

/**
 * More records than one message can carry, by count or by bytes, over real TCP: pushed a page at a time and pulled
 * a page at a time, with nothing refused on either side.
 */
describe('records beyond one message', () => {
  let w: OfflineWriter
  before(async () => { w = await offlineWriter() })
  after(async () => { await w.dispose() })

  const refusalsOf = (peer: string): number => [...(w.honest.peer.refusals.get(peer)?.values() ?? [])].reduce((sum, count) => sum + count, 0)

  /** Pushes the source's records from `from` on, as a writer pushes a backlog: all of them in one call. */
  const pushBacklog = async (from: number): Promise<void> => {
    const records = w.source.peer.logs.records(w.db.id, w.sourceDb.logId!, { from }).map(record => record.blocks)
    await withRequester(w.sender, async requester => {
      await pushRecords({ requester, peer: w.honest.peer.addresses[0]!, threadId: w.db.id, key: w.db.key, logId: w.sourceDb.logId!, records })
    })
  }

  it('pushes a backlog of more records than a message holds, a page at a time', async () => {
    const backlog = MAX_RECORDS_PER_PAGE + 200
    for (let n = 0; n < backlog; n += 100) {
      await Promise.all(Array.from({ length: 100 }, async (_, i) => await w.sourceDb.collection('Note').create([{ n: n + i }])))
    }
    await pushBacklog(1)
    assert.equal(w.honest.peer.logs.head(w.db.id, w.sourceDb.logId!).counter, backlog)
    assert.equal((await w.db.collection('Note').find()).length, backlog)
    assert.equal(refusalsOf(w.sender.peerId.toString()), 0, 'no page was refused')
  })

  it('pushes, and serves to a puller, records whose bytes together are more than a frame', async () => {
    const held = w.honest.peer.logs.head(w.db.id, w.sourceDb.logId!).counter
    const large = 12
    for (let i = 0; i < large; i++) await w.sourceDb.collection('Note').create([{ i, text: String(i % 10).repeat(500_000) }])
    const bytes = w.source.peer.logs.records(w.db.id, w.sourceDb.logId!, { from: held + 1 }).reduce((sum, record) => sum + recordWireBytes(record.blocks), 0)
    assert.ok(bytes > MAX_FRAME_BYTES, `the records take ${bytes} bytes, more than a frame`)
    await pushBacklog(held + 1)
    assert.equal(w.honest.peer.logs.head(w.db.id, w.sourceDb.logId!).counter, held + large)
    assert.equal(refusalsOf(w.sender.peerId.toString()), 0, 'no page was refused')

    const reader = await tempPeer()
    try {
      const readerDb = await reader.peer.openStore(w.db.address!, { key: w.db.key })
      const texts = (await readerDb.collection('Note').find()).filter(note => typeof note.text === 'string')
      assert.equal(texts.length, large)
      assert.ok(texts.every(note => (note.text as string).length === 500_000))
      assert.equal(refusalsOf(reader.peer.peerId!), 0)
    } finally {
      await reader.dispose()
    }
  })

  it('answers a request for many logs within one frame, each log once, and leaves out those it has no room for', async () => {
    for (let i = 0; i < 45; i++) await w.db.collection('Note').create([{ i, text: String(i % 10).repeat(100_000) }])
    for (let i = 0; i < 1200; i++) await w.honest.peer.logs.addLog(w.db.id, Ed25519PrivateKey.generate().publicKey)
    const range = (logId: string): LogRange => ({ logId, from: 1, limit: MAX_RECORDS_PER_PAGE })
    const empty = w.honest.peer.logs.getThread(w.db.id).logs.filter(log => log.head.counter === 0).map(log => range(log.id))
    assert.ok(empty.length >= 1200)
    // The empty logs' entries come first and take more than the frame's spare room: the records must make room for them.
    const asked = [...empty, range(w.db.logId!), range(w.db.logId!), range(w.sourceDb.logId!)]
    const proof = serviceKeyProof(w.db.key.service, w.sender.peerId.toString(), w.db.id)
    const answer = await askOnce(w.sender, w.honest.peer.addresses[0]!, { type: 'get-records', threadId: w.db.id, proof, logs: asked })
    assert.equal(answer.type, 'records')
    if (answer.type !== 'records') return
    assert.deepEqual(answer.logs.slice(0, empty.length).map(log => log.records.length), empty.map(() => 0))
    const own = answer.logs.filter(log => log.logId === w.db.logId)
    assert.equal(own.length, 1, 'a log asked for twice is answered once')
    assert.ok(own[0]!.records.length > 1 && own[0]!.records.length < 46, `a page cut short by bytes: ${own[0]!.records.length} records`)
    assert.equal(answer.logs.some(log => log.logId === w.sourceDb.logId), false, 'a log with no room left is left out, not answered empty')
  })
})
