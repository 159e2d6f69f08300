import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeUvarint, encodeUvarint } from '../../codecs/varint.ts'

describe('uvarint', () => {
  it('encodes the multiformats test vectors', () => {
    const vectors: Array<[number, number[]]> = [
      [0, [0x00]],
      [1, [0x01]],
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [255, [0xff, 0x01]],
      [300, [0xac, 0x02]],
      [16384, [0x80, 0x80, 0x01]],
      [0x300001, [0x81, 0x80, 0xc0, 0x01]]
    ]
    for (const [value, bytes] of vectors) {
      assert.deepEqual([...encodeUvarint(value)], bytes, `encode ${value}`)
      assert.deepEqual(decodeUvarint(Uint8Array.from(bytes)), [value, bytes.length], `decode ${value}`)
    }
  })

  it('round-trips values up to MAX_SAFE_INTEGER', () => {
    for (const value of [2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 49 - 1, 2 ** 52, Number.MAX_SAFE_INTEGER]) {
      const bytes = encodeUvarint(value)
      assert.deepEqual(decodeUvarint(bytes), [value, bytes.length])
    }
  })

  it('decodes at an offset and reports the bytes it read', () => {
    const bytes = Uint8Array.from([0xff, 0xff, 0xac, 0x02, 0x07])
    assert.deepEqual(decodeUvarint(bytes, 2), [300, 2])
    assert.deepEqual(decodeUvarint(bytes, 4), [7, 1])
  })

  it('refuses to encode negatives, fractions and unsafe integers', () => {
    for (const value of [-1, 1.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
      assert.throws(() => encodeUvarint(value), RangeError, String(value))
    }
  })

  it('returns undefined for a varint that runs past the input', () => {
    assert.equal(decodeUvarint(new Uint8Array(0)), undefined)
    assert.equal(decodeUvarint(Uint8Array.from([0x80])), undefined)
    assert.equal(decodeUvarint(Uint8Array.from([0xff, 0xff])), undefined)
    assert.equal(decodeUvarint(Uint8Array.from([0x01]), 1), undefined)
  })

  it('returns undefined for non-minimal encodings', () => {
    assert.equal(decodeUvarint(Uint8Array.from([0x81, 0x00])), undefined)
    assert.equal(decodeUvarint(Uint8Array.from([0x80, 0x80, 0x00])), undefined)
  })

  it('returns undefined past maxBytes or past MAX_SAFE_INTEGER', () => {
    assert.equal(decodeUvarint(Uint8Array.from([0x80, 0x80, 0x01]), 0, 2), undefined)
    assert.deepEqual(decodeUvarint(Uint8Array.from([0x80, 0x80, 0x01]), 0, 3), [16384, 3])
    // ten continuation-heavy bytes: longer than the default nine-byte bound
    assert.equal(decodeUvarint(new Uint8Array(10).fill(0xff)), undefined)
    // 2^53 needs eight 7-bit groups: one over the safe range
    assert.equal(decodeUvarint(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), undefined)
  })
})
