import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr as upstreamMultiaddr } from '@multiformats/multiaddr'
import { base58btc } from 'multiformats/bases/base58'
import {
  CODE_IPEL, CODE_THREAD, logAddress, multiaddr, parseLogAddress, parseThreadAddress, peerIdOf, threadAddress
} from '../../codecs/address.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { InvalidAddressError } from '../../codecs/errors.ts'
import { ThreadId, ThreadVariant } from '../../codecs/thread-id.ts'
import { encodeUvarint } from '../../codecs/varint.ts'

const isInvalidAddress = (e: unknown): boolean => e instanceof InvalidAddressError && e.code === 'ERR_INVALID_ADDRESS'

const PAPER_ACL = 'bafyoiobghzefwlidfrwkqmzz2ka66zgmdmgeobw2mimktr5jivsavya'
const peerId = Ed25519PrivateKey.generate().publicKey.logId
const PEER = `/ip4/127.0.0.1/tcp/4006/p2p/${peerId}`

/** Appends a raw component (code, length-prefixed value) to a multiaddr's bytes, bypassing all validation. */
function withRawComponent (base: Uint8Array, code: number, value: Uint8Array): Uint8Array {
  return Uint8Array.from([...base, ...encodeUvarint(code), ...encodeUvarint(value.length), ...value])
}

describe('the peer of an address', () => {
  it('is the last /p2p component, wherever the address goes on after it', () => {
    assert.equal(peerIdOf(multiaddr(PEER)), peerId)
    assert.equal(peerIdOf(threadAddress(PEER, ThreadId.create())), peerId)
    assert.equal(peerIdOf(multiaddr('/ip4/127.0.0.1/tcp/4006')), undefined)
    // Reached through a relay: the relay's ID comes first, the peer's last.
    const relay = Ed25519PrivateKey.generate().publicKey.logId
    assert.equal(peerIdOf(multiaddr(`/ip4/127.0.0.1/tcp/4006/p2p/${relay}/p2p-circuit/p2p/${peerId}`)), peerId)
  })
})

describe('thread addresses', () => {
  it('append /thread/<tid> to a peer address and parse back', () => {
    const tid = ThreadId.fromString(PAPER_ACL)
    const addr = threadAddress(PEER, tid)
    const text = addr.toString()
    assert.ok(text.endsWith(`/thread/${PAPER_ACL}`))
    assert.equal(text, `${PEER}/thread/${PAPER_ACL}`)
    for (const input of [text, addr, addr.bytes]) {
      const parsed = parseThreadAddress(input)
      assert.ok(parsed.threadId.equals(tid))
      assert.equal(parsed.peerId, peerId)
      assert.equal(parsed.peer.toString(), PEER)
    }
  })

  it('use multiaddr code 406 with the thread ID bytes as a length-prefixed value', () => {
    assert.equal(CODE_THREAD, 406)
    const tid = ThreadId.create({ variant: ThreadVariant.AccessControlled })
    const addr = threadAddress(PEER, tid)
    const tail = Uint8Array.from([...encodeUvarint(406), ...encodeUvarint(tid.bytes.length), ...tid.bytes])
    assert.deepEqual(addr.bytes.subarray(addr.bytes.length - tail.length), tail)
    assert.deepEqual(addr.bytes.subarray(0, addr.bytes.length - tail.length), multiaddr(PEER).bytes)
  })

  it('accept a peer given as a Multiaddr, and other transports', () => {
    const tid = ThreadId.create()
    for (const peer of [multiaddr(PEER), `/ip6/::1/tcp/4006/p2p/${peerId}`, `/dns4/example.com/tcp/443/wss/p2p/${peerId}`, `/p2p/${peerId}`]) {
      const parsed = parseThreadAddress(threadAddress(peer, tid).toString())
      assert.ok(parsed.threadId.equals(tid))
      assert.equal(parsed.peer.toString(), peer.toString())
      assert.equal(parsed.peerId, peerId)
    }
  })

  it('read a thread ID written in another multibase and normalise it to base32', () => {
    const tid = ThreadId.fromString(PAPER_ACL)
    const parsed = parseThreadAddress(`${PEER}/thread/${tid.toString(base58btc)}`)
    assert.ok(parsed.threadId.equals(tid))
    // the bytes carry the ID itself, not its text: read back from them it comes out in base32
    const bytes = multiaddr(`${PEER}/thread/${tid.toString(base58btc)}`).bytes
    assert.deepEqual(bytes, threadAddress(PEER, tid).bytes)
    assert.equal(multiaddr(bytes).toString(), `${PEER}/thread/${PAPER_ACL}`)
  })

  it('are readable by a plain @multiformats/multiaddr once the codec is registered', () => {
    const tid = ThreadId.create()
    const text = `${PEER}/thread/${tid.toString()}`
    const addr = upstreamMultiaddr(text)
    assert.equal(addr.toString(), text)
    assert.equal(addr.getComponents().at(-1)?.name, 'thread')
  })

  describe('bad input', () => {
    const tid = ThreadId.create()

    it('refuse to build on a peer address without /p2p at the end', () => {
      for (const peer of ['/ip4/127.0.0.1/tcp/4006', `/p2p/${peerId}/ip4/127.0.0.1/tcp/4006`, '/']) {
        assert.throws(() => threadAddress(peer, tid), isInvalidAddress, peer)
      }
      assert.throws(() => threadAddress('not a multiaddr', tid), isInvalidAddress)
    })

    it('reject addresses with no /p2p before /thread', () => {
      assert.throws(() => parseThreadAddress(`/ip4/127.0.0.1/tcp/4006/thread/${tid}`), isInvalidAddress)
      assert.throws(() => parseThreadAddress(`/thread/${tid}`), isInvalidAddress)
    })

    it('reject addresses whose last component is not /thread', () => {
      const bad = [
        PEER,
        `${PEER}/thread/${tid}/tcp/1`,
        `${PEER}/ipel/${peerId}`,
        '/ip4/127.0.0.1/tcp/4006',
        '/',
        ''
      ]
      for (const text of bad) assert.throws(() => parseThreadAddress(text), isInvalidAddress, text)
    })

    it('reject garbage strings and thread IDs that do not decode', () => {
      const bad = [
        'garbage',
        '/ip4/999.0.0.1/tcp/4006',
        `${PEER}/thread/`,
        `${PEER}/thread/not-a-thread-id`,
        `${PEER}/thread/bafkqaaa`, // too short
        `${PEER}/thread/${ThreadId.create().toString().slice(0, 20)}` // truncated below 16 random bytes
      ]
      for (const text of bad) assert.throws(() => parseThreadAddress(text), isInvalidAddress, text)
    })

    it('reject bytes that carry a bad thread ID or are not a multiaddr', () => {
      const base = multiaddr(PEER).bytes
      const random = new Uint8Array(16).fill(1)
      const bad = [
        withRawComponent(base, CODE_THREAD, Uint8Array.from([1, 0x99, ...random])), // unknown variant
        withRawComponent(base, CODE_THREAD, Uint8Array.from([2, 0x55, ...random])), // unknown version
        withRawComponent(base, CODE_THREAD, Uint8Array.from([1, 0x55, 1, 2, 3])), // too little randomness
        withRawComponent(base, CODE_THREAD, new Uint8Array(0)),
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff]),
        Uint8Array.from([...base, ...encodeUvarint(CODE_THREAD), 40, 1, 0x55]) // value shorter than its length
      ]
      for (const bytes of bad) assert.throws(() => parseThreadAddress(bytes), isInvalidAddress, Buffer.from(bytes).toString('hex'))
    })
  })
})

