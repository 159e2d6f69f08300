import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, timingSafeEqual, type KeyObject } from 'node:crypto'
import { DecryptionError, InvalidKeyError } from './errors.ts'

/**
 * AES-256-GCM as the reference lays it out: `nonce(12) ‖ ciphertext ‖ tag(16)`. node:crypto's AES-NI path is
 * what runs here; it is faster than the pure-JS cipher for the sizes records have ("Primitive choices" in `npm run bench`).
 */

export const SYMMETRIC_KEY_BYTES = 32
export const NONCE_BYTES = 12
export const TAG_BYTES = 16
export const AEAD_OVERHEAD = NONCE_BYTES + TAG_BYTES

// Thread keys live long and are used for every record; importing raw bytes on each call costs more than the
// cipher itself. Keyed by the array's identity, so a key's KeyObject goes when the key does.
const keyObjects = new WeakMap<Uint8Array, { raw: Uint8Array, keyObject: KeyObject }>()

function keyObjectOf (key: Uint8Array): KeyObject {
  if (key.length !== SYMMETRIC_KEY_BYTES) throw new InvalidKeyError(`an AES-256 key has 32 bytes, got ${key.length}`)
  const cached = keyObjects.get(key)
  // An array can be refilled in place (a reused read buffer) and then holds another key: the cached KeyObject
  // stands only while the bytes it was made from do, or data would be sealed under the previous key.
  if (cached !== undefined && timingSafeEqual(cached.raw, key)) return cached.keyObject
  const keyObject = createSecretKey(key)
  keyObjects.set(key, { raw: Uint8Array.from(key), keyObject })
  return keyObject
}

// Fresh nonces and keys come from the CSPRNG a page at a time; each byte is handed out once.
const pool = new Uint8Array(4096)
let poolOffset = pool.length

export function randomBytes (length: number): Uint8Array {
  if (length > pool.length) return randomFillSync(new Uint8Array(length))
  if (poolOffset + length > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const out = pool.slice(poolOffset, poolOffset + length)
  poolOffset += length
  return out
}

export function randomSymmetricKey (): Uint8Array {
  return randomBytes(SYMMETRIC_KEY_BYTES)
}

export function encrypt (key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', keyObjectOf(key), nonce)
  const out = new Uint8Array(NONCE_BYTES + plaintext.length + TAG_BYTES)
  out.set(nonce, 0)
  const body = cipher.update(plaintext)
  out.set(body, NONCE_BYTES)
  const tail = cipher.final()
  out.set(tail, NONCE_BYTES + body.length)
  out.set(cipher.getAuthTag(), NONCE_BYTES + body.length + tail.length)
  return out
}

export function decrypt (key: Uint8Array, sealed: Uint8Array): Uint8Array {
  const keyObject = keyObjectOf(key)
  if (sealed.length < AEAD_OVERHEAD) throw new DecryptionError(`ciphertext of ${sealed.length} bytes is shorter than nonce and tag`)
  const decipher = createDecipheriv('aes-256-gcm', keyObject, sealed.subarray(0, NONCE_BYTES))
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
  try {
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES))
    const tail = decipher.final()
    if (tail.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length)
    return new Uint8Array(Buffer.concat([body, tail]))
  } catch (cause) {
    throw new DecryptionError('ciphertext does not open with this key (wrong key, or altered bytes)', { cause })
  }
}
