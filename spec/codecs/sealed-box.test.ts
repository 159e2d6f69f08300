import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { DecryptionError, ThreadsError } from '../../codecs/errors.ts'
import { open, seal } from '../../codecs/sealed-box.ts'

const isDecryption = (e: unknown): boolean => e instanceof DecryptionError && e.code === 'ERR_DECRYPTION_FAILED'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('sealed boxes', () => {
  it('open for the recipient', () => {
    const recipient = Ed25519PrivateKey.generate()
    for (const plaintext of [new Uint8Array(0), text('an invite'), new Uint8Array(10_000).fill(3)]) {
      const box = seal(recipient.publicKey, plaintext)
      assert.equal(box.length, 32 + 12 + plaintext.length + 16)
      assert.deepEqual(open(recipient, box), plaintext)
    }
  })

  it('open with the recipient key rebuilt from its seed', () => {
    const recipient = Ed25519PrivateKey.generate()
    const box = seal(recipient.publicKey, text('keys'))
    assert.deepEqual(open(Ed25519PrivateKey.fromSeed(recipient.seed), box), text('keys'))
  })

  it('do not open for another identity', () => {
    const recipient = Ed25519PrivateKey.generate()
    const box = seal(recipient.publicKey, text('for your eyes only'))
    for (let i = 0; i < 5; i++) {
      assert.throws(() => open(Ed25519PrivateKey.generate(), box), isDecryption)
    }
  })

  it('differ each time, even for the same recipient and plaintext (fresh ephemeral key)', () => {
    const recipient = Ed25519PrivateKey.generate()
    const a = seal(recipient.publicKey, text('same'))
    const b = seal(recipient.publicKey, text('same'))
    assert.notDeepEqual(a.subarray(0, 32), b.subarray(0, 32))
    assert.notDeepEqual(a, b)
    assert.deepEqual(open(recipient, a), open(recipient, b))
  })

  it('fail with DecryptionError when any byte is altered', () => {
    const recipient = Ed25519PrivateKey.generate()
    const box = seal(recipient.publicKey, text('tamper'))
    for (let i = 0; i < box.length; i++) {
      // 0x80 on the last ephemeral byte flips the bit X25519 ignores: the box key must still change
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = box.slice()
        bad[i] ^= mask
        assert.throws(() => open(recipient, bad), isDecryption, `byte ${i} ^ ${mask}`)
      }
    }
  })

  it('fail with DecryptionError when truncated, empty or garbage', () => {
    const recipient = Ed25519PrivateKey.generate()
    const box = seal(recipient.publicKey, text('short'))
    for (let n = 0; n < box.length; n++) {
      assert.throws(() => open(recipient, box.subarray(0, n)), isDecryption, `first ${n} bytes`)
    }
    assert.throws(() => open(recipient, Uint8Array.from([...box, 0])), isDecryption)
    // an all-zero ephemeral key is a low-order point: no shared secret at all
    const zeroEphemeral = box.slice()
    zeroEphemeral.fill(0, 0, 32)
    assert.throws(() => open(recipient, zeroEphemeral), isDecryption)
    assert.throws(() => open(recipient, new Uint8Array(200).fill(0xaa)), (e: unknown) => e instanceof ThreadsError && isDecryption(e))
  })
})
