import type { PeerId } from '@libp2p/interface'
import { InvalidProofError } from '../codecs/errors.ts'
import type { RecordBlocks } from '../codecs/record.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { LARGEST_RECORD_BYTES, LOG_ENTRY_FRAMING_BYTES, MAX_PAGE_BYTES, MAX_RECORDS_PER_PAGE, recordWireBytes, verifyServiceKeyProof, type InviteAnswer, type Request, type Response } from '../codecs/wire.ts'
import { UnknownThreadError } from '../storage/errors.ts'
import type { LogStore } from '../storage/log-store.ts'
import type { RequestHandler } from './requests.ts'

/**
 * The server side of `/threads/1.0.0`: answers from the log store, to peers that prove they hold the thread's
 * service key, and hands pushed records to whoever takes them in (the thread's dispatcher). A peer that cannot
 * prove the key learns nothing, not even whether the thread is held here.
 */

export interface ThreadServiceInit {
  logs: LogStore
  /** Takes on a thread to replicate, given its sealed service key. Throws a `ThreadsError` to refuse. */
  takeReplication: (threadId: ThreadId, sealedKey: Uint8Array, peer: PeerId) => Promise<void>
  /** Takes note of a peer's log and where it is reached. Throws a `ThreadsError` to refuse it. */
  takeLog: (threadId: ThreadId, logId: string, addrs: readonly Uint8Array[], peer: PeerId) => Promise<void>
  /** Takes in records of one log pushed by `peer`, in order: verify, link, fold. Throws a `ThreadsError` to refuse. */
  takeRecords: (threadId: ThreadId, logId: string, records: readonly RecordBlocks[], peer: PeerId) => Promise<void>
  /** Takes an invite delivered by `peer`. Throws a `ThreadsError` to refuse it (not ours, tampered, replayed). */
  takeInvite: (invite: Uint8Array, peer: PeerId) => Promise<void>
  /** Takes an invitee's answer. Throws a `ThreadsError` to refuse it (no such invite, or not its invitee). */
  takeInviteReply: (threadId: ThreadId, inviteId: string, answer: InviteAnswer, peer: PeerId) => Promise<void>
}

export function createThreadService (init: ThreadServiceInit): RequestHandler {
  const { logs } = init

  const assertProof = (threadId: ThreadId, proof: Uint8Array, peer: PeerId): void => {
    const serviceKey = logs.hasThread(threadId) ? logs.threadKey(threadId).service : undefined
    if (serviceKey === undefined || !verifyServiceKeyProof(serviceKey, peer.toString(), threadId, proof)) {
      throw new InvalidProofError('the request does not prove the thread\'s service key')
    }
  }

  return async (request: Request, peer: PeerId): Promise<Response> => {
    switch (request.type) {
      case 'get-edges':
        return {
          type: 'edges',
          edges: request.threads.flatMap(({ threadId, proof }) => {
            try {
              assertProof(threadId, proof, peer)
            } catch {
              return []
            }
            return [{ threadId, heads: logs.edge(threadId) }]
          })
        }
      case 'get-logs': {
        assertProof(request.threadId, request.proof, peer)
        return {
          type: 'logs',
          logs: logs.getThread(request.threadId).logs.map(log => ({
            logId: log.id,
            counter: log.head.counter,
            ...(log.head.cid === undefined ? {} : { head: log.head.cid }),
            addrs: logs.addrs.addrs(request.threadId, log.id).map(addr => addr.bytes)
          }))
        }
      }
      case 'get-records': {
        assertProof(request.threadId, request.proof, peer)
        const unasked = new Set(logs.getThread(request.threadId).logs.map(log => log.id))
        // The logs share one frame, each log once: each takes what the ones before it left, and the answer ends at
        // the first log it could not be sure of room for, with its entry and a whole record. A log left out is not
        // "nothing more": whoever asked for it asks again.
        let room = MAX_PAGE_BYTES
        const served: Array<{ logId: string, records: RecordBlocks[] }> = []
        for (const range of request.logs) {
          if (!unasked.delete(range.logId)) continue
          const entry = LOG_ENTRY_FRAMING_BYTES + Buffer.byteLength(range.logId)
          if (room - entry < LARGEST_RECORD_BYTES) break
          room -= entry
          const records = logs.records(request.threadId, range.logId, { from: range.from, limit: Math.min(range.limit, MAX_RECORDS_PER_PAGE), maxBytes: room }).map(record => record.blocks)
          for (const blocks of records) room -= recordWireBytes(blocks)
          served.push({ logId: range.logId, records })
        }
        return { type: 'records', logs: served }
      }
      case 'replicate': {
        await init.takeReplication(request.threadId, request.sealedKey, peer)
        return { type: 'ok' }
      }
      case 'push-log': {
        assertProof(request.threadId, request.proof, peer)
        await init.takeLog(request.threadId, request.logId, request.addrs, peer)
        return { type: 'ok' }
      }
      case 'push-records': {
        assertProof(request.threadId, request.proof, peer)
        if (!logs.hasThread(request.threadId)) throw new UnknownThreadError('thread not held here')
        await init.takeRecords(request.threadId, request.logId, request.records, peer)
        return { type: 'ok' }
      }
      case 'invite': {
        await init.takeInvite(request.invite, peer)
        return { type: 'ok' }
      }
      case 'invite-reply': {
        await init.takeInviteReply(request.threadId, request.inviteId, request.answer, peer)
        return { type: 'ok' }
      }
    }
  }
}
