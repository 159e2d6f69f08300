import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Store } from '../../actors/store.ts'
import { createThreadsNode, type ThreadsNode } from '../../net/node.ts'
import { tempPeer, type TempPeer } from './temp-peer.ts'

/**
 * A peer on the network holding a thread with a `Note` collection (`honest`, `db`), a writer of the same thread
 * with no network (`source`, `sourceDb`) whose records a test hands over as it likes, and a bare libp2p node to
 * hand them over from (`sender`), which the honest peer knows nothing about.
 */
export interface OfflineWriter {
  readonly honest: TempPeer
  readonly db: Store
  readonly source: TempPeer
  readonly sourceDb: Store
  readonly sender: ThreadsNode
  dispose (): Promise<void>
}

export async function offlineWriter (): Promise<OfflineWriter> {
  const honest = await tempPeer()
  const source = await tempPeer({ network: false })
  const db = await honest.peer.newStore()
  await db.registerSchema('Note', { type: 'object' })
  const sourceDb = await source.peer.openStore(db.id, { key: db.key })
  for (const record of honest.peer.logs.records(db.id, db.logId!)) await sourceDb.ingest(db.logId!, record.blocks)
  const sender = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
  return {
    honest,
    db,
    source,
    sourceDb,
    sender,
    async dispose () {
      await sender.stop()
      await honest.dispose()
      await source.dispose()
    }
  }
}
