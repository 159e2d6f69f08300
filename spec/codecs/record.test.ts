import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { encrypt, randomSymmetricKey } from '../../codecs/aead.ts'
import { CID, cidOf, encodeBlock, encryptBlock, type Block } from '../../codecs/block.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import {
  BlockTooLargeError, DecryptionError, InvalidClockError, InvalidKeyError, InvalidSignatureError,
  MalformedBlockError, ThreadsError
} from '../../codecs/errors.ts'
import {
  createRecord, DEFAULT_BLOCK_LIMITS, openBody, openEvent, openHeader, openRecord, readRecordContent, recordAuthor,
  verifyRecordBlocks, verifyRecordSignature, type BlockLimits, type RecordBlocks
} from '../../codecs/record.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'

const isThreadsError = (e: unknown): boolean => e instanceof ThreadsError && typeof e.code === 'string' && e.code.startsWith('ERR_')
const isMalformed = (e: unknown): boolean => e instanceof MalformedBlockError && e.code === 'ERR_MALFORMED_BLOCK'
const isTooLarge = (e: unknown): boolean => e instanceof BlockTooLargeError && e.code === 'ERR_BLOCK_TOO_LARGE'
const isDecryption = (e: unknown): boolean => e instanceof DecryptionError && e.code === 'ERR_DECRYPTION_FAILED'
const isInvalidSignature = (e: unknown): boolean => e instanceof InvalidSignatureError && e.code === 'ERR_INVALID_SIGNATURE'
const isInvalidKey = (e: unknown): boolean => e instanceof InvalidKeyError && e.code === 'ERR_INVALID_KEY'
const isInvalidClock = (e: unknown): boolean => e instanceof InvalidClockError && e.code === 'ERR_INVALID_CLOCK'

const BLOCK_NAMES = ['record', 'event', 'header', 'body'] as const

function concat (...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap(p => [...p]))
}

/** A log with a first record and a second one linked to it. */
function makeLog (body: unknown = { title: 'hello', n: 1 }) {
  const logKey = Ed25519PrivateKey.generate()
  const threadKey = ThreadKey.random()
  const first = createRecord({ body, time: { wall: 1_700_000_000_000, counter: 0 }, logKey, threadKey })
  const second = createRecord({
    body: { title: 'again', n: 2 }, time: { wall: 1_700_000_000_001, counter: 3 }, prev: first.node.cid, logKey, threadKey
  })
  return { logKey, threadKey, first, second }
}

/** Builds a first record as the reference does: the signature covers only the marshaled public key. */
function legacyFirstRecord (logKey: Ed25519PrivateKey, serviceKey: Uint8Array, blocks: RecordBlocks, signed?: Uint8Array): RecordBlocks {
  const pubKey = logKey.publicKey.marshal()
  const record = encryptBlock(serviceKey, { block: blocks.event.cid, sig: logKey.sign(signed ?? pubKey), pubKey })
  return { ...blocks, record }
}

/** A replica holds the service key: it can re-encrypt a record with whatever fields it likes, but cannot sign. */
function reEncryptRecord (serviceKey: Uint8Array, fields: Record<string, unknown>): Block {
  return encryptBlock(serviceKey, fields)
}

function withBlock (blocks: RecordBlocks, name: typeof BLOCK_NAMES[number], block: Block): RecordBlocks {
  return { ...blocks, [name]: block }
}