describe('log addresses', () => {
  const logId = Ed25519PrivateKey.generate().publicKey.logId

  it('append /ipel/<logId> to a peer address and parse back', () => {
    const addr = logAddress(PEER, logId)
    const text = addr.toString()
    assert.equal(text, `${PEER}/ipel/${logId}`)
    for (const input of [text, addr, addr.bytes]) {
      const parsed = parseLogAddress(input)
      assert.equal(parsed.logId, logId)
      assert.equal(parsed.peerId, peerId)
      assert.equal(parsed.peer.toString(), PEER)
    }
  })

  it('carry the log ID as its multihash bytes under the private-use code', () => {
    assert.equal(CODE_IPEL, 0x300001)
    const addr = logAddress(multiaddr(PEER), logId)
    const value = base58btc.baseDecode(logId)
    const tail = Uint8Array.from([...encodeUvarint(CODE_IPEL), ...encodeUvarint(value.length), ...value])
    assert.deepEqual(addr.bytes.subarray(addr.bytes.length - tail.length), tail)
  })

  describe('bad input', () => {
    it('refuse log IDs that are not Ed25519 peer IDs', () => {
      for (const bad of ['garbage', '', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', logId.slice(0, -2)]) {
        assert.throws(() => logAddress(PEER, bad), isInvalidAddress, bad)
        assert.throws(() => parseLogAddress(`${PEER}/ipel/${bad}`), isInvalidAddress, bad)
      }
    })

    it('refuse to build on a peer address without /p2p at the end', () => {
      assert.throws(() => logAddress('/ip4/127.0.0.1/tcp/4006', logId), isInvalidAddress)
    })

    it('reject addresses with no /p2p, the wrong last component, or garbage', () => {
      const tid = ThreadId.create()
      const bad = [
        `/ip4/127.0.0.1/tcp/4006/ipel/${logId}`,
        `${PEER}/thread/${tid}`,
        PEER,
        `${PEER}/ipel/${logId}/tcp/1`,
        'garbage',
        ''
      ]
      for (const text of bad) assert.throws(() => parseLogAddress(text), isInvalidAddress, text)
    })

    it('reject bytes that carry a bad log ID', () => {
      const base = multiaddr(PEER).bytes
      const bad = [
        withRawComponent(base, CODE_IPEL, Uint8Array.from([1, 2, 3])),
        withRawComponent(base, CODE_IPEL, Uint8Array.from([0x12, 0x20, ...new Uint8Array(32)])), // sha2-256 peer ID
        withRawComponent(base, CODE_IPEL, new Uint8Array(0))
      ]
      for (const bytes of bad) assert.throws(() => parseLogAddress(bytes), isInvalidAddress, Buffer.from(bytes).toString('hex'))
    })
  })
})
