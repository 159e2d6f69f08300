import type { Peer } from '../../actors/peer.ts'
import type { Store } from '../../actors/store.ts'
import type { ThreadId } from '../../codecs/thread-id.ts'

/**
 * Hands `to` every record of the thread that `from` holds and `to` lacks, log by log in log order, as sync would
 * (without the network). With `order`, the logs are visited in that order of their IDs' positions.
 */
export async function carry (from: Peer, to: { peer: Peer, store: Store }, order?: (logIds: string[]) => string[]): Promise<number> {
  const threadId: ThreadId = to.store.id
  const logIds = from.logs.getThread(threadId).logs.map(log => log.id)
  let carried = 0
  for (const logId of order === undefined ? logIds : order(logIds)) {
    const have = to.peer.logs.hasLog(threadId, logId) ? to.peer.logs.head(threadId, logId).counter : 0
    for (const record of from.logs.records(threadId, logId, { from: have + 1 })) {
      await to.store.ingest(logId, record.blocks)
      carried++
    }
  }
  return carried
}
