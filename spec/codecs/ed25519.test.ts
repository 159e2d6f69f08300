import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed, publicKeyFromProtobuf, publicKeyFromRaw, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { ED25519_KEY_BYTES, ED25519_SIGNATURE_BYTES, Ed25519PrivateKey, Ed25519PublicKey } from '../../codecs/ed25519.ts'
import { InvalidKeyError } from '../../codecs/errors.ts'

const isInvalidKey = (e: unknown): boolean => e instanceof InvalidKeyError && e.code === 'ERR_INVALID_KEY'

const message = new TextEncoder().encode('a record payload')

// RFC 8032 §7.1, test 1 (empty message) and test 2 (one byte).
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'
  }
]

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))

describe('Ed25519', () => {
  it('signs and verifies, on this thread and on the thread pool', async () => {
    const key = Ed25519PrivateKey.generate()
    const sig = key.sign(message)
    assert.equal(sig.length, ED25519_SIGNATURE_BYTES)
    assert.equal(key.publicKey.verify(message, sig), true)
    assert.equal(await key.publicKey.verifyInParallel(message, sig), true)
  })

  it('matches the RFC 8032 test vectors', () => {
    for (const vector of RFC8032) {
      const key = Ed25519PrivateKey.fromSeed(hex(vector.seed))
      assert.deepEqual(key.publicKey.bytes, hex(vector.publicKey))
      assert.deepEqual(key.sign(hex(vector.message)), hex(vector.signature))
      assert.ok(Ed25519PublicKey.fromBytes(hex(vector.publicKey)).verify(hex(vector.message), hex(vector.signature)))
    }
  })

  it('derives the same key from the same seed', () => {
    const a = Ed25519PrivateKey.generate()
    const b = Ed25519PrivateKey.fromSeed(a.seed)
    assert.deepEqual(b.publicKey.bytes, a.publicKey.bytes)
    assert.ok(b.publicKey.equals(a.publicKey))
    assert.ok(a.publicKey.verify(message, b.sign(message)))
  })

  it('fails to verify a signature by another key', async () => {
    const a = Ed25519PrivateKey.generate()
    const b = Ed25519PrivateKey.generate()
    const sig = b.sign(message)
    assert.equal(a.publicKey.verify(message, sig), false)
    assert.equal(await a.publicKey.verifyInParallel(message, sig), false)
    assert.ok(!a.publicKey.equals(b.publicKey))
  })

  it('fails to verify after any single bit of the signature or the message flips', () => {
    const key = Ed25519PrivateKey.generate()
    const sig = key.sign(message)
    for (let i = 0; i < sig.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = sig.slice()
        bad[i] ^= mask
        assert.equal(key.publicKey.verify(message, bad), false, `signature byte ${i} ^ ${mask}`)
      }
    }
    for (let i = 0; i < message.length; i++) {
      const bad = message.slice()
      bad[i] ^= 0x01
      assert.equal(key.publicKey.verify(bad, sig), false, `message byte ${i}`)
    }
  })

  it('fails to verify signatures of the wrong length without throwing', async () => {
    const key = Ed25519PrivateKey.generate()
    const sig = key.sign(message)
    for (const bad of [new Uint8Array(0), sig.subarray(0, 63), Uint8Array.from([...sig, 0])]) {
      assert.equal(key.publicKey.verify(message, bad), false)
      assert.equal(await key.publicKey.verifyInParallel(message, bad), false)
    }
  })

  describe('log IDs', () => {
    it('are 12D3KooW… peer IDs that round-trip through fromLogId', () => {
      for (let i = 0; i < 5; i++) {
        const key = Ed25519PrivateKey.generate().publicKey
        assert.match(key.logId, /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
        const back = Ed25519PublicKey.fromLogId(key.logId)
        assert.deepEqual(back.bytes, key.bytes)
        assert.ok(back.equals(key))
      }
    })

    it('are byte-for-byte the peer IDs libp2p computes', async () => {
      for (let i = 0; i < 5; i++) {
        const ours = Ed25519PrivateKey.generate()
        const theirs = peerIdFromPublicKey(publicKeyFromRaw(ours.publicKey.bytes))
        assert.equal(ours.publicKey.logId, theirs.toString())
        assert.deepEqual(base58btc.baseDecode(ours.publicKey.logId), theirs.toMultihash().bytes)
        // and libp2p reads our log ID back to the same key
        const parsed = peerIdFromString(ours.publicKey.logId)
        assert.equal(parsed.type, 'Ed25519')
        assert.deepEqual(parsed.publicKey?.raw, ours.publicKey.bytes)
        // a libp2p key from the same seed is the same key and the signatures interoperate
        const libp2pKey = await generateKeyPairFromSeed('Ed25519', ours.seed)
        assert.deepEqual(libp2pKey.publicKey.raw, ours.publicKey.bytes)
        assert.ok(await libp2pKey.publicKey.verify(message, ours.sign(message)))
        assert.ok(ours.publicKey.verify(message, await libp2pKey.sign(message)))
      }
    })

    it('rejects strings that are not an Ed25519 peer ID', () => {
      const key = Ed25519PrivateKey.generate().publicKey
      const bad = [
        '',
        'not a log id',
        '0OIl', // not base58 digits
        key.logId.slice(0, -1),
        key.logId + '1',
        'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', // sha2-256 peer ID: no key inside
        base58btc.baseEncode(Uint8Array.from([0x00, 0x24, 0x08, 0x02, 0x12, 0x20, ...new Uint8Array(32)])), // secp256k1 type
        base58btc.baseEncode(Uint8Array.from([0x00, 0x22, 0x08, 0x01, 0x12, 0x1e, ...new Uint8Array(30)])) // short key
      ]
      for (const text of bad) {
        assert.throws(() => Ed25519PublicKey.fromLogId(text), isInvalidKey, JSON.stringify(text))
      }
    })
  })

  describe('protobuf form', () => {
    it('marshals as libp2p does and unmarshals back', () => {
      const key = Ed25519PrivateKey.generate().publicKey
      const marshaled = key.marshal()
      assert.equal(marshaled.length, 36)
      assert.deepEqual([...marshaled.subarray(0, 4)], [0x08, 0x01, 0x12, 0x20])
      assert.deepEqual(marshaled.subarray(4), key.bytes)
      assert.deepEqual(marshaled, publicKeyToProtobuf(publicKeyFromRaw(key.bytes)))
      assert.deepEqual(publicKeyFromProtobuf(marshaled).raw, key.bytes)
      assert.ok(Ed25519PublicKey.unmarshal(marshaled).equals(key))
    })

    it('rejects other key types, lengths and prefixes', () => {
      const marshaled = Ed25519PrivateKey.generate().publicKey.marshal()
      const bad = [
        new Uint8Array(0),
        marshaled.subarray(0, 35),
        Uint8Array.from([...marshaled, 0]),
        Uint8Array.from([0x08, 0x02, ...marshaled.subarray(2)]), // secp256k1
        Uint8Array.from([0x08, 0x00, ...marshaled.subarray(2)]), // RSA
        Uint8Array.from([0x08, 0x01, 0x12, 0x21, ...marshaled.subarray(4), 0]),
        marshaled.subarray(4) // raw key without the protobuf envelope
      ]
      for (const bytes of bad) assert.throws(() => Ed25519PublicKey.unmarshal(bytes), isInvalidKey, `${bytes.length} bytes`)
    })
  })

  describe('bad keys', () => {
    it('rejects public keys that are not 32 bytes', () => {
      for (const n of [0, 1, 31, 33, 64]) {
        assert.throws(() => Ed25519PublicKey.fromBytes(new Uint8Array(n)), isInvalidKey, `${n} bytes`)
      }
      assert.equal(Ed25519PublicKey.fromBytes(new Uint8Array(ED25519_KEY_BYTES).fill(1)).bytes.length, 32)
    })

    it('rejects seeds that are not 32 bytes', () => {
      for (const n of [0, 16, 31, 33, 64]) {
        assert.throws(() => Ed25519PrivateKey.fromSeed(new Uint8Array(n)), isInvalidKey, `${n} bytes`)
      }
    })

    it('copies key bytes so the caller\'s buffer cannot change the key', () => {
      const key = Ed25519PrivateKey.generate()
      const raw = key.publicKey.bytes.slice()
      const pub = Ed25519PublicKey.fromBytes(raw)
      raw.fill(0)
      assert.ok(pub.equals(key.publicKey))
      const seed = key.seed.slice()
      const priv = Ed25519PrivateKey.fromSeed(seed)
      seed.fill(0)
      assert.ok(key.publicKey.verify(message, priv.sign(message)))
    })
  })
})
