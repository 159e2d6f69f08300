import { randomSymmetricKey, SYMMETRIC_KEY_BYTES } from './aead.ts'
import {
  asBytes, asCid, asMap, assertSize, cidOf, decodeNode, decryptBlock, encodeBlock, encryptBlock,
  type Block, type CID
} from './block.ts'
import { Ed25519PublicKey, ED25519_SIGNATURE_BYTES, type Ed25519PrivateKey } from './ed25519.ts'
import { BlockIntegrityError, InvalidKeyError, InvalidSignatureError } from './errors.ts'
import { timestampFromWire, timestampToWire, type Timestamp } from './hlc.ts'
import type { ThreadKey } from './thread-key.ts'
import { decodeUvarint } from './varint.ts'

/**
 * The four blocks of one log entry, as the reference lays them out:
 *
 *   record  { block: eventCID, sig, pubKey, prev? }   encrypted with the thread's service key
 *   event   { body: bodyCID, header: headerCID }       plaintext, so replicas can follow links
 *   header  { key: contentKey, time: [wall, counter] } encrypted with the thread's read key
 *   body    the application's dag-cbor node             encrypted with a fresh content key
 *
 * `sig` is Ed25519 by the log's key over `eventCID.bytes ‖ prevCID.bytes` (just the event CID for a log's first
 * record). The reference signs only `pubKey` on a first record, which binds nothing; such records verify only
 * when the caller opts in with `legacyFirstRecordSignature`.
 */

/** Size limits per block kind, checked before a byte is decoded. */
export interface BlockLimits {
  record: number
  event: number
  header: number
  body: number
}

export const DEFAULT_BLOCK_LIMITS: Readonly<BlockLimits> = Object.freeze({
  record: 4 * 1024,
  event: 1024,
  header: 1024,
  body: 1024 * 1024
})

export interface RecordBlocks {
  readonly record: Block
  readonly event: Block
  readonly header: Block
  readonly body: Block
}

/** A record block opened with the service key. */
export interface RecordNode {
  readonly cid: CID
  readonly event: CID
  readonly sig: Uint8Array
  /** The author's public key in libp2p's protobuf form, as carried by the record. */
  readonly pubKey: Uint8Array
  readonly prev?: CID
}

export interface EventNode {
  readonly body: CID
  readonly header: CID
}

export interface EventHeader {
  readonly key: Uint8Array
  /** Absent only in headers written by the reference implementation, which carries no clock. */
  readonly time?: Timestamp
}

export interface CreateRecordInput {
  /** The application's payload; anything dag-cbor can encode. */
  body: unknown
  time: Timestamp
  prev?: CID
  logKey: Ed25519PrivateKey
  threadKey: ThreadKey
}

export interface CreatedRecord {
  readonly blocks: RecordBlocks
  readonly node: RecordNode
}

export interface VerifyOptions {
  /** Accept a first record signed the reference's way (over `pubKey` only). Off unless asked for. */
  legacyFirstRecordSignature?: boolean
  limits?: BlockLimits
}

function signedPayload (event: CID, prev: CID | undefined): Uint8Array {
  if (prev === undefined) return event.bytes
  const payload = new Uint8Array(event.bytes.length + prev.bytes.length)
  payload.set(event.bytes)
  payload.set(prev.bytes, event.bytes.length)
  return payload
}

export function createRecord (input: CreateRecordInput): CreatedRecord {
  const readKey = input.threadKey.read
  if (readKey === undefined) throw new InvalidKeyError('authoring a record needs the thread read key')
  const contentKey = randomSymmetricKey()
  const body = encryptBlock(contentKey, input.body)
  const header = encryptBlock(readKey, { key: contentKey, time: timestampToWire(input.time) })
  const event = encodeBlock({ body: body.cid, header: header.cid })
  const sig = input.logKey.sign(signedPayload(event.cid, input.prev))
  const pubKey = input.logKey.publicKey.marshal()
  const fields: Record<string, unknown> = { block: event.cid, sig, pubKey }
  if (input.prev !== undefined) fields.prev = input.prev
  const record = encryptBlock(input.threadKey.service, fields)
  return {
    blocks: { record, event, header, body },
    node: { cid: record.cid, event: event.cid, sig, pubKey, prev: input.prev }
  }
}

/** Opens a record block with the service key and checks its shape. Does not check the signature. */
export function openRecord (block: Block, serviceKey: Uint8Array, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): RecordNode {
  assertSize(block.bytes, limits.record, 'record block')
  const fields = asMap(decryptBlock(serviceKey, block.bytes, 'record block'), 'record')
  const prev = fields.prev === undefined || fields.prev === null ? undefined : asCid(fields.prev, 'record prev')
  return {
    cid: block.cid,
    event: asCid(fields.block, 'record block link'),
    sig: asBytes(fields.sig, 'record signature', ED25519_SIGNATURE_BYTES),
    pubKey: asBytes(fields.pubKey, 'record public key'),
    prev
  }
}

/**
 * Whether `bytes` is a libp2p protobuf `PublicKey { Type: 0–3, Data }` and nothing more: the only payload the reference
 * signs on a first record. Without this a legacy check would take the log's signature over any bytes, such as a
 * CID payload of another of its records, copied into `pubKey`.
 */
