import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NetworkUnavailableError } from '../../storage/errors.ts'
import { stateRecorder } from '../helpers/state-recorder.ts'
import { tempPeer, until } from '../helpers/temp-peer.ts'

/** A reader nobody knows about, connected to a writer: only gossip tells it of new records. */
describe('gossip', () => {
  it('brings a record to a connected reader the writer does not know, which fetches the ancestors it lacks', async () => {
    const writer = await tempPeer()
    const logSync = stateRecorder('log:')
    const reader = await tempPeer({ inspect: logSync.inspect })
    try {
      const db = await writer.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      await db.collection('Note').create([{ _id: 'before', text: 'written before the reader came' }])
      // The reader knows the thread's ID and key, not the writer's address, and announces nothing.
      const readerDb = await reader.peer.openStore(db.id, { key: db.key })
      await reader.peer.connect(db.address!)
      await new Promise(resolve => setTimeout(resolve, 1500))
      await db.collection('Note').create([{ _id: 'gossiped', text: 'published on the thread\'s topic' }])
      await until(async () => (await readerDb.collection('Note').findById('gossiped').catch(() => undefined)) !== undefined, 'the gossiped record at the reader', 10_000)
      assert.equal((await readerDb.collection('Note').findById('before'))?.text, 'written before the reader came', 'its ancestors came with it')
      assert.ok(logSync.states(`log:${db.logId!}/sync`).includes('fetching missing ancestors'), `the writer's log at the reader went ${logSync.states(`log:${db.logId!}/sync`).join(' → ')}`)
      assert.equal(writer.peer.refusals.size, 0)
    } finally {
      await writer.dispose()
      await reader.dispose()
    }
  })

  it('refuses to connect a peer without networking, with a typed error', async () => {
    const offline = await tempPeer({ network: false })
    try {
      assert.deepEqual(offline.peer.addresses, [])
      await assert.rejects(offline.peer.connect('/ip4/127.0.0.1/tcp/1/p2p/12D3KooWSJydt5eT8kU6j42tZShTbMPazoWPpyB9GqtQpD6iLnr7'), (e: unknown) =>
        e instanceof NetworkUnavailableError && e.code === 'ERR_NO_NETWORK')
    } finally {
      await offline.dispose()
    }
  })
})
