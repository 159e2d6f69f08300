import { createPrivateKey, createPublicKey, sign, verify, randomBytes, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { base58btc } from 'multiformats/bases/base58'
import { InvalidKeyError } from './errors.ts'

/**
 * Ed25519 keys for log identities. Signing and verifying go through node:crypto, which is 10–50× faster here
 * than pure-JS curve arithmetic ("Primitive choices" in `npm run bench`); @noble/curves derives public keys and
 * converts keys for sealed boxes. KeyObjects are built once per key and kept.
 */

export const ED25519_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64

// DER prefixes that make a raw 32-byte key a PKCS#8 (private seed) or SPKI (public) document for node:crypto.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
// libp2p's protobuf PublicKey { Type: Ed25519 (1), Data: 32 bytes }, and the identity multihash around it.
const LIBP2P_PUBKEY_PREFIX = Uint8Array.from([0x08, 0x01, 0x12, 0x20])
const IDENTITY_MULTIHASH_PREFIX = Uint8Array.from([0x00, 0x24])

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) { out.set(part, at); at += part.length }
  return out
}

function startsWith (bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

export class Ed25519PublicKey {
  /** The raw 32-byte key. */
  readonly bytes: Uint8Array
  #keyObject?: KeyObject
  #logId?: string

  private constructor (bytes: Uint8Array) {
    this.bytes = bytes
  }

  static fromBytes (raw: Uint8Array): Ed25519PublicKey {
    if (raw.length !== ED25519_KEY_BYTES) throw new InvalidKeyError(`an Ed25519 public key has 32 bytes, got ${raw.length}`)
    const key = new Ed25519PublicKey(Uint8Array.from(raw))
    try {
      key.#keyObject = createPublicKey({ key: Buffer.from(concat(SPKI_PREFIX, raw)), format: 'der', type: 'spki' })
    } catch (cause) {
      throw new InvalidKeyError('not an Ed25519 public key', { cause })
    }
    return key
  }

  /** From libp2p's protobuf form (`08 01 12 20 ‖ key`), the form records carry. */
  static unmarshal (encoded: Uint8Array): Ed25519PublicKey {
    if (encoded.length !== LIBP2P_PUBKEY_PREFIX.length + ED25519_KEY_BYTES || !startsWith(encoded, LIBP2P_PUBKEY_PREFIX)) {
      throw new InvalidKeyError('not a protobuf-encoded Ed25519 public key')
    }
    return Ed25519PublicKey.fromBytes(encoded.subarray(LIBP2P_PUBKEY_PREFIX.length))
  }

  /** From a log ID (a libp2p peer ID such as `12D3KooW…`, which embeds the whole key). */
  static fromLogId (logId: string): Ed25519PublicKey {
    let multihash: Uint8Array
    try {
      multihash = base58btc.baseDecode(logId)
    } catch (cause) {
      throw new InvalidKeyError(`not a log ID: ${JSON.stringify(logId.slice(0, 80))}`, { cause })
    }
    if (!startsWith(multihash, IDENTITY_MULTIHASH_PREFIX)) throw new InvalidKeyError('log ID does not embed an Ed25519 key')
    return Ed25519PublicKey.unmarshal(multihash.subarray(IDENTITY_MULTIHASH_PREFIX.length))
  }

  marshal (): Uint8Array {
    return concat(LIBP2P_PUBKEY_PREFIX, this.bytes)
  }

  /** The libp2p peer ID of this key: the log ID when the key is a log's. */
  get logId (): string {
    this.#logId ??= base58btc.baseEncode(concat(IDENTITY_MULTIHASH_PREFIX, this.marshal()))
    return this.#logId
  }

  verify (data: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== ED25519_SIGNATURE_BYTES) return false
    return verify(null, data, this.#keyObject!, signature)
  }

  /** `verify` on libuv's thread pool: callers with many signatures to check use every core. */
  async verifyInParallel (data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== ED25519_SIGNATURE_BYTES) return false
    return await new Promise<boolean>((resolve, reject) => {
      verify(null, data, this.#keyObject!, signature, (error, valid) => { error === null ? resolve(valid) : reject(error) })
    })
  }

  equals (other: Ed25519PublicKey): boolean {
    return this.logId === other.logId
  }
}

export class Ed25519PrivateKey {
  /** The 32-byte seed; everything else derives from it. */
  readonly seed: Uint8Array
  readonly publicKey: Ed25519PublicKey
  readonly #keyObject: KeyObject

  private constructor (seed: Uint8Array) {
    this.seed = seed
    this.publicKey = Ed25519PublicKey.fromBytes(ed25519.getPublicKey(seed))
    this.#keyObject = createPrivateKey({ key: Buffer.from(concat(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' })
  }

  static generate (): Ed25519PrivateKey {
    return new Ed25519PrivateKey(new Uint8Array(randomBytes(ED25519_KEY_BYTES)))
  }

  static fromSeed (seed: Uint8Array): Ed25519PrivateKey {
    if (seed.length !== ED25519_KEY_BYTES) throw new InvalidKeyError(`an Ed25519 private key seed has 32 bytes, got ${seed.length}`)
    return new Ed25519PrivateKey(Uint8Array.from(seed))
  }

  sign (data: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, data, this.#keyObject))
  }
}
