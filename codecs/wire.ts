import { createHmac, timingSafeEqual } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { asBytes, asCid, asMap, cidOf, type Block } from './block.ts'
import { MalformedMessageError, MessageTooLargeError } from './errors.ts'
import { DEFAULT_BLOCK_LIMITS, type RecordBlocks } from './record.ts'
import { ThreadId } from './thread-id.ts'
import { decodeUvarint, encodeUvarint } from './varint.ts'

/**
 * Messages of the `/threads/1.0.0` request protocol: one request and one response per stream, each a dag-cbor
 * map framed by its uvarint length. Everything read off the network passes `decodeRequest` or `decodeResponse`,
 * which check size first and shape second, so a handler only ever sees a well-formed message.
 *
 * A request about a thread carries a proof that its sender holds the thread's service key: an HMAC under that
 * key over the sender's peer ID and the thread ID, so a proof seen by one peer is worth nothing to another.
 * Gossip on a thread's topic (`encodeGossip`, `decodeGossip`) is the one message that goes unframed and unproven.
 */

export const PROTOCOL = '/threads/1.0.0'
/** The largest frame either side reads; a longer length prefix is refused before anything is buffered. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024
/** Records per log in one `records` response; a puller asks again from where a page ended. */
export const MAX_RECORDS_PER_PAGE = 1000
/** The most bytes of records one message carries, leaving the rest of its frame to everything around them. */
export const MAX_PAGE_BYTES = MAX_FRAME_BYTES - 64 * 1024
/** What a record adds to a message beside its blocks' bytes: the head of its list and of each of its four blocks. */
const RECORD_FRAMING_BYTES = 1 + 4 * 5
/** What a log's entry in a `records` answer takes beside its records and its ID: its map, keys and list head. */
export const LOG_ENTRY_FRAMING_BYTES = 32

/** The most bytes a record within the default block limits takes in a message. */
export const LARGEST_RECORD_BYTES = RECORD_FRAMING_BYTES + Object.values(DEFAULT_BLOCK_LIMITS).reduce((sum, limit) => sum + limit, 0)

/** The bytes `blocks` take in a message, at most. */
export function recordWireBytes (blocks: RecordBlocks): number {
  return RECORD_FRAMING_BYTES + blocks.record.bytes.length + blocks.event.bytes.length + blocks.header.bytes.length + blocks.body.bytes.length
}

/**
 * Consecutive records cut into pages, in order, that messages can carry: each of at most `MAX_RECORDS_PER_PAGE`
 * records and `maxBytes` of them. A page always holds its first record, however large.
 */
export function recordPages (records: readonly RecordBlocks[], maxBytes: number = MAX_PAGE_BYTES): RecordBlocks[][] {
  const pages: RecordBlocks[][] = []
  let page: RecordBlocks[] = []
  let bytes = 0
  for (const record of records) {
    const size = recordWireBytes(record)
    if (page.length > 0 && (page.length === MAX_RECORDS_PER_PAGE || bytes + size > maxBytes)) {
      pages.push(page)
      page = []
      bytes = 0
    }
    page.push(record)
    bytes += size
  }
  if (page.length > 0) pages.push(page)
  return pages
}

export interface LogRange {
  readonly logId: string
  /** The first counter wanted (1 for a log's first record). */
  readonly from: number
  readonly limit: number
}

export interface LogSummary {
  readonly logId: string
  readonly counter: number
  readonly head?: Block['cid']
  readonly addrs: readonly Uint8Array[]
}

export interface ThreadEdge {
  readonly threadId: ThreadId
  /** Hash of the thread's heads as the responder holds them. */
  readonly heads: string
}

export type Request =
  | { readonly type: 'get-edges', readonly threads: ReadonlyArray<{ threadId: ThreadId, proof: Uint8Array }> }
  | { readonly type: 'get-logs', readonly threadId: ThreadId, readonly proof: Uint8Array }
  | { readonly type: 'get-records', readonly threadId: ThreadId, readonly proof: Uint8Array, readonly logs: readonly LogRange[] }
  /** Records of one log, in log order, pushed by their writer (or anyone holding them). */
  | { readonly type: 'push-records', readonly threadId: ThreadId, readonly proof: Uint8Array, readonly logId: string, readonly records: readonly RecordBlocks[] }
  /** A writer asking a peer to replicate the thread: the service key, sealed to the replica's identity. */
  | { readonly type: 'replicate', readonly threadId: ThreadId, readonly sealedKey: Uint8Array }
  /** A peer announcing one of its logs in the thread, and where it can be reached. */
  | { readonly type: 'push-log', readonly threadId: ThreadId, readonly proof: Uint8Array, readonly logId: string, readonly addrs: readonly Uint8Array[] }
  /** An invite delivered to its invitee: the sealed invite's bytes. */
  | { readonly type: 'invite', readonly invite: Uint8Array }
  /** An invitee's answer to an invite, sent to its inviter (a reader's acceptance, or any decline). */
  | { readonly type: 'invite-reply', readonly threadId: ThreadId, readonly inviteId: string, readonly answer: InviteAnswer }

