import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { base16 } from 'multiformats/bases/base16'
import { base32, base32upper } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64url } from 'multiformats/bases/base64'
import { base256emoji } from 'multiformats/bases/base256emoji'
import { InvalidThreadIdError, ThreadsError } from '../../codecs/errors.ts'
import { MAX_RANDOM_BYTES, MIN_RANDOM_BYTES, THREAD_ID_VERSION, ThreadId, ThreadVariant } from '../../codecs/thread-id.ts'

// The two thread IDs printed in the Threads paper.
const PAPER_RAW = 'bafkxd5bjgi6k4zivuoyxo4ua4mzyy'
const PAPER_ACL = 'bafyoiobghzefwlidfrwkqmzz2ka66zgmdmgeobw2mimktr5jivsavya'

function isInvalidThreadId (e: unknown): boolean {
  return e instanceof InvalidThreadIdError && e instanceof ThreadsError && e.code === 'ERR_INVALID_THREAD_ID' &&
    e.name === 'InvalidThreadIdError'
}

function idBytes (...parts: Array<number | Uint8Array>): Uint8Array {
  return Uint8Array.from(parts.flatMap(p => typeof p === 'number' ? [p] : [...p]))
}

describe('ThreadId', () => {
  describe('the paper examples', () => {
    it('decodes the raw-variant example (16 random bytes) and re-encodes it', () => {
      const id = ThreadId.fromString(PAPER_RAW)
      assert.equal(id.version, 1)
      assert.equal(id.variant, ThreadVariant.Raw)
      assert.equal(id.variant, 0x55)
      assert.equal(id.isAccessControlled, false)
      assert.equal(id.random.length, 16)
      assert.equal(id.bytes.length, 18)
      assert.deepEqual([...id.bytes.subarray(0, 2)], [0x01, 0x55])
      assert.equal(id.toString(), PAPER_RAW)
      assert.equal(JSON.stringify({ id }), JSON.stringify({ id: PAPER_RAW }))
    })

    it('decodes the access-controlled example (32 random bytes) and re-encodes it', () => {
      const id = ThreadId.fromString(PAPER_ACL)
      assert.equal(id.version, 1)
      assert.equal(id.variant, ThreadVariant.AccessControlled)
      assert.equal(id.variant, 0x70)
      assert.equal(id.isAccessControlled, true)
      assert.equal(id.random.length, 32)
      assert.equal(id.bytes.length, 34)
      assert.deepEqual([...id.bytes.subarray(0, 2)], [0x01, 0x70])
      assert.equal(id.toString(), PAPER_ACL)
    })

    it('round-trips through bytes', () => {
      for (const text of [PAPER_RAW, PAPER_ACL]) {
        const id = ThreadId.fromString(text)
        const again = ThreadId.fromBytes(id.bytes)
        assert.equal(again.toString(), text)
        assert.ok(again.equals(id))
        assert.deepEqual(again.random, id.random)
      }
    })
  })

  it('decodes every multibase form of the same ID to the same ID', () => {
    const id = ThreadId.fromString(PAPER_ACL)
    const encoders = [base58btc, base16, base32upper, base36, base64, base64url, base256emoji]
    for (const encoder of encoders) {
      const text = id.toString(encoder)
      assert.ok(text.startsWith(encoder.prefix))
      const decoded = ThreadId.fromString(text)
      assert.ok(decoded.equals(id), `${encoder.name}: ${text}`)
      assert.equal(decoded.toString(), PAPER_ACL)
      assert.deepEqual(decoded.bytes, id.bytes)
    }
    assert.equal(id.toString(base32), PAPER_ACL)
    assert.equal(ThreadId.fromString(PAPER_RAW).toString(base58btc), 'z4D6kiaMYgNfDJLzQ7H7TQwXq')
    assert.equal(ThreadId.fromString(PAPER_RAW).toString(base16), 'f015571f429323cae6515a3b1777280e3338c')
  })

  it('creates fresh IDs: base32, 32 random bytes, raw by default', () => {
    const a = ThreadId.create()
    const b = ThreadId.create()
    assert.equal(a.version, THREAD_ID_VERSION)
    assert.equal(a.variant, ThreadVariant.Raw)
    assert.equal(a.random.length, 32)
    assert.ok(a.toString().startsWith('b'))
    assert.ok(!a.equals(b))
    assert.ok(ThreadId.fromString(a.toString()).equals(a))
  })

  it('creates access-controlled IDs and IDs with other random lengths', () => {
    const acl = ThreadId.create({ variant: ThreadVariant.AccessControlled })
    assert.equal(acl.variant, 0x70)
    assert.ok(acl.isAccessControlled)
    assert.equal(ThreadId.create({ randomBytes: MIN_RANDOM_BYTES }).random.length, 16)
    assert.equal(ThreadId.create({ randomBytes: MAX_RANDOM_BYTES }).random.length, 255)
  })

  it('refuses to create IDs with an unknown variant or too little or too much randomness', () => {
    assert.throws(() => ThreadId.create({ variant: 0x71 as ThreadVariant }), isInvalidThreadId)
    for (const size of [0, 15, 256, 16.5, -1, Number.NaN]) {
      assert.throws(() => ThreadId.create({ randomBytes: size }), isInvalidThreadId, String(size))
    }
  })

  it('ThreadId.from accepts an ID, its bytes or its string', () => {
    const id = ThreadId.fromString(PAPER_RAW)
    assert.equal(ThreadId.from(id), id)
    assert.ok(ThreadId.from(id.bytes).equals(id))
    assert.ok(ThreadId.from(PAPER_RAW).equals(id))
    assert.throws(() => ThreadId.from('nope'), isInvalidThreadId)
    assert.throws(() => ThreadId.from(new Uint8Array(0)), isInvalidThreadId)
  })

  it('copies its input so later writes to the caller\'s buffer cannot change it', () => {
    const bytes = ThreadId.create().bytes.slice()
    const id = ThreadId.fromBytes(bytes)
    const before = id.toString()
    bytes[5] ^= 0xff
    assert.equal(id.toString(), before)
  })

  describe('bad input', () => {
    const random16 = new Uint8Array(16).fill(7)

    it('rejects unknown variants', () => {
      for (const variant of [0x00, 0x01, 0x54, 0x56, 0x71, 0x7f]) {
        assert.throws(() => ThreadId.fromBytes(idBytes(1, variant, random16)), isInvalidThreadId, `0x${variant.toString(16)}`)
      }
      // a variant that takes two varint bytes
      assert.throws(() => ThreadId.fromBytes(idBytes(1, 0xd5, 0x00, random16)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(1, 0x80, 0x01, random16)), isInvalidThreadId)
    })

    it('rejects unknown versions', () => {
      for (const version of [0x00, 0x02, 0x12, 0x7f]) {
        assert.throws(() => ThreadId.fromBytes(idBytes(version, 0x55, random16)), isInvalidThreadId, String(version))
      }
      assert.throws(() => ThreadId.fromBytes(idBytes(0x81, 0x01, 0x55, random16)), isInvalidThreadId)
    })

    it('rejects non-minimal varints for version or variant', () => {
      assert.throws(() => ThreadId.fromBytes(idBytes(0x81, 0x00, 0x55, random16)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(0x01, 0xd5, 0x80, 0x00, random16)), isInvalidThreadId)
    })

    it('rejects fewer than 16 random bytes, and empty randomness', () => {
      for (let n = 0; n < 16; n++) {
        assert.throws(() => ThreadId.fromBytes(idBytes(1, 0x55, new Uint8Array(n))), isInvalidThreadId, `${n} bytes`)
        assert.throws(() => ThreadId.fromBytes(idBytes(1, 0x70, new Uint8Array(n))), isInvalidThreadId, `${n} bytes`)
      }
      assert.equal(ThreadId.fromBytes(idBytes(1, 0x55, random16)).random.length, 16)
    })

    it('rejects more random bytes than the limit', () => {
      assert.throws(() => ThreadId.fromBytes(idBytes(1, 0x55, new Uint8Array(MAX_RANDOM_BYTES + 1))), isInvalidThreadId)
      assert.equal(ThreadId.fromBytes(idBytes(1, 0x55, new Uint8Array(MAX_RANDOM_BYTES))).random.length, MAX_RANDOM_BYTES)
    })

    it('rejects truncated varints and empty input', () => {
      assert.throws(() => ThreadId.fromBytes(new Uint8Array(0)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(0x80)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(0x01)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(0x01, 0x80)), isInvalidThreadId)
      assert.throws(() => ThreadId.fromBytes(idBytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), isInvalidThreadId)
    })

    it('rejects every truncation of a valid ID below the minimum', () => {
      const id = ThreadId.fromString(PAPER_RAW)
      for (let n = 0; n < id.bytes.length; n++) {
        assert.throws(() => ThreadId.fromBytes(id.bytes.subarray(0, n)), isInvalidThreadId, `${n} bytes`)
      }
    })

    it('rejects garbage strings and unknown multibase prefixes', () => {
      const garbage = [
        '',
        ' ',
        'hello world',
        'b',
        'b!!!!',
        'bafkxd5bjgi6k4zivuoyxo4ua4mzy1', // '1' is not a base32 digit
        'z0OIl', // not base58 digits
        'fzz', // not hex
        'f0', // odd hex
        PAPER_RAW.slice(1), // prefix dropped: 'a' is not a multibase prefix
        'q' + PAPER_RAW.slice(1),
        '!' + PAPER_RAW.slice(1),
        '\u{1F680}' + PAPER_RAW.slice(1), // the base256emoji prefix, then digits that are not emoji
        '\u{1F680}',
        '\u{1F681}abc', // an emoji that is no multibase prefix
        '\uD83D', // a lone surrogate
        PAPER_RAW.slice(0, 10) // too short once decoded
      ]
      for (const text of garbage) {
        assert.throws(() => ThreadId.fromString(text), isInvalidThreadId, JSON.stringify(text))
      }
    })

    it('rejects a multibase string that decodes to a bad ID', () => {
      assert.throws(() => ThreadId.fromString(base32.encode(idBytes(2, 0x55, random16))), isInvalidThreadId)
      assert.throws(() => ThreadId.fromString(base58btc.encode(idBytes(1, 0x99, random16))), isInvalidThreadId)
      assert.throws(() => ThreadId.fromString(base16.encode(idBytes(1, 0x55, new Uint8Array(15)))), isInvalidThreadId)
    })

    it('keeps the multibase decoder\'s error as the cause', () => {
      assert.throws(() => ThreadId.fromString('x-not-a-base'), (e: unknown) => isInvalidThreadId(e) && (e as Error).cause instanceof Error)
    })
  })
})
