import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_FRAME_BYTES, MAX_RECORDS_PER_PAGE, recordWireBytes } from '../../codecs/wire.ts'
import { createRequester } from '../../net/requests.ts'
import { pushRecords } from '../../net/sync.ts'
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
    const requester = createRequester({ node: w.sender })
    try {
      const records = w.source.peer.logs.records(w.db.id, w.sourceDb.logId!, { from }).map(record => record.blocks)
      await pushRecords({ requester, peer: w.honest.peer.addresses[0]!, threadId: w.db.id, key: w.db.key, logId: w.sourceDb.logId!, records })
    } finally {
      requester.stop()
    }
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
})