export type InviteAnswer = 'accept' | 'decline'

/**
 * Records of one log, in log order, as gossip carries them on their thread's topic. Unlike a request it carries no
 * proof: gossip messages are not signed, so a proof would name no one (anyone on the topic could copy it), and every
 * record proves itself (sealed with the service key, signed with its log's key).
 */
export interface GossipRecords {
  readonly threadId: ThreadId
  readonly logId: string
  readonly records: readonly RecordBlocks[]
}

export type Response =
  | { readonly type: 'edges', readonly edges: readonly ThreadEdge[] }
  | { readonly type: 'logs', readonly logs: readonly LogSummary[] }
  | { readonly type: 'records', readonly logs: ReadonlyArray<{ logId: string, records: readonly RecordBlocks[] }> }
  | { readonly type: 'ok' }
  | { readonly type: 'error', readonly code: string, readonly message: string }

const PROOF_CONTEXT = 'threads/service-key-proof/v1'

/** Proofs already made, by key, peer and thread; emptied when it holds this many. */
const PROOFS_KEPT = 4096
const proofs = new Map<string, Uint8Array>()

/**
 * The proof that `peerId` holds `serviceKey` for `threadId`. Every request about a thread carries one and every
 * receiver checks one, and preparing the HMAC key cost more than the rest of a small push: the same proof is made
 * once and kept.
 */
export function serviceKeyProof (serviceKey: Uint8Array, peerId: string, threadId: ThreadId): Uint8Array {
  // A copy: what the caller does with its proof must not change the one kept.
  return keptProof(serviceKey, peerId, threadId).slice()
}

function keptProof (serviceKey: Uint8Array, peerId: string, threadId: ThreadId): Uint8Array {
  const slot = `${Buffer.from(serviceKey.buffer, serviceKey.byteOffset, serviceKey.byteLength).toString('base64')} ${peerId} ${threadId.toString()}`
  let proof = proofs.get(slot)
  if (proof === undefined) {
    proof = new Uint8Array(createHmac('sha256', serviceKey).update(PROOF_CONTEXT).update(peerId).update(threadId.bytes).digest())
    if (proofs.size >= PROOFS_KEPT) proofs.clear()
    proofs.set(slot, proof)
  }
  return proof
}

export function verifyServiceKeyProof (serviceKey: Uint8Array, peerId: string, threadId: ThreadId, proof: Uint8Array): boolean {
  const expected = keptProof(serviceKey, peerId, threadId)
  return proof.length === expected.length && timingSafeEqual(proof, expected)
}

/** A message as it goes on the wire: its length as a uvarint, then its dag-cbor bytes. */
export function frame (message: Request | Response): Uint8Array {
  const body = dagCbor.encode(toWire(message))
  if (body.length > MAX_FRAME_BYTES) throw new MessageTooLargeError(`a ${message.type} message of ${body.length} bytes is over the ${MAX_FRAME_BYTES}-byte frame limit`)
  const prefix = encodeUvarint(body.length)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix)
  out.set(body, prefix.length)
  return out
}

/**
 * Reads one frame from the start of `buffer`: the frame's bytes and how many bytes it took, or `undefined` while
 * the frame is incomplete. A length over `limit` is refused as soon as the prefix is read.
 */
export function readFrame (buffer: Uint8Array, limit = MAX_FRAME_BYTES): { bytes: Uint8Array, used: number } | undefined {
  const length = decodeUvarint(buffer, 0, 5)
  if (length === undefined) {
    if (buffer.length >= 5) throw new MalformedMessageError('frame length prefix is not a uvarint')
    return undefined
  }
  if (length[0] > limit) throw new MessageTooLargeError(`a frame of ${length[0]} bytes is over the ${limit}-byte limit`)
  const end = length[1] + length[0]
  if (buffer.length < end) return undefined
  return { bytes: buffer.subarray(length[1], end), used: end }
}

