import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { gcm } from '@noble/ciphers/aes.js'
import { AEAD_OVERHEAD, decrypt, encrypt, NONCE_BYTES, randomSymmetricKey, SYMMETRIC_KEY_BYTES, TAG_BYTES } from '../../codecs/aead.ts'
import { DecryptionError, InvalidKeyError } from '../../codecs/errors.ts'

const isDecryption = (e: unknown): boolean => e instanceof DecryptionError && e.code === 'ERR_DECRYPTION_FAILED'
const isInvalidKey = (e: unknown): boolean => e instanceof InvalidKeyError && e.code === 'ERR_INVALID_KEY'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('AEAD (AES-256-GCM)', () => {
  it('round-trips plaintexts of many sizes, including empty', () => {
    const key = randomSymmetricKey()
    assert.equal(key.length, SYMMETRIC_KEY_BYTES)
    for (const size of [0, 1, 15, 16, 17, 300, 4096, 100_000]) {
      const plaintext = new Uint8Array(randomBytes(size))
      const sealed = encrypt(key, plaintext)
      assert.deepEqual(decrypt(key, sealed), plaintext, `${size} bytes`)
    }
  })

  it('lays out nonce(12) ‖ ciphertext ‖ tag(16)', () => {
    assert.equal(NONCE_BYTES, 12)
    assert.equal(TAG_BYTES, 16)
    assert.equal(AEAD_OVERHEAD, 28)
    const key = randomSymmetricKey()
    for (const size of [0, 1, 33, 1000]) {
      assert.equal(encrypt(key, new Uint8Array(size)).length, size + 28)
    }
  })

  it('uses a fresh nonce for every message', () => {
    const key = randomSymmetricKey()
    const plaintext = text('same message')
    const a = encrypt(key, plaintext)
    const b = encrypt(key, plaintext)
    assert.notDeepEqual(a.subarray(0, NONCE_BYTES), b.subarray(0, NONCE_BYTES))
    assert.notDeepEqual(a, b)
  })

  it('interoperates with @noble/ciphers gcm in the same layout', () => {
    const key = randomSymmetricKey()
    const plaintext = text('interop across implementations')

    // noble → ours
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES))
    const nobleSealed = gcm(key, nonce).encrypt(plaintext) // ct ‖ tag
    const framed = new Uint8Array(NONCE_BYTES + nobleSealed.length)
    framed.set(nonce)
    framed.set(nobleSealed, NONCE_BYTES)
    assert.deepEqual(decrypt(key, framed), plaintext)

    // ours → noble
    const ours = encrypt(key, plaintext)
    const opened = gcm(key, ours.subarray(0, NONCE_BYTES)).decrypt(ours.subarray(NONCE_BYTES))
    assert.deepEqual(opened, plaintext)

    // the same key and nonce give the same bytes either way
    const oursBody = ours.subarray(NONCE_BYTES)
    assert.deepEqual(gcm(key, ours.subarray(0, NONCE_BYTES)).encrypt(plaintext), oursBody)
  })

  it('fails with DecryptionError when any byte is flipped', () => {
    const key = randomSymmetricKey()
    const sealed = encrypt(key, text('short secret'))
    for (let i = 0; i < sealed.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = sealed.slice()
        bad[i] ^= mask
        assert.throws(() => decrypt(key, bad), isDecryption, `byte ${i} ^ ${mask}`)
      }
    }
    // an empty plaintext still has nonce and tag to protect
    const empty = encrypt(key, new Uint8Array(0))
    for (let i = 0; i < empty.length; i++) {
      const bad = empty.slice()
      bad[i] ^= 0x01
      assert.throws(() => decrypt(key, bad), isDecryption, `empty, byte ${i}`)
    }
  })

  it('fails with DecryptionError when truncated or extended', () => {
    const key = randomSymmetricKey()
    const sealed = encrypt(key, text('short secret'))
    for (let n = 0; n < sealed.length; n++) {
      assert.throws(() => decrypt(key, sealed.subarray(0, n)), isDecryption, `first ${n} bytes`)
      if (n > 0) assert.throws(() => decrypt(key, sealed.subarray(n)), isDecryption, `from ${n}`)
    }
    assert.throws(() => decrypt(key, Uint8Array.from([...sealed, 0])), isDecryption)
  })

  it('fails with DecryptionError under the wrong key', () => {
    const sealed = encrypt(randomSymmetricKey(), text('secret'))
    assert.throws(() => decrypt(randomSymmetricKey(), sealed), isDecryption)
    assert.throws(() => decrypt(new Uint8Array(32), sealed), isDecryption)
  })

  it('fails with DecryptionError on garbage of any length', () => {
    const key = randomSymmetricKey()
    for (const size of [0, 1, 27, 28, 29, 64, 1000]) {
      assert.throws(() => decrypt(key, new Uint8Array(randomBytes(size))), isDecryption, `${size} bytes`)
    }
  })

  it('rejects keys that are not 32 bytes with InvalidKeyError, before touching the data', () => {
    const sealed = encrypt(randomSymmetricKey(), text('secret'))
    for (const size of [0, 16, 24, 31, 33, 64]) {
      const key = new Uint8Array(size)
      assert.throws(() => encrypt(key, text('x')), isInvalidKey, `encrypt, ${size}-byte key`)
      assert.throws(() => decrypt(key, sealed), isInvalidKey, `decrypt, ${size}-byte key`)
      assert.throws(() => decrypt(key, new Uint8Array(0)), isInvalidKey, `decrypt short, ${size}-byte key`)
    }
  })

  it('uses a key array\'s current bytes, even after it is refilled in place', () => {
    // e.g. a read buffer reused for the next key: nothing may be sealed or opened under the bytes it held before
    const buffer = randomSymmetricKey()
    const keyA = buffer.slice()
    const sealedA = encrypt(buffer, text('for thread A'))
    buffer.set(randomSymmetricKey())
    const keyB = buffer.slice()
    const sealedB = encrypt(buffer, text('for thread B'))
    assert.deepEqual(decrypt(keyB, sealedB), text('for thread B'))
    assert.throws(() => decrypt(keyA, sealedB), isDecryption)
    assert.throws(() => decrypt(buffer, sealedA), isDecryption)
    assert.deepEqual(decrypt(buffer, sealedB), text('for thread B'))
    buffer.set(keyA)
    assert.deepEqual(decrypt(buffer, sealedA), text('for thread A'))
  })

  it('returns plaintext that does not alias the ciphertext', () => {
    const key = randomSymmetricKey()
    const sealed = encrypt(key, text('do not alias'))
    const opened = decrypt(key, sealed)
    sealed.fill(0)
    assert.deepEqual(opened, text('do not alias'))
  })
})