describe('records', () => {
  it('verify and read back: body and time', () => {
    const { logKey, threadKey, first, second } = makeLog()
    const node = verifyRecordBlocks(first.blocks, threadKey.service, logKey.publicKey)
    assert.ok(node.cid.equals(first.node.cid))
    assert.ok(node.event.equals(first.blocks.event.cid))
    assert.equal(node.prev, undefined)
    assert.deepEqual(node.pubKey, logKey.publicKey.marshal())
    assert.deepEqual(readRecordContent(first.blocks, threadKey.read!), {
      time: { wall: 1_700_000_000_000, counter: 0 },
      body: { title: 'hello', n: 1 }
    })

    const next = verifyRecordBlocks(second.blocks, threadKey.service, logKey.publicKey)
    assert.ok(next.prev?.equals(first.node.cid))
    assert.deepEqual(readRecordContent(second.blocks, threadKey.read!), {
      time: { wall: 1_700_000_000_001, counter: 3 },
      body: { title: 'again', n: 2 }
    })
  })

  it('verify with only the service key (what a replica holds)', () => {
    const { logKey, threadKey, second } = makeLog()
    const replicaKey = threadKey.serviceOnly()
    assert.doesNotThrow(() => verifyRecordBlocks(second.blocks, replicaKey.service, logKey.publicKey))
  })

  it('lay out the four blocks as the wire format says', () => {
    const { logKey, threadKey, second, first } = makeLog()
    for (const name of BLOCK_NAMES) {
      const block = second.blocks[name]
      assert.equal(block.cid.version, 1)
      assert.equal(block.cid.code, 0x71)
      assert.equal(block.cid.multihash.code, 0x12)
      assert.ok(block.cid.equals(cidOf(block.bytes)))
    }
    // event is plaintext and links header and body
    const event = openEvent(second.blocks.event)
    assert.ok(event.header.equals(second.blocks.header.cid))
    assert.ok(event.body.equals(second.blocks.body.cid))
    assert.deepEqual(Object.keys(dagCbor.decode(second.blocks.event.bytes) as object).sort(), ['body', 'header'])
    // record, header and body are encrypted byte strings
    for (const name of ['record', 'header', 'body'] as const) {
      assert.ok(dagCbor.decode(second.blocks[name].bytes) instanceof Uint8Array, name)
    }
    const node = openRecord(second.blocks.record, threadKey.service)
    assert.deepEqual(node.pubKey, logKey.publicKey.marshal())
    assert.equal(node.sig.length, 64)
    assert.ok(node.prev?.equals(first.node.cid))
    const header = openHeader(second.blocks.header, threadKey.read!)
    assert.equal(header.key.length, 32)
    assert.deepEqual(openBody(second.blocks.body, header.key), { title: 'again', n: 2 })
    // a first record carries no prev field at all
    const firstFields = openRecord(first.blocks.record, threadKey.service)
    assert.equal(firstFields.prev, undefined)
  })

  it('use a fresh content key per event', () => {
    const { threadKey, first, second } = makeLog()
    const a = openHeader(first.blocks.header, threadKey.read!)
    const b = openHeader(second.blocks.header, threadKey.read!)
    assert.notDeepEqual(a.key, b.key)
  })

  it('name their author', () => {
    const { logKey, first } = makeLog()
    assert.ok(recordAuthor(first.node).equals(logKey.publicKey))
    assert.throws(() => recordAuthor({ ...first.node, pubKey: new Uint8Array(36) }), isInvalidKey)
  })

  describe('signatures', () => {
    it('cover eventCID ‖ prevCID, checked by hand with the log key', () => {
      const { logKey, threadKey, first, second } = makeLog()
      const node = openRecord(second.blocks.record, threadKey.service)
      const event = second.blocks.event.cid
      const prev = first.node.cid
      assert.ok(logKey.publicKey.verify(concat(event.bytes, prev.bytes), node.sig))
      assert.ok(!logKey.publicKey.verify(concat(prev.bytes, event.bytes), node.sig))
      assert.ok(!logKey.publicKey.verify(event.bytes, node.sig))
      assert.ok(!logKey.publicKey.verify(logKey.publicKey.marshal(), node.sig))
    })

    it('cover the event CID alone on a first record (not the public key)', () => {
      const { logKey, threadKey, first } = makeLog()
      const node = openRecord(first.blocks.record, threadKey.service)
      assert.ok(logKey.publicKey.verify(first.blocks.event.cid.bytes, node.sig))
      assert.ok(!logKey.publicKey.verify(logKey.publicKey.marshal(), node.sig))
    })

    it('refuse a reference-style first record (signed over pubKey) unless legacy is asked for', () => {
      const { logKey, threadKey, first } = makeLog()
      const legacy = legacyFirstRecord(logKey, threadKey.service, first.blocks)
      assert.throws(() => verifyRecordBlocks(legacy, threadKey.service, logKey.publicKey), isInvalidSignature)
      assert.throws(() => verifyRecordBlocks(legacy, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: false }), isInvalidSignature)
      const node = verifyRecordBlocks(legacy, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true })
      assert.ok(node.event.equals(first.blocks.event.cid))
      // legacy mode still accepts records signed our way
      assert.doesNotThrow(() => verifyRecordBlocks(first.blocks, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }))
    })

    it('in legacy mode, accept the reference\'s form with an author identity key other than the log key', () => {
      // the reference puts the author's identity key in pubKey and signs it with the log key
      const { logKey, threadKey, first } = makeLog()
      const identity = Ed25519PrivateKey.generate().publicKey.marshal()
      const record = reEncryptRecord(threadKey.service, { block: first.blocks.event.cid, sig: logKey.sign(identity), pubKey: identity })
      const blocks = withBlock(first.blocks, 'record', record)
      assert.doesNotThrow(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }))
      assert.throws(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey), isInvalidSignature)
    })

    it('refuse a legacy signature by another key, even in legacy mode', () => {
      const { logKey, threadKey, first } = makeLog()
      const legacy = legacyFirstRecord(Ed25519PrivateKey.generate(), threadKey.service, first.blocks)
      assert.throws(() => verifyRecordBlocks(legacy, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }), isInvalidSignature)
    })

    it('never accept a pubKey-only signature on a record that has a prev, even in legacy mode', () => {
      const { logKey, threadKey, second } = makeLog()
      const pubKey = logKey.publicKey.marshal()
      const prev = openRecord(second.blocks.record, threadKey.service).prev
      const record = reEncryptRecord(threadKey.service, { block: second.blocks.event.cid, sig: logKey.sign(pubKey), pubKey, prev })
      const blocks = withBlock(second.blocks, 'record', record)
      assert.throws(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }), isInvalidSignature)
    })

    it('in legacy mode, do not let another of the log\'s signatures stand in for a first record\'s', () => {
      // A replica holds the service key and every record of the log. If the legacy check accepted a signature over
      // whatever bytes the record's pubKey field claims, it could take any signature the log made (here the first
      // record's own, over its event CID), put the signed bytes in pubKey, and point the record at another event.
      const { logKey, threadKey, first, second } = makeLog()
      const firstNode = openRecord(first.blocks.record, threadKey.service)
      const secondNode = openRecord(second.blocks.record, threadKey.service)
      const forgeries: Array<{ signed: Uint8Array, sig: Uint8Array }> = [
        { signed: first.blocks.event.cid.bytes, sig: firstNode.sig },
        { signed: concat(second.blocks.event.cid.bytes, first.node.cid.bytes), sig: secondNode.sig }
      ]
      for (const { signed, sig } of forgeries) {
        assert.ok(logKey.publicKey.verify(signed, sig), 'the replayed signature itself is genuine')
        const record = reEncryptRecord(threadKey.service, { block: second.blocks.event.cid, sig, pubKey: signed })
        const forged = withBlock(second.blocks, 'record', record)
        assert.throws(() => verifyRecordBlocks(forged, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }), isInvalidSignature)
        assert.throws(() => verifyRecordBlocks(forged, threadKey.service, logKey.publicKey), isInvalidSignature)
      }
    })

    it('do not verify under the wrong log key', () => {
      const { threadKey, first, second } = makeLog()
      const other = Ed25519PrivateKey.generate().publicKey
      assert.throws(() => verifyRecordBlocks(first.blocks, threadKey.service, other), isInvalidSignature)
      assert.throws(() => verifyRecordBlocks(second.blocks, threadKey.service, other), isInvalidSignature)
      assert.throws(() => verifyRecordSignature(openRecord(second.blocks.record, threadKey.service), other), isInvalidSignature)
    })

    it('bind the event and the prev link: a replica cannot swap or drop them', () => {
      const { logKey, threadKey, first, second } = makeLog()
      const node = openRecord(second.blocks.record, threadKey.service)
      const attempts: Array<[string, RecordBlocks]> = [
        // second record's signature pointed at the first record's event
        ['swap event', { ...first.blocks, record: reEncryptRecord(threadKey.service, { block: first.blocks.event.cid, sig: node.sig, pubKey: node.pubKey, prev: node.prev }) }],
        // prev dropped: now claims to be a first record
        ['drop prev', withBlock(second.blocks, 'record', reEncryptRecord(threadKey.service, { block: node.event, sig: node.sig, pubKey: node.pubKey }))],
        // prev pointed elsewhere
        ['change prev', withBlock(second.blocks, 'record', reEncryptRecord(threadKey.service, { block: node.event, sig: node.sig, pubKey: node.pubKey, prev: second.blocks.body.cid }))],
        // prev added to a first record
        ['add prev', withBlock(first.blocks, 'record', reEncryptRecord(threadKey.service, { ...openRecordFields(first.blocks.record, threadKey.service), prev: second.node.cid }))]
      ]
      for (const [what, blocks] of attempts) {
        assert.throws(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey), isInvalidSignature, what)
        assert.throws(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey, { legacyFirstRecordSignature: true }), isInvalidSignature, what)
      }
    })
  })

  describe('tampering', () => {
    function assertRefused (blocks: RecordBlocks, serviceKey: Uint8Array, log: Ed25519PrivateKey, what: string, seen: Map<string, number>): void {
      let result: unknown
      try {
        result = verifyRecordBlocks(blocks, serviceKey, log.publicKey, { legacyFirstRecordSignature: true })
      } catch (e) {
        assert.ok(isThreadsError(e), `${what}: threw a non-ThreadsError: ${String(e)}`)
        const name = (e as Error).name
        seen.set(name, (seen.get(name) ?? 0) + 1)
        return
      }
      assert.fail(`${what}: verified (${String(result)})`)
    }

    it('flipping any byte of any block, with the original or a recomputed CID, is refused with a ThreadsError', () => {
      const { logKey, threadKey, first, second } = makeLog()
      const seen = new Map<string, number>()
      let cases = 0
      for (const [label, created] of [['first', first], ['second', second]] as const) {
        for (const name of BLOCK_NAMES) {
          const original = created.blocks[name]
          for (let i = 0; i < original.bytes.length; i++) {
            for (const mask of [0x01, 0xff]) {
              const bytes = Uint8Array.from(original.bytes)
              bytes[i] ^= mask
              const what = `${label} ${name} byte ${i} ^ 0x${mask.toString(16)}`
              assertRefused(withBlock(created.blocks, name, { cid: original.cid, bytes }), threadKey.service, logKey, `${what}, original CID`, seen)
              assertRefused(withBlock(created.blocks, name, { cid: cidOf(bytes), bytes }), threadKey.service, logKey, `${what}, recomputed CID`, seen)
              cases += 2
            }
          }
        }
      }
      assert.ok(cases > 1000, `${cases} cases`)
      // and the genuine blocks, untouched, still verify
      assert.doesNotThrow(() => verifyRecordBlocks(first.blocks, threadKey.service, logKey.publicKey))
      assert.doesNotThrow(() => verifyRecordBlocks(second.blocks, threadKey.service, logKey.publicKey))
      // each layer of the defence was exercised
      assert.ok(seen.has('BlockIntegrityError'))
      assert.ok(seen.has('DecryptionError'))
      assert.ok(seen.has('MalformedBlockError'))
    })

    it('flipping any byte of a CID is refused with a ThreadsError', () => {
      const { logKey, threadKey, second } = makeLog()
      const seen = new Map<string, number>()
      for (const name of BLOCK_NAMES) {
        const original = second.blocks[name]
        for (let i = 0; i < original.cid.bytes.length; i++) {
          const cidBytes = Uint8Array.from(original.cid.bytes)
          cidBytes[i] ^= 0x01
          let cid: CID
          try {
            cid = CID.decode(cidBytes)
          } catch {
            continue // not a CID at all: nothing to hand over
          }
          assertRefused(withBlock(second.blocks, name, { cid, bytes: original.bytes }), threadKey.service, logKey, `${name} CID byte ${i}`, seen)
        }
      }
      assert.ok(seen.has('BlockIntegrityError'))
    })

    it('truncating or extending any block is refused with a ThreadsError', () => {
      const { logKey, threadKey, second } = makeLog()
      const seen = new Map<string, number>()
      for (const name of BLOCK_NAMES) {
        const original = second.blocks[name]
        for (let n = 0; n < original.bytes.length; n++) {
          const bytes = original.bytes.subarray(0, n)
          assertRefused(withBlock(second.blocks, name, { cid: cidOf(bytes), bytes }), threadKey.service, logKey, `${name} first ${n}`, seen)
        }
        const longer = concat(original.bytes, Uint8Array.from([0]))
        assertRefused(withBlock(second.blocks, name, { cid: cidOf(longer), bytes: longer }), threadKey.service, logKey, `${name} + 1`, seen)
      }
    })

    it('swapping blocks between places or records is refused', () => {
      const { logKey, threadKey, first, second } = makeLog()
      const seen = new Map<string, number>()
      assertRefused({ ...second.blocks, header: second.blocks.body, body: second.blocks.header }, threadKey.service, logKey, 'header ⇄ body', seen)
      assertRefused({ ...second.blocks, record: first.blocks.record }, threadKey.service, logKey, 'other record', seen)
      assertRefused({ ...second.blocks, event: first.blocks.event }, threadKey.service, logKey, 'other event', seen)
      assertRefused({ ...second.blocks, header: first.blocks.header }, threadKey.service, logKey, 'other header', seen)
      assertRefused({ ...second.blocks, body: first.blocks.body }, threadKey.service, logKey, 'other body', seen)
      assert.deepEqual([...seen.keys()], ['BlockIntegrityError'])
    })
  })

  describe('keys', () => {
    it('the wrong service key fails with DecryptionError', () => {
      const { logKey, first } = makeLog()
      assert.throws(() => verifyRecordBlocks(first.blocks, randomSymmetricKey(), logKey.publicKey), isDecryption)
      assert.throws(() => verifyRecordBlocks(first.blocks, ThreadKey.random().service, logKey.publicKey), isDecryption)
    })

    it('the read key in place of the service key fails with DecryptionError', () => {
      const { logKey, threadKey, first } = makeLog()
      assert.throws(() => verifyRecordBlocks(first.blocks, threadKey.read!, logKey.publicKey), isDecryption)
    })

    it('the wrong read key fails with DecryptionError in readRecordContent', () => {
      const { threadKey, first } = makeLog()
      assert.throws(() => readRecordContent(first.blocks, randomSymmetricKey()), isDecryption)
      assert.throws(() => readRecordContent(first.blocks, threadKey.service), isDecryption)
    })

    it('a body under the wrong content key fails with DecryptionError', () => {
      const { threadKey, first } = makeLog()
      const header = openHeader(first.blocks.header, threadKey.read!)
      assert.throws(() => openBody(first.blocks.body, randomSymmetricKey()), isDecryption)
      assert.throws(() => openBody(first.blocks.body, threadKey.read!), isDecryption)
      assert.doesNotThrow(() => openBody(first.blocks.body, header.key))
    })

    it('authoring needs the read key', () => {
      const threadKey = ThreadKey.random().serviceOnly()
      assert.throws(() => createRecord({ body: {}, time: { wall: 1, counter: 0 }, logKey: Ed25519PrivateKey.generate(), threadKey }), isInvalidKey)
    })

    it('a key of the wrong size is InvalidKeyError', () => {
      const { logKey, first } = makeLog()
      assert.throws(() => verifyRecordBlocks(first.blocks, new Uint8Array(16), logKey.publicKey), isInvalidKey)
      assert.throws(() => readRecordContent(first.blocks, new Uint8Array(31)), isInvalidKey)
    })
  })

  describe('size limits', () => {
    it('oversized blocks fail with BlockTooLargeError before any decoding or hashing', () => {
      const { logKey, threadKey, first } = makeLog()
      const limits = DEFAULT_BLOCK_LIMITS
      for (const name of BLOCK_NAMES) {
        // garbage that is not dag-cbor, under a CID it does not hash to: only the size check can name the fault
        const bytes = new Uint8Array(limits[name] + 1).fill(0xff)
        const blocks = withBlock(first.blocks, name, { cid: first.blocks[name].cid, bytes })
        assert.throws(() => verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey), isTooLarge, name)
      }
      const big = (n: number): Block => ({ cid: first.blocks.event.cid, bytes: new Uint8Array(n).fill(0xff) })
      assert.throws(() => openRecord(big(limits.record + 1), threadKey.service), isTooLarge)
      assert.throws(() => openEvent(big(limits.event + 1)), isTooLarge)
      assert.throws(() => openHeader(big(limits.header + 1), threadKey.read!), isTooLarge)
      assert.throws(() => openBody(big(limits.body + 1), randomSymmetricKey()), isTooLarge)
      const blocks = withBlock(first.blocks, 'body', big(limits.body + 1))
      assert.throws(() => readRecordContent(blocks, threadKey.read!), isTooLarge)
    })

    it('a large genuine body is refused by default and accepted under a raised limit', () => {
      const body = { blob: new Uint8Array(DEFAULT_BLOCK_LIMITS.body) }
      const { logKey, threadKey, first } = makeLog(body)
      assert.throws(() => verifyRecordBlocks(first.blocks, threadKey.service, logKey.publicKey), isTooLarge)
      assert.throws(() => readRecordContent(first.blocks, threadKey.read!), isTooLarge)
      const limits: BlockLimits = { ...DEFAULT_BLOCK_LIMITS, body: 2 * DEFAULT_BLOCK_LIMITS.body }
      assert.doesNotThrow(() => verifyRecordBlocks(first.blocks, threadKey.service, logKey.publicKey, { limits }))
      assert.deepEqual(readRecordContent(first.blocks, threadKey.read!, limits).body, body)
    })

    it('custom limits apply to every block kind', () => {
      const { logKey, threadKey, second } = makeLog()
      for (const name of BLOCK_NAMES) {
        const limits: BlockLimits = { ...DEFAULT_BLOCK_LIMITS, [name]: second.blocks[name].bytes.length - 1 }
        assert.throws(() => verifyRecordBlocks(second.blocks, threadKey.service, logKey.publicKey, { limits }), isTooLarge, name)
        const exact: BlockLimits = { ...DEFAULT_BLOCK_LIMITS, [name]: second.blocks[name].bytes.length }
        assert.doesNotThrow(() => verifyRecordBlocks(second.blocks, threadKey.service, logKey.publicKey, { limits: exact }), name)
      }
    })
  })

  describe('malformed nodes (made by someone holding the keys)', () => {
    it('records of the wrong shape fail with MalformedBlockError', () => {
      const { logKey, threadKey, first } = makeLog()
      const node = openRecord(first.blocks.record, threadKey.service)
      const good = { block: node.event, sig: node.sig, pubKey: node.pubKey }
      const shapes: unknown[] = [
        [good.block, good.sig, good.pubKey],
        'record',
        null,
        good.block,
        without(good, 'block'),
        { ...good, block: good.block.toString() },
        { ...good, block: good.block.bytes },
        without(good, 'sig'),
        { ...good, sig: good.sig.subarray(0, 63) },
        { ...good, sig: concat(good.sig, Uint8Array.from([0])) },
        { ...good, sig: Buffer.from(good.sig).toString('hex') },
        without(good, 'pubKey'),
        { ...good, pubKey: 'key' },
        { ...good, prev: 'not a cid' },
        { ...good, prev: 0 }
      ]
      for (const shape of shapes) {
        const record = reEncryptRecord(threadKey.service, shape as Record<string, unknown>)
        assert.throws(() => openRecord(record, threadKey.service), isMalformed, JSON.stringify(shape))
        assert.throws(() => verifyRecordBlocks(withBlock(first.blocks, 'record', record), threadKey.service, logKey.publicKey), isMalformed)
      }
      // the encrypted payload is not dag-cbor at all
      const notCbor = encodeBlock(encrypt(threadKey.service, Uint8Array.from([0xff, 0xfe])))
      assert.throws(() => openRecord(notCbor, threadKey.service), isMalformed)
      // the record is not encrypted at all
      assert.throws(() => openRecord(encodeBlock(good), threadKey.service), isMalformed)
    })

    it('a prev of null reads as no prev', () => {
      const { logKey, threadKey, first } = makeLog()
      const node = openRecord(first.blocks.record, threadKey.service)
      const record = reEncryptRecord(threadKey.service, { block: node.event, sig: node.sig, pubKey: node.pubKey, prev: null })
      const opened = verifyRecordBlocks(withBlock(first.blocks, 'record', record), threadKey.service, logKey.publicKey)
      assert.equal(opened.prev, undefined)
    })

    it('events of the wrong shape fail with MalformedBlockError', () => {
      const { first } = makeLog()
      const event = openEvent(first.blocks.event)
      const shapes: unknown[] = [
        [event.body, event.header],
        { body: event.body },
        { header: event.header },
        { body: event.body.toString(), header: event.header },
        { body: event.body, header: event.header.bytes },
        new Uint8Array(4)
      ]
      for (const shape of shapes) {
        assert.throws(() => openEvent(encodeBlock(shape)), isMalformed, String(shape))
      }
      assert.throws(() => openEvent({ cid: first.blocks.event.cid, bytes: Uint8Array.from([0xa1]) }), isMalformed)
    })

    it('headers of the wrong shape fail with MalformedBlockError or InvalidClockError', () => {
      const { threadKey } = makeLog()
      const readKey = threadKey.read!
      const key = randomSymmetricKey()
      const malformed: unknown[] = [
        [key, [1, 0]],
        { time: [1, 0] },
        { key: key.subarray(0, 16), time: [1, 0] },
        { key: 'k', time: [1, 0] }
      ]
      for (const shape of malformed) {
        assert.throws(() => openHeader(encryptBlock(readKey, shape), readKey), isMalformed, String(shape))
      }
      for (const time of [[-1, 0], [1], [1, 2, 3], { wall: 1, counter: 0 }, [1.5, 0], [0, 2 ** 32], null, 'now']) {
        assert.throws(() => openHeader(encryptBlock(readKey, { key, time }), readKey), isInvalidClock, JSON.stringify(time))
      }
      assert.deepEqual(openHeader(encryptBlock(readKey, { key, time: [5, 6] }), readKey).time, { wall: 5, counter: 6 })
      // The reference implementation's headers carry the key alone.
      assert.equal(openHeader(encryptBlock(readKey, { key }), readKey).time, undefined)
    })
  })

  it('bodies of many types round-trip', () => {
    const link = encodeBlock({ linked: true }).cid
    const bodies: unknown[] = [
      null,
      true,
      0,
      -1,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      1.5,
      -0.25,
      '',
      'unicode ✓ 𝄞 \u0000 end',
      new Uint8Array(0),
      Uint8Array.from([0, 1, 2, 255]),
      [],
      [1, 'two', [3, [4, [5]]]],
      {},
      link,
      { a: { b: { c: { d: [link, { e: new Uint8Array(3) }] } } } },
      {
        map: { z: 1, a: 2, '': 3, 'ünï': 4 },
        list: [null, false, 1, 'x', Uint8Array.from([9]), link, [link], { link }],
        bytes: new Uint8Array(1000).fill(7),
        nested: { deeper: { deepest: [{ n: -5 }, { f: 3.25 }] } },
        bigint: 2n ** 63n
      }
    ]
    const logKey = Ed25519PrivateKey.generate()
    const threadKey = ThreadKey.random()
    for (const body of bodies) {
      const created = createRecord({ body, time: { wall: 42, counter: 1 }, logKey, threadKey })
      verifyRecordBlocks(created.blocks, threadKey.service, logKey.publicKey)
      const content = readRecordContent(created.blocks, threadKey.read!)
      assert.deepEqual(content.body, body, String(body))
      assert.deepEqual(content.time, { wall: 42, counter: 1 })
    }
    const roundTripped = readRecordContent(createRecord({ body: { link }, time: { wall: 1, counter: 0 }, logKey, threadKey }).blocks, threadKey.read!).body as { link: CID }
    assert.ok(link.equals(roundTripped.link))
  })

  it('refuses bodies dag-cbor cannot encode', () => {
    const logKey = Ed25519PrivateKey.generate()
    const threadKey = ThreadKey.random()
    for (const body of [undefined, { f: () => 1 }, Number.NaN, { x: undefined }]) {
      assert.throws(() => createRecord({ body, time: { wall: 1, counter: 0 }, logKey, threadKey }), isMalformed)
    }
  })
})

function without (fields: Record<string, unknown>, name: string): Record<string, unknown> {
  const { [name]: _dropped, ...rest } = fields
  return rest
}

function openRecordFields (block: Block, serviceKey: Uint8Array): Record<string, unknown> {
  const node = openRecord(block, serviceKey)
  return { block: node.event, sig: node.sig, pubKey: node.pubKey }
}
