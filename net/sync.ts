import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { openRecordBlocks, readRecordContent, type RecordBlocks } from '../codecs/record.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { ThreadKey } from '../codecs/thread-key.ts'
import { MAX_RECORDS_PER_PAGE, recordPages, serviceKeyProof } from '../codecs/wire.ts'
import type { LogStore } from '../storage/log-store.ts'
import { ReplayedRecordError } from '../storage/errors.ts'
import { settle, type Settled } from '../storage/settled.ts'
import { RequestFailedError, type Requester } from './requests.ts'

/**
 * The client side of sync, as plain effects: pull a thread's logs from a peer (asking only from the counter this
 * peer holds, a page at a time) and push a record to a peer. What calls them, when, and how often is control flow
 * for the sync layer above.
 */

/** The steps of a pull after the edges differed: listing the peer's logs, asking for a page, handing it over. */
export type PullProgress = (step: 'listing logs' | 'fetching page' | 'handing page') => void

/** Takes in consecutive records of one log, in order. */
export type TakeRecords = (logId: string, records: readonly RecordBlocks[]) => Promise<void>

export interface PullInit {
  requester: Requester
  logs: LogStore
  peer: PeerId | Multiaddr
  threadId: ThreadId
  key: ThreadKey
  take: TakeRecords
  /** Told of each step as it starts, so whoever drives the pull can show where it is. */
  progress?: PullProgress
  /** Told of the peer's logs and their addresses as soon as they are listed, before any record is fetched. */
  learn: (logs: ReadonlyArray<{ logId: string, addrs: readonly Uint8Array[] }>) => Promise<void>
}

export interface Pulled {
  /** Records taken in. */
  readonly records: number
  /** The peer's logs with the addresses it gave for them. */
  readonly logs: ReadonlyArray<{ logId: string, addrs: readonly Uint8Array[] }>
  /** The logs whose records could not all be taken, each with why: the rest of the pull went on without them. */
  readonly failed: ReadonlyArray<{ logId: string, error: unknown }>
}

/**
 * Pulls every log the peer lists that holds more than this peer does. A log whose records are refused does not stop
 * the others, nor fail the pull: it is named in `failed`, for the caller to judge. A failed listing (edges or logs)
 * fails it.
 */
export async function pullThread (init: PullInit): Promise<Pulled> {
  const { requester, logs, threadId } = init
  const proof = serviceKeyProof(init.key.service, requester.self.toString(), threadId)
  // Equal edges mean equal heads: nothing to ask for, which is what most polls find.
  const edges = await requester.request(init.peer, { type: 'get-edges', threads: [{ threadId, proof }] })
  if (edges.type === 'edges' && edges.edges.some(edge => edge.threadId.equals(threadId) && edge.heads === logs.edge(threadId))) {
    return { records: 0, logs: [], failed: [] }
  }
  init.progress?.('listing logs')
  const listed = await requester.request(init.peer, { type: 'get-logs', threadId, proof })
  if (listed.type !== 'logs') return { records: 0, logs: [], failed: [] }
  // Known before the records come, so a pull cut short still leaves this peer knowing whom to ask next time.
  await init.learn(listed.logs.map(log => ({ logId: log.logId, addrs: log.addrs })))
  let taken = 0
  const failed: Array<{ logId: string, error: unknown }> = []
  for (const remote of listed.logs) {
    const held = logs.hasLog(threadId, remote.logId) ? logs.head(threadId, remote.logId).counter : 0
    const fetch = (from: number): Promise<Settled<readonly RecordBlocks[]>> => settle(
      requester.request(init.peer, { type: 'get-records', threadId, proof, logs: [{ logId: remote.logId, from, limit: MAX_RECORDS_PER_PAGE }] })
        .then(page => page.type === 'records' ? page.logs.find(log => log.logId === remote.logId)?.records ?? [] : []))
    let from = held + 1
    let next = from <= remote.counter ? fetch(from) : undefined
    try {
      while (next !== undefined) {
        init.progress?.('fetching page')
        const page = await next
        if (!page.ok) throw page.error
        if (page.result.length === 0) break
        from += page.result.length
        // The next page travels while this one is checked and folded.
        next = from <= remote.counter ? fetch(from) : undefined
        init.progress?.('handing page')
        await init.take(remote.logId, page.result)
        taken += page.result.length
      }
    } catch (error) {
      // One log refused (anyone with the service key can plant one on a replica) keeps none of the others out.
      failed.push({ logId: remote.logId, error })
      await next
    }
  }
  return { records: taken, logs: listed.logs.map(log => ({ logId: log.logId, addrs: log.addrs })), failed }
}

