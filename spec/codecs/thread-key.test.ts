import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { base16 } from 'multiformats/bases/base16'
import { base58btc } from 'multiformats/bases/base58'
import { randomSymmetricKey } from '../../codecs/aead.ts'
import { InvalidKeyError } from '../../codecs/errors.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'

const isInvalidKey = (e: unknown): boolean => e instanceof InvalidKeyError && e.code === 'ERR_INVALID_KEY'

describe('ThreadKey', () => {
  it('random keys have a service part and a read part, and differ', () => {
    const key = ThreadKey.random()
    assert.equal(key.service.length, 32)
    assert.equal(key.read?.length, 32)
    assert.equal(key.canRead, true)
    assert.notDeepEqual(key.service, key.read)
    assert.notDeepEqual(ThreadKey.random().bytes, key.bytes)
  })

  it('serviceOnly drops the read part and keeps the service part', () => {
    const key = ThreadKey.random()
    const replica = key.serviceOnly()
    assert.equal(replica.read, undefined)
    assert.equal(replica.canRead, false)
    assert.deepEqual(replica.service, key.service)
    assert.equal(replica.bytes.length, 32)
    assert.deepEqual(replica.bytes, key.service)
    // the original is untouched
    assert.equal(key.canRead, true)
  })

  it('lays out bytes as service ‖ read (64) or service (32)', () => {
    const service = randomSymmetricKey()
    const read = randomSymmetricKey()
    const full = ThreadKey.of(service, read)
    assert.deepEqual(full.bytes, Uint8Array.from([...service, ...read]))
    assert.deepEqual(ThreadKey.of(service).bytes, service)
  })

  it('round-trips both forms through bytes', () => {
    const key = ThreadKey.random()
    const full = ThreadKey.fromBytes(key.bytes)
    assert.deepEqual(full.service, key.service)
    assert.deepEqual(full.read, key.read)
    const replica = ThreadKey.fromBytes(key.serviceOnly().bytes)
    assert.deepEqual(replica.service, key.service)
    assert.equal(replica.read, undefined)
  })

  it('round-trips both forms through its string, and reads other multibases', () => {
    const key = ThreadKey.random()
    const text = key.toString()
    assert.ok(text.startsWith('b'))
    assert.equal(JSON.stringify(key), JSON.stringify(text))
    assert.deepEqual(ThreadKey.fromString(text).bytes, key.bytes)
    const replica = key.serviceOnly()
    const back = ThreadKey.fromString(replica.toString())
    assert.deepEqual(back.bytes, key.service)
    assert.equal(back.canRead, false)
    assert.deepEqual(ThreadKey.fromString(base58btc.encode(key.bytes)).bytes, key.bytes)
    assert.deepEqual(ThreadKey.fromString(base16.encode(key.bytes)).bytes, key.bytes)
  })

  it('copies its input, and hands out copies of its bytes', () => {
    const bytes = ThreadKey.random().bytes
    const key = ThreadKey.fromBytes(bytes)
    const before = key.toString()
    bytes.fill(0)
    assert.equal(key.toString(), before)
    key.bytes.fill(0)
    assert.equal(key.toString(), before)
  })

  describe('bad input', () => {
    it('rejects byte lengths other than 32 and 64', () => {
      for (const n of [0, 1, 16, 31, 33, 48, 63, 65, 96, 128]) {
        assert.throws(() => ThreadKey.fromBytes(new Uint8Array(n)), isInvalidKey, `${n} bytes`)
        assert.throws(() => ThreadKey.fromString(base16.encode(new Uint8Array(n))), isInvalidKey, `${n} bytes as a string`)
      }
    })

    it('rejects parts that are not 32 bytes', () => {
      assert.throws(() => ThreadKey.of(new Uint8Array(31)), isInvalidKey)
      assert.throws(() => ThreadKey.of(new Uint8Array(32), new Uint8Array(16)), isInvalidKey)
      assert.throws(() => ThreadKey.of(new Uint8Array(64)), isInvalidKey)
    })

    it('rejects strings that are not multibase', () => {
      for (const text of ['', 'not a key', 'b!!!', '\u0007abc', ThreadKey.random().toString().slice(1)]) {
        assert.throws(() => ThreadKey.fromString(text), isInvalidKey, JSON.stringify(text))
      }
    })
  })
})
