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

export function encryptBlock (key: Uint8Array, value: unknown): Block {
  // The plaintext never leaves this function and needs no name, so it is neither hashed nor copied.
  return encodeBlock(encrypt(key, encodeNode(value)))
}

/** Opens an encrypted block: unwraps the byte string, decrypts it with `key`, decodes the dag-cbor inside. */
export function decryptBlock (key: Uint8Array, bytes: Uint8Array, what: string): unknown {
  const wrapped = decodeNode(bytes, what)
  if (!(wrapped instanceof Uint8Array)) throw new MalformedBlockError(`${what} is not an encrypted block (a dag-cbor byte string)`)
  return decodeNode(decrypt(key, wrapped), `${what} plaintext`)
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