function isMarshaledPublicKey (bytes: Uint8Array): boolean {
  if (bytes[0] !== 0x08 || bytes[1] === undefined || bytes[1] > 3 || bytes[2] !== 0x12) return false
  const length = decodeUvarint(bytes, 3)
  return length !== undefined && 3 + length[1] + length[0] === bytes.length
}

/** What a record's signature may cover: its event and previous record, or for a legacy first record its log's key. */
function signedPayloads (node: RecordNode, options: VerifyOptions): Uint8Array[] {
  const payload = signedPayload(node.event, node.prev)
  const legacy = node.prev === undefined && options.legacyFirstRecordSignature === true && isMarshaledPublicKey(node.pubKey)
  return legacy ? [node.pubKey, payload] : [payload]
}

function badSignature (node: RecordNode, logKey: Ed25519PublicKey): InvalidSignatureError {
  return new InvalidSignatureError(`record ${node.cid.toString()}: signature does not verify against ${logKey.logId}`)
}

/** Throws `InvalidSignatureError` unless the record is signed by `logKey` the way this layout requires. */
export function verifyRecordSignature (node: RecordNode, logKey: Ed25519PublicKey, options: VerifyOptions = {}): void {
  if (!signedPayloads(node, options).some(payload => logKey.verify(payload, node.sig))) throw badSignature(node, logKey)
}

/** The same check on libuv's thread pool, so many records verify on every core while this thread does other work. */
export async function verifyRecordSignatureInParallel (node: RecordNode, logKey: Ed25519PublicKey, options: VerifyOptions = {}): Promise<void> {
  for (const payload of signedPayloads(node, options)) if (await logKey.verifyInParallel(payload, node.sig)) return
  throw badSignature(node, logKey)
}

export function openEvent (block: Block, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): EventNode {
  assertSize(block.bytes, limits.event, 'event block')
  const fields = asMap(decodeNode(block.bytes, 'event block'), 'event')
  return { body: asCid(fields.body, 'event body link'), header: asCid(fields.header, 'event header link') }
}

export function openHeader (block: Block, readKey: Uint8Array, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): EventHeader {
  assertSize(block.bytes, limits.header, 'event header block')
  const fields = asMap(decryptBlock(readKey, block.bytes, 'event header block'), 'event header')
  const key = asBytes(fields.key, 'event content key', SYMMETRIC_KEY_BYTES)
  return { key, time: fields.time === undefined ? undefined : timestampFromWire(fields.time) }
}

export function openBody (block: Block, contentKey: Uint8Array, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): unknown {
  assertSize(block.bytes, limits.body, 'event body block')
  return decryptBlock(contentKey, block.bytes, 'event body block')
}

function assertLink (expected: CID, block: Block, what: string): void {
  if (!expected.equals(block.cid)) throw new BlockIntegrityError(`${what} ${String(block.cid)} is not the ${expected.toString()} it should be`)
}

/** Throws `BlockTooLargeError` when any of the four blocks is over its limit. */
export function assertBlockLimits (blocks: RecordBlocks, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): void {
  assertSize(blocks.record.bytes, limits.record, 'record block')
  assertSize(blocks.event.bytes, limits.event, 'event block')
  assertSize(blocks.header.bytes, limits.header, 'event header block')
  assertSize(blocks.body.bytes, limits.body, 'event body block')
}

/**
 * Everything a replica can check with the service key alone but the signature: sizes, that each block's bytes hash
 * to its CID, that the record decrypts and links to this event, and that the event links to this header and body.
 * Returns the opened record.
 */
export function openRecordBlocks (blocks: RecordBlocks, serviceKey: Uint8Array, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): RecordNode {
  assertBlockLimits(blocks, limits)
  for (const [name, block] of Object.entries(blocks) as Array<[string, Block]>) {
    if (!cidOf(block.bytes).equals(block.cid)) throw new BlockIntegrityError(`${name} block bytes do not hash to ${String(block.cid)}`)
  }
  const node = openRecord(blocks.record, serviceKey, limits)
  assertLink(node.event, blocks.event, 'event block')
  const event = openEvent(blocks.event, limits)
  assertLink(event.header, blocks.header, 'event header block')
  assertLink(event.body, blocks.body, 'event body block')
  return node
}

/** `openRecordBlocks`, and the signature. */
export function verifyRecordBlocks (blocks: RecordBlocks, serviceKey: Uint8Array, logKey: Ed25519PublicKey, options: VerifyOptions = {}): RecordNode {
  const node = openRecordBlocks(blocks, serviceKey, options.limits)
  verifyRecordSignature(node, logKey, options)
  return node
}

/** What a reader gets from a verified record: its time and the application's body. */
export interface RecordContent {
  /** Absent only for records written by the reference implementation. */
  readonly time?: Timestamp
  readonly body: unknown
}

export function readRecordContent (blocks: RecordBlocks, readKey: Uint8Array, limits: BlockLimits = DEFAULT_BLOCK_LIMITS): RecordContent {
  const header = openHeader(blocks.header, readKey, limits)
  return { time: header.time, body: openBody(blocks.body, header.key, limits) }
}

/** The signing key a record names, decoded; fails with `InvalidKeyError` when it is not an Ed25519 key. */
export function recordAuthor (node: RecordNode): Ed25519PublicKey {
  return Ed25519PublicKey.unmarshal(node.pubKey)
}