/** A gossip message's bytes: one dag-cbor map, with no frame around it (the message is the frame). */
export function encodeGossip (message: GossipRecords): Uint8Array {
  return dagCbor.encode({ type: 'gossip-records', thread: message.threadId.bytes, log: message.logId, records: message.records.map(blocksToWire) })
}

export function decodeGossip (bytes: Uint8Array): GossipRecords {
  const message = decodeMessage(bytes)
  return shaped(() => {
    if (message.type !== 'gossip-records') throw new MalformedMessageError('gossip carries only records')
    const records = list(message.records, 'records', MAX_RECORDS_PER_PAGE).map(blocksFromWire)
    if (records.length === 0) throw new MalformedMessageError('gossip carries no records')
    return { threadId: threadOf(message.thread), logId: text(message.log, 'log ID'), records }
  })
}

function toWire (message: Request | Response): unknown {
  switch (message.type) {
    case 'get-edges': return { type: message.type, threads: message.threads.map(({ threadId, proof }) => ({ thread: threadId.bytes, proof })) }
    case 'get-logs': return { type: message.type, thread: message.threadId.bytes, proof: message.proof }
    case 'get-records': return { type: message.type, thread: message.threadId.bytes, proof: message.proof, logs: message.logs.map(range => ({ ...range })) }
    case 'push-records': return { type: message.type, thread: message.threadId.bytes, proof: message.proof, log: message.logId, records: message.records.map(blocksToWire) }
    case 'replicate': return { type: message.type, thread: message.threadId.bytes, sealedKey: message.sealedKey }
    case 'push-log': return { type: message.type, thread: message.threadId.bytes, proof: message.proof, log: message.logId, addrs: message.addrs }
    case 'invite': return { type: message.type, invite: message.invite }
    case 'invite-reply': return { type: message.type, thread: message.threadId.bytes, invite: message.inviteId, answer: message.answer }
    case 'edges': return { type: message.type, edges: message.edges.map(edge => ({ thread: edge.threadId.bytes, heads: edge.heads })) }
    case 'logs': return { type: message.type, logs: message.logs.map(log => log.head === undefined ? { logId: log.logId, counter: log.counter, addrs: log.addrs } : { ...log }) }
    case 'records': return { type: message.type, logs: message.logs.map(log => ({ logId: log.logId, records: log.records.map(blocksToWire) })) }
    case 'ok': return { type: message.type }
    case 'error': return { type: message.type, code: message.code, message: message.message }
  }
}

function blocksToWire (blocks: RecordBlocks): Uint8Array[] {
  return [blocks.record.bytes, blocks.event.bytes, blocks.header.bytes, blocks.body.bytes]
}

/** Record blocks named by the hashes of their own bytes: whatever they claim is checked when they are verified. */
function blocksFromWire (value: unknown): RecordBlocks {
  if (!Array.isArray(value) || value.length !== 4) throw new MalformedMessageError('a record is four blocks')
  const [record, event, header, body] = value.map((bytes, i) => {
    const owned = asBytes(bytes, `record block ${i}`)
    return { cid: cidOf(owned), bytes: owned }
  }) as [Block, Block, Block, Block]
  return { record, event, header, body }
}

