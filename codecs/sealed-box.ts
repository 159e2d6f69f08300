import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { decrypt, encrypt } from './aead.ts'
import { DecryptionError } from './errors.ts'
import type { Ed25519PrivateKey, Ed25519PublicKey } from './ed25519.ts'

/**
 * Anonymous sealed boxes to an Ed25519 identity (invites, key sets for one recipient). The recipient's key is
 * mapped to X25519, a fresh ephemeral key agrees a secret with it, HKDF-SHA-256 turns that into an AES-256-GCM
 * key bound to both public keys, and the box is `ephemeralPublic(32) ‖ nonce ‖ ciphertext ‖ tag`.
 * Only the holder of the recipient's private key can open it; the sender stays anonymous.
 */

const EPHEMERAL_BYTES = 32
const INFO = new TextEncoder().encode('threads/sealed-box/v1')

function boxKey (shared: Uint8Array, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): Uint8Array {
  const salt = new Uint8Array(2 * EPHEMERAL_BYTES)
  salt.set(ephemeralPublic)
  salt.set(recipientPublic, EPHEMERAL_BYTES)
  return hkdf(sha256, shared, salt, INFO, 32)
}

export function seal (recipient: Ed25519PublicKey, plaintext: Uint8Array): Uint8Array {
  const recipientX = ed25519.utils.toMontgomery(recipient.bytes)
  const ephemeralSecret = x25519.utils.randomSecretKey()
  const ephemeralPublic = x25519.getPublicKey(ephemeralSecret)
  const shared = x25519.getSharedSecret(ephemeralSecret, recipientX)
  const sealed = encrypt(boxKey(shared, ephemeralPublic, recipientX), plaintext)
  const out = new Uint8Array(EPHEMERAL_BYTES + sealed.length)
  out.set(ephemeralPublic)
  out.set(sealed, EPHEMERAL_BYTES)
  return out
}

export function open (recipient: Ed25519PrivateKey, box: Uint8Array): Uint8Array {
  if (box.length < EPHEMERAL_BYTES) throw new DecryptionError(`sealed box of ${box.length} bytes is too short`)
  const ephemeralPublic = box.subarray(0, EPHEMERAL_BYTES)
  const recipientX = ed25519.utils.toMontgomery(recipient.publicKey.bytes)
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(recipient.seed), ephemeralPublic)
  } catch (cause) {
    throw new DecryptionError('sealed box carries an invalid ephemeral key', { cause })
  }
  return decrypt(boxKey(shared, ephemeralPublic, recipientX), box.subarray(EPHEMERAL_BYTES))
}
