import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../../actors/peer.ts'

/**
 * The receiving peer of the live-latency benchmark, in a process of its own as a real peer would be: it opens the
 * store at the address and key it is given, and reports the moment its listener hears each probe, in wall-clock
 * milliseconds (which both processes share). It stops when its parent disconnects.
 */

const [address, key] = process.argv.slice(2)
if (address === undefined || key === undefined || process.send === undefined) throw new Error('run by the sync benchmark, with an address and a key')
const send = process.send.bind(process)
const path = await mkdtemp(join(tmpdir(), 'threads-latency-receiver-'))
const peer = await createPeer({ path, snapshotEvery: 0 })
const db = await peer.openStore(address, { key })
db.listen({ collection: 'Note' }, change => {
  const probe = change.entity?.probe
  if (typeof probe === 'number') send({ probe, at: performance.timeOrigin + performance.now() })
})
send({ ready: true })
process.on('disconnect', () => {
  void peer.close().then(async () => { await rm(path, { recursive: true, force: true }) })
})