function decodeMessage (bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > MAX_FRAME_BYTES) throw new MessageTooLargeError(`a message of ${bytes.length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedMessageError('message is not dag-cbor', { cause })
  }
  return shaped(() => asMap(value, 'message'))
}

function text (value: unknown, what: string, max = 256): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new MalformedMessageError(`${what} is not a string of 1–${max} characters`)
  return value
}

function count (value: unknown, what: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) throw new MalformedMessageError(`${what} is not a whole number from ${min} to ${max}`)
  return value as number
}

function list (value: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new MalformedMessageError(`${what} is not a list of at most ${max}`)
  return value
}

function threadOf (value: unknown): ThreadId {
  try {
    return ThreadId.fromBytes(asBytes(value, 'thread'))
  } catch (cause) {
    throw new MalformedMessageError('message names no valid thread', { cause })
  }
}

function proofOf (value: unknown): Uint8Array {
  try {
    return asBytes(value, 'proof', 32)
  } catch (cause) {
    throw new MalformedMessageError('message carries no 32-byte proof', { cause })
  }
}

/** Wraps shape errors of the block helpers as message errors, so every refusal of a message has one code. */
function shaped<T> (read: () => T): T {
  try {
    return read()
  } catch (cause) {
    if (cause instanceof MalformedMessageError || cause instanceof MessageTooLargeError) throw cause
    throw new MalformedMessageError(cause instanceof Error ? cause.message : 'message is malformed', { cause })
  }
}

export function decodeRequest (bytes: Uint8Array): Request {
  const message = decodeMessage(bytes)
  return shaped(() => {
    switch (message.type) {
      case 'get-edges':
        return {
          type: 'get-edges',
          threads: list(message.threads, 'threads', 10_000).map(entry => {
            const fields = asMap(entry, 'thread entry')
            return { threadId: threadOf(fields.thread), proof: proofOf(fields.proof) }
          })
        }
      case 'get-logs':
        return { type: 'get-logs', threadId: threadOf(message.thread), proof: proofOf(message.proof) }
      case 'get-records':
        return {
          type: 'get-records',
          threadId: threadOf(message.thread),
          proof: proofOf(message.proof),
          logs: list(message.logs, 'logs', 10_000).map(entry => {
            const fields = asMap(entry, 'log range')
            return { logId: text(fields.logId, 'log ID'), from: count(fields.from, 'from', 1, Number.MAX_SAFE_INTEGER), limit: count(fields.limit, 'limit', 1, MAX_RECORDS_PER_PAGE) }
          })
        }
      case 'push-records':
        return {
          type: 'push-records',
          threadId: threadOf(message.thread),
          proof: proofOf(message.proof),
          logId: text(message.log, 'log ID'),
          records: list(message.records, 'records', MAX_RECORDS_PER_PAGE).map(blocksFromWire)
        }
      case 'replicate':
        return { type: 'replicate', threadId: threadOf(message.thread), sealedKey: asBytes(message.sealedKey, 'sealed key') }
      case 'push-log':
        return {
          type: 'push-log',
          threadId: threadOf(message.thread),
          proof: proofOf(message.proof),
          logId: text(message.log, 'log ID'),
          addrs: list(message.addrs, 'addresses', 64).map(addr => asBytes(addr, 'address'))
        }
      case 'invite':
        return { type: 'invite', invite: asBytes(message.invite, 'invite') }
      case 'invite-reply': {
        const answer = message.answer
        if (answer !== 'accept' && answer !== 'decline') throw new MalformedMessageError('an invite reply accepts or declines')
        return { type: 'invite-reply', threadId: threadOf(message.thread), inviteId: text(message.invite, 'invite ID', 64), answer }
      }
      default:
        throw new MalformedMessageError(`unknown request type ${JSON.stringify(String(message.type)).slice(0, 40)}`)
    }
  })
}

export function decodeResponse (bytes: Uint8Array): Response {
  const message = decodeMessage(bytes)
  return shaped(() => {
    switch (message.type) {
      case 'edges':
        return {
          type: 'edges',
          edges: list(message.edges, 'edges', 10_000).map(entry => {
            const fields = asMap(entry, 'edge')
            return { threadId: threadOf(fields.thread), heads: text(fields.heads, 'heads hash', 64) }
          })
        }
      case 'logs':
        return {
          type: 'logs',
          logs: list(message.logs, 'logs', 10_000).map(entry => {
            const fields = asMap(entry, 'log')
            const summary: LogSummary = {
              logId: text(fields.logId, 'log ID'),
              counter: count(fields.counter, 'counter', 0, Number.MAX_SAFE_INTEGER),
              addrs: list(fields.addrs, 'addresses', 64).map(addr => asBytes(addr, 'address')),
              ...(fields.head === undefined ? {} : { head: asCid(fields.head, 'head') })
            }
            return summary
          })
        }
      case 'records':
        return {
          type: 'records',
          logs: list(message.logs, 'logs', 10_000).map(entry => {
            const fields = asMap(entry, 'log records')
            return { logId: text(fields.logId, 'log ID'), records: list(fields.records, 'records', MAX_RECORDS_PER_PAGE).map(blocksFromWire) }
          })
        }
      case 'ok':
        return { type: 'ok' }
      case 'error':
        return { type: 'error', code: text(message.code, 'error code', 64), message: text(message.message, 'error message', 1024) }
      default:
        throw new MalformedMessageError(`unknown response type ${JSON.stringify(String(message.type)).slice(0, 40)}`)
    }
  })
}
