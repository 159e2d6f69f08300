import { hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { decrypt, encrypt } from './aead.ts'
import { BlockIntegrityError, BlockTooLargeError, MalformedBlockError } from './errors.ts'

/**
 * Content-addressed blocks: dag-cbor bytes named by a CIDv1 with a sha2-256 multihash. An encrypted block is the
 * dag-cbor byte string that wraps `aead(key, dagCbor(node))`, so it is itself a valid dag-cbor node.
 */

export const DAG_CBOR_CODE = dagCbor.code
export const SHA2_256_CODE = 0x12

export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

// A CIDv1 of a dag-cbor block with a 32-byte sha2-256 multihash starts with these four varints, always one byte each.
const CID_PREFIX = Uint8Array.of(1, DAG_CBOR_CODE, SHA2_256_CODE, 32)

/** The CID of dag-cbor `bytes`, built from its known prefix: multiformats' general builders cost more than the hash. */
export function cidOf (bytes: Uint8Array): CID {
  const cid = new Uint8Array(CID_PREFIX.length + 32)
  cid.set(CID_PREFIX)
  cid.set(hash('sha256', bytes, 'buffer') as unknown as Uint8Array, CID_PREFIX.length)
  const multihash = cid.subarray(2)
  return new CID(1, DAG_CBOR_CODE, new Digest.Digest(SHA2_256_CODE, 32, multihash.subarray(2), multihash), cid)
}

function encodeNode (value: unknown): Uint8Array {
  try {
    return dagCbor.encode(value)
  } catch (cause) {
    throw new MalformedBlockError('value cannot be encoded as dag-cbor', { cause })
  }
}

export function encodeBlock (value: unknown): Block {
  const bytes = encodeNode(value)
  // dag-cbor in Node hands back a Buffer cut from the shared allocation pool, next to other plaintexts: a block owns
  // its bytes, so that `.buffer` exposes nothing else and `.slice()` copies as a Uint8Array's does
  return { cid: cidOf(bytes), bytes: new Uint8Array(bytes) }
}

export function assertSize (bytes: Uint8Array, limit: number, what: string): void {
  if (bytes.length > limit) throw new BlockTooLargeError(`${what} of ${bytes.length} bytes is over the ${limit}-byte limit`)
}

export function decodeNode (bytes: Uint8Array, what: string): unknown {
  try {
    return dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedBlockError(`${what} is not valid dag-cbor`, { cause })
  }
}

/** Checks that `bytes` hash to `cid` (a sha2-256, dag-cbor CIDv1) and returns them as a block. */
export function verifiedBlock (cid: CID, bytes: Uint8Array): Block {
  const name = cid.toString()
  if (cid.version !== 1 || cid.code !== DAG_CBOR_CODE || cid.multihash.code !== SHA2_256_CODE) {
    throw new BlockIntegrityError(`unsupported CID form ${name}`)
  }
  if (!cidOf(bytes).equals(cid)) throw new BlockIntegrityError(`bytes do not hash to ${name}`)
  return { cid, bytes }
}

const BYTE_STRING = 0x40

/** The bytes the head of a byte string of `length` bytes takes in the one form dag-cbor allows: the fewest. */
function headLengthOf (length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

/**
 * `bytes` as a dag-cbor byte string: its head (major type 2, the length in the fewest bytes) and then the bytes.
 * Every record carries three of these; writing the head by hand costs a fraction of a general encoder's call.
 */
function wrapBytes (bytes: Uint8Array): Uint8Array {
  const length = bytes.length
  const headLength = headLengthOf(length)
  const out = new Uint8Array(headLength + length)
  const view = new DataView(out.buffer)
  switch (headLength) {
    case 1:
      view.setUint8(0, BYTE_STRING | length)
      break
    case 2:
      view.setUint8(0, BYTE_STRING | 24)
      view.setUint8(1, length)
      break
    case 3:
      view.setUint8(0, BYTE_STRING | 25)
      view.setUint16(1, length)
      break
    default:
      view.setUint8(0, BYTE_STRING | 26)
      view.setUint32(1, length)
  }
  out.set(bytes, headLength)
  return out
}

/**
 * The bytes of a block that is one dag-cbor byte string, read by hand as `wrapBytes` writes them. dag-cbor allows
 * one form only, so a head longer than the length needs, a length that does not match the block, or anything but
 * a byte string is refused.
 */
function unwrapBytes (block: Uint8Array, what: string): Uint8Array {
  const refuse = (): never => { throw new MalformedBlockError(`${what} is not an encrypted block (a dag-cbor byte string)`) }
  const first = block[0]
  if (first === undefined || (first & 0xe0) !== BYTE_STRING) return refuse()
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength)
  const info = first & 0x1f
  let headLength: number
  let length: number
  if (info < 24) [headLength, length] = [1, info]
  else if (info === 24 && block.length >= 2) [headLength, length] = [2, view.getUint8(1)]
  else if (info === 25 && block.length >= 3) [headLength, length] = [3, view.getUint16(1)]
  else if (info === 26 && block.length >= 5) [headLength, length] = [5, view.getUint32(1)]
  else return refuse()
  if (headLength !== headLengthOf(length) || block.length !== headLength + length) return refuse()
  return block.subarray(headLength)
}

export function encryptBlock (key: Uint8Array, value: unknown): Block {
  // The plaintext never leaves this function and needs no name, so it is neither hashed nor copied.
  const bytes = wrapBytes(encrypt(key, encodeNode(value)))
  return { cid: cidOf(bytes), bytes }
}

/** Opens an encrypted block: unwraps the byte string, decrypts it with `key`, decodes the dag-cbor inside. */
export function decryptBlock (key: Uint8Array, bytes: Uint8Array, what: string): unknown {
  return decodeNode(decrypt(key, unwrapBytes(bytes, what)), `${what} plaintext`)
}

/** Reads a CID back from a decoded node field, refusing anything else. */
export function asCid (value: unknown, what: string): CID {
  const cid = CID.asCID(value)
  if (cid === null) throw new MalformedBlockError(`${what} is not a CID`)
  return cid
}

export function asBytes (value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new MalformedBlockError(`${what} is not a byte string`)
  if (length !== undefined && value.length !== length) throw new MalformedBlockError(`${what} has ${value.length} bytes, expected ${length}`)
  return value
}

export function asMap (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || CID.asCID(value) !== null) {
    throw new MalformedBlockError(`${what} is not a map`)
  }
  return value as Record<string, unknown>
}

export { CID }
