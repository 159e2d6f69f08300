import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { DecryptionError, InvalidKeyError } from './errors.ts'

/**
 * AES-256-GCM as the reference lays it out: `nonce(12) ‖ ciphertext ‖ tag(16)`. node:crypto's AES-NI path is
 * what runs here; it is faster than the pure-JS cipher for the sizes records have (see the primitives bench).
 */

export const SYMMETRIC_KEY_BYTES = 32
export const NONCE_BYTES = 12
export const TAG_BYTES = 16
export const AEAD_OVERHEAD = NONCE_BYTES + TAG_BYTES

function assertKey (key: Uint8Array): void {
  if (key.length !== SYMMETRIC_KEY_BYTES) throw new InvalidKeyError(`an AES-256 key has 32 bytes, got ${key.length}`)
}

export function randomSymmetricKey (): Uint8Array {
  return new Uint8Array(randomBytes(SYMMETRIC_KEY_BYTES))
}

export function encrypt (key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  assertKey(key)
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
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
  assertKey(key)
  if (sealed.length < AEAD_OVERHEAD) throw new DecryptionError(`ciphertext of ${sealed.length} bytes is shorter than nonce and tag`)
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES))
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