export interface KeyCheckInit {
  requester: Requester
  peer: PeerId | Multiaddr
  threadId: ThreadId
  key: ThreadKey
}

/** How many of a peer's logs a key check reads the first record of, looking for one the key opens. */
const KEY_CHECK_LOGS = 32

/**
 * Asks a peer whether `key` is the thread's, before anything of the thread is stored here. The peer answers only a
 * request that proves the service key, so a refusal means a wrong service key (or a peer that does not hold the
 * thread: it will not say which). Then the first record of one of its logs must open with the service key and, when
 * the key has one, the read key: any one of its `KEY_CHECK_LOGS` longest, since anyone holding the service key can
 * plant a log on a replica that no read key opens. A thread with no records yet proves its service key alone.
 */
export async function checkThreadKey (init: KeyCheckInit): Promise<void> {
  const { requester, threadId, key } = init
  const proof = serviceKeyProof(key.service, requester.self.toString(), threadId)
  const listed = await requester.request(init.peer, { type: 'get-logs', threadId, proof })
  // Longest first: a planted log costs its maker a record each, and the thread's own logs are usually the long ones.
  const written = listed.type === 'logs' ? listed.logs.filter(log => log.counter > 0).sort((a, b) => b.counter - a.counter).slice(0, KEY_CHECK_LOGS) : []
  let refusal: unknown
  for (const { logId } of written) {
    const page = await requester.request(init.peer, { type: 'get-records', threadId, proof, logs: [{ logId, from: 1, limit: 1 }] })
    const first = page.type === 'records' ? page.logs.find(log => log.logId === logId)?.records[0] : undefined
    if (first === undefined) continue
    try {
      openRecordBlocks(first, key.service)
      if (key.read !== undefined) readRecordContent(first, key.read)
      return
    } catch (error) {
      refusal ??= error
    }
  }
  if (refusal !== undefined) throw refusal
}

export interface PushInit {
  requester: Requester
  peer: PeerId | Multiaddr
  threadId: ThreadId
  key: ThreadKey
  logId: string
  /** Consecutive records of the log, in order. */
  records: readonly RecordBlocks[]
}

/**
 * Pushes records to a peer, a page at a time in log order, so that no message outgrows a frame however many
 * records queued; a peer that already holds a page's records has them, which is what a push is for.
 */
export async function pushRecords (init: PushInit): Promise<void> {
  const proof = serviceKeyProof(init.key.service, init.requester.self.toString(), init.threadId)
  for (const records of recordPages(init.records)) {
    await init.requester.request(init.peer, { type: 'push-records', threadId: init.threadId, proof, logId: init.logId, records })
      .catch((error: unknown) => {
        if (!(error instanceof RequestFailedError && error.remoteCode === ReplayedRecordError.code)) throw error
      })
  }
}

export interface PushLogInit {
  requester: Requester
  peer: PeerId | Multiaddr
  threadId: ThreadId
  key: ThreadKey
  logId: string
  addrs: readonly Uint8Array[]
}

/** Tells a peer about one of our logs in the thread and where we are reached, so it pushes to us too. */
export async function pushLog (init: PushLogInit): Promise<void> {
  const proof = serviceKeyProof(init.key.service, init.requester.self.toString(), init.threadId)
  await init.requester.request(init.peer, { type: 'push-log', threadId: init.threadId, proof, logId: init.logId, addrs: init.addrs })
}
