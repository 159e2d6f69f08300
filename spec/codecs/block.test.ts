import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { decrypt, encrypt, randomSymmetricKey } from '../../codecs/aead.ts'
import {
  asBytes, asCid, asMap, assertSize, cidOf, DAG_CBOR_CODE, decodeNode, decryptBlock, encodeBlock, encryptBlock,
  SHA2_256_CODE, verifiedBlock
} from '../../codecs/block.ts'
import { BlockIntegrityError, BlockTooLargeError, DecryptionError, MalformedBlockError } from '../../codecs/errors.ts'

const isMalformed = (e: unknown): boolean => e instanceof MalformedBlockError && e.code === 'ERR_MALFORMED_BLOCK'
const isIntegrity = (e: unknown): boolean => e instanceof BlockIntegrityError && e.code === 'ERR_BLOCK_INTEGRITY'
const isTooLarge = (e: unknown): boolean => e instanceof BlockTooLargeError && e.code === 'ERR_BLOCK_TOO_LARGE'
const isDecryption = (e: unknown): boolean => e instanceof DecryptionError && e.code === 'ERR_DECRYPTION_FAILED'

describe('blocks', () => {
  it('name dag-cbor bytes with a CIDv1, dag-cbor, sha2-256', async () => {
    const value = { hello: 'world', n: 1, list: [1, 2, 3] }
    const block = encodeBlock(value)
    assert.equal(block.cid.version, 1)
    assert.equal(block.cid.code, 0x71)
    assert.equal(DAG_CBOR_CODE, 0x71)
    assert.equal(block.cid.multihash.code, 0x12)
    assert.equal(SHA2_256_CODE, 0x12)
    assert.equal(block.cid.multihash.size, 32)
    assert.ok(block.cid.toString().startsWith('bafyrei'))
    assert.deepEqual(block.bytes, dagCbor.encode(value))
    // the same CID multiformats' own hasher gives
    assert.ok(block.cid.equals(CID.create(1, dagCbor.code, await sha256.digest(block.bytes))))
    assert.deepEqual(decodeNode(block.bytes, 'test'), value)
  })

  it('give the well-known CID of the empty map', () => {
    const block = encodeBlock({})
    assert.deepEqual([...block.bytes], [0xa0])
    assert.equal(block.cid.toString(), 'bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua')
  })

  it('encode deterministically: map key order does not change the CID', () => {
    assert.ok(encodeBlock({ a: 1, b: 2 }).cid.equals(encodeBlock({ b: 2, a: 1 }).cid))
  })

  it('own their bytes: a plain Uint8Array over its own buffer, whose slice is a copy', () => {
    // byte strings this size make dag-cbor return a Buffer from Node's shared pool, where other plaintexts live too
    const secret = new TextEncoder().encode('PLAINTEXT-NEIGHBOUR'.repeat(20))
    const neighbour = dagCbor.encode({ secret })
    const key = randomSymmetricKey()
    for (const block of [encodeBlock({ blob: new Uint8Array(300).fill(9) }), encryptBlock(key, { secret }), encodeBlock(new Uint8Array(500))]) {
      assert.equal(Object.getPrototypeOf(block.bytes), Uint8Array.prototype)
      assert.equal(block.bytes.byteOffset, 0)
      assert.equal(block.bytes.buffer.byteLength, block.bytes.length)
      assert.ok(!Buffer.from(block.bytes.buffer).includes(Buffer.from(secret)))
      const copy = block.bytes.slice()
      copy.fill(0)
      assert.ok(verifiedBlock(block.cid, block.bytes), 'changing a slice left the block intact')
    }
    assert.ok(neighbour.length > 0)
  })

  it('refuse values dag-cbor cannot encode with MalformedBlockError', () => {
    for (const value of [undefined, () => 1, Symbol('x'), Number.NaN, Infinity, { a: undefined }, new Map([[1, 2]])]) {
      assert.throws(() => encodeBlock(value), isMalformed, String(typeof value))
    }
  })

  describe('verifiedBlock', () => {
    it('accepts bytes that hash to the CID', () => {
      const block = encodeBlock({ x: 1 })
      const checked = verifiedBlock(block.cid, block.bytes)
      assert.ok(checked.cid.equals(block.cid))
      assert.equal(checked.bytes, block.bytes)
    })

    it('rejects bytes that do not hash to the CID', () => {
      const block = encodeBlock({ x: 1, y: 'two' })
      for (let i = 0; i < block.bytes.length; i++) {
        const bad = block.bytes.slice()
        bad[i] ^= 0x01
        assert.throws(() => verifiedBlock(block.cid, bad), isIntegrity, `byte ${i}`)
      }
      assert.throws(() => verifiedBlock(block.cid, new Uint8Array(0)), isIntegrity)
      assert.throws(() => verifiedBlock(block.cid, block.bytes.subarray(1)), isIntegrity)
      assert.throws(() => verifiedBlock(encodeBlock({ x: 2 }).cid, block.bytes), isIntegrity)
    })

    it('rejects CIDs of other forms even when the hash matches', async () => {
      const block = encodeBlock({ x: 1 })
      const others = [
        CID.create(1, raw.code, block.cid.multihash), // raw codec, same digest
        CID.create(0, 0x70, await sha256.digest(block.bytes)), // CIDv0
        CID.create(1, dagCbor.code, await sha512.digest(block.bytes)),
        CID.create(1, dagCbor.code, identity.digest(block.bytes))
      ]
      for (const cid of others) assert.throws(() => verifiedBlock(cid, block.bytes), isIntegrity, cid.toString())
    })
  })

  describe('encrypted blocks', () => {
    it('are a dag-cbor byte string wrapping nonce ‖ ciphertext ‖ tag, and decrypt back', () => {
      const key = randomSymmetricKey()
      const value = { secret: 'yes', n: [1, 2] }
      const block = encryptBlock(key, value)
      const wrapped = dagCbor.decode(block.bytes)
      assert.ok(wrapped instanceof Uint8Array)
      const plaintext = dagCbor.encode(value)
      assert.equal(wrapped.length, plaintext.length + 28)
      assert.deepEqual(decrypt(key, wrapped), plaintext)
      assert.deepEqual(decryptBlock(key, block.bytes, 'test'), value)
      assert.ok(block.cid.equals(cidOf(block.bytes)))
    })

    it('fail with DecryptionError under the wrong key or altered ciphertext', () => {
      const key = randomSymmetricKey()
      const block = encryptBlock(key, { a: 1 })
      assert.throws(() => decryptBlock(randomSymmetricKey(), block.bytes, 'test'), isDecryption)
      const bad = block.bytes.slice()
      bad[bad.length - 1] ^= 1
      assert.throws(() => decryptBlock(key, bad, 'test'), isDecryption)
    })

    it('fail with MalformedBlockError when the node is not a byte string', () => {
      const key = randomSymmetricKey()
      for (const value of [{ a: 1 }, 'text', 42, [new Uint8Array(40)], null, true, CID.parse('bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua')]) {
        assert.throws(() => decryptBlock(key, encodeBlock(value).bytes, 'test'), isMalformed, JSON.stringify(value))
      }
    })

    it('hold the byte string exactly as dag-cbor encodes it, at every length form', () => {
      const key = randomSymmetricKey()
      // Plaintexts that make the sealed bytes cross each boundary of the length's form a sealed block can reach:
      // 255/256 and 65535/65536 (nonce and tag alone are over 23 bytes).
      const lengths = new Set<number>()
      for (const boundary of [256, 65536]) {
        for (let size = Math.max(0, boundary - 40); size <= boundary; size++) {
          const value = { p: new Uint8Array(size).fill(size & 0xff) }
          const block = encryptBlock(key, value)
          const wrapped = dagCbor.decode(block.bytes) as Uint8Array
          lengths.add(wrapped.length)
          assert.deepEqual(block.bytes, new Uint8Array(dagCbor.encode(wrapped)), `${wrapped.length} sealed bytes`)
          assert.deepEqual(decryptBlock(key, block.bytes, 'test'), value)
        }
      }
      for (const boundary of [256, 65536]) assert.ok(lengths.has(boundary - 1) && lengths.has(boundary), `both sides of ${boundary}`)
    })

    it('fail with MalformedBlockError on a byte string dag-cbor does not allow or that does not fill the block', () => {
      const key = randomSymmetricKey()
      const sealed = dagCbor.decode(encryptBlock(key, { a: 1 }).bytes) as Uint8Array
      const headed = (...head: number[]): Uint8Array => Uint8Array.from([...head, ...sealed])
      const refused = [
        headed(0x58, sealed.length, 0x00), // a byte after the string
        headed(0x58, sealed.length + 1), // one byte short
        headed(0x59, 0x00, sealed.length), // two length bytes where one does
        headed(0x5a, 0x00, 0x00, 0x00, sealed.length), // four where one does
        headed(0x5b, 0, 0, 0, 0, 0, 0, 0, sealed.length), // eight
        headed(0x5f), // indefinite length
        Uint8Array.from([0x59, 0x01]), // a head cut short
        Uint8Array.from([0x5a, 0x00, 0x01]),
        headed(0x78, sealed.length) // a text string
      ]
      for (const bytes of refused) assert.throws(() => decryptBlock(key, bytes, 'test'), isMalformed, Buffer.from(bytes.subarray(0, 9)).toString('hex'))
    })

    it('fail with MalformedBlockError when the plaintext inside is not dag-cbor', () => {
      const key = randomSymmetricKey()
      const block = encodeBlock(encrypt(key, Uint8Array.from([0xff, 0x00, 0x13])))
      assert.throws(() => decryptBlock(key, block.bytes, 'test'), isMalformed)
    })

    it('fail with MalformedBlockError on garbage bytes', () => {
      const key = randomSymmetricKey()
      const garbage = [
        new Uint8Array(0),
        Uint8Array.from([0xff]),
        Uint8Array.from([0x58, 0x40, 0x01]), // byte string of 64 with 1 byte present
        Uint8Array.from([0xa0, 0x00]), // trailing bytes
        Uint8Array.from([0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), // NaN: not allowed in dag-cbor
        Uint8Array.from([0xd8, 0x2a, 0x41, 0x00]), // tag 42 with a bad CID
        Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), // duplicate map keys
        new TextEncoder().encode('hello, not cbor')
      ]
      for (const bytes of garbage) {
        assert.throws(() => decryptBlock(key, bytes, 'test'), isMalformed, Buffer.from(bytes).toString('hex'))
        assert.throws(() => decodeNode(bytes, 'test'), isMalformed, Buffer.from(bytes).toString('hex'))
      }
    })
  })

  describe('assertSize', () => {
    it('passes at the limit and throws BlockTooLargeError over it', () => {
      assert.doesNotThrow(() => assertSize(new Uint8Array(100), 100, 'block'))
      assert.doesNotThrow(() => assertSize(new Uint8Array(0), 0, 'block'))
      assert.throws(() => assertSize(new Uint8Array(101), 100, 'block'), isTooLarge)
      assert.throws(() => assertSize(new Uint8Array(1), 0, 'block'), isTooLarge)
    })
  })

  describe('field readers', () => {
    const cid = encodeBlock({}).cid

    it('asCid reads CIDs back and refuses anything else', () => {
      const decoded = dagCbor.decode(dagCbor.encode({ l: cid })) as { l: unknown }
      assert.ok(asCid(decoded.l, 'link').equals(cid))
      for (const value of [undefined, null, 'bafy…', cid.bytes, cid.toString(), { '/': cid.toString() }, 1]) {
        assert.throws(() => asCid(value, 'link'), isMalformed, String(value))
      }
    })

    it('asBytes checks type and length', () => {
      assert.equal(asBytes(new Uint8Array(3), 'x').length, 3)
      assert.equal(asBytes(new Uint8Array(64), 'x', 64).length, 64)
      assert.throws(() => asBytes(new Uint8Array(63), 'x', 64), isMalformed)
      for (const value of [undefined, null, 'abc', [1, 2, 3], new ArrayBuffer(3), 3]) {
        assert.throws(() => asBytes(value, 'x'), isMalformed, String(value))
      }
    })

    it('asMap accepts plain maps only', () => {
      assert.deepEqual(asMap({ a: 1 }, 'x'), { a: 1 })
      for (const value of [undefined, null, 'abc', [1], new Uint8Array(1), cid, 3, true]) {
        assert.throws(() => asMap(value, 'x'), isMalformed, String(value))
      }
    })
  })
})
