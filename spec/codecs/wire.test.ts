import { describe, it } from 'node:test'
import { encode } from '@ipld/dag-cbor'
import assert from 'node:assert/strict'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { MalformedMessageError, MessageTooLargeError, ThreadsError } from '../../codecs/errors.ts'
import { createRecord } from '../../codecs/record.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { encodeUvarint } from '../../codecs/varint.ts'
import {
  decodeGossip, decodeRequest, decodeResponse, encodeGossip, frame, readFrame, recordPages, recordWireBytes, serviceKeyProof, verifyServiceKeyProof,
  MAX_FRAME_BYTES, MAX_PAGE_BYTES, MAX_RECORDS_PER_PAGE, type Request, type Response
} from '../../codecs/wire.ts'

const threadId = ThreadId.create()
const key = ThreadKey.random()
const logKey = Ed25519PrivateKey.generate()
const { blocks } = createRecord({ body: { hello: 'wire' }, time: { wall: 1, counter: 0 }, logKey, threadKey: key })
const proof = serviceKeyProof(key.service, 'peer-a', threadId)

const requests: Request[] = [
  { type: 'get-edges', threads: [{ threadId, proof }] },
  { type: 'get-logs', threadId, proof },
  { type: 'get-records', threadId, proof, logs: [{ logId: logKey.publicKey.logId, from: 1, limit: 100 }] },
  { type: 'push-records', threadId, proof, logId: logKey.publicKey.logId, records: [blocks, blocks] },
  { type: 'push-log', threadId, proof, logId: logKey.publicKey.logId, addrs: [new Uint8Array([4, 127, 0, 0, 1])] },
  { type: 'replicate', threadId, sealedKey: new Uint8Array(92) },
  { type: 'invite', invite: new Uint8Array([1, 2, 3]) },
  { type: 'invite-reply', threadId, inviteId: 'abc', answer: 'decline' }
]
const responses: Response[] = [
  { type: 'edges', edges: [{ threadId, heads: 'ab'.repeat(16) }] },
  { type: 'logs', logs: [{ logId: logKey.publicKey.logId, counter: 3, head: blocks.record.cid, addrs: [new Uint8Array([4, 127, 0, 0, 1])] }, { logId: 'x', counter: 0, addrs: [] }] },
  { type: 'records', logs: [{ logId: logKey.publicKey.logId, records: [blocks] }] },
  { type: 'ok' },
  { type: 'error', code: 'ERR_LOG_FORK', message: 'forked' }
]

/** What a message carries, with IDs and CIDs as strings, for comparing round trips. */
function plain (value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, item: unknown) =>
    item instanceof ThreadId ? item.toString() : item instanceof Uint8Array ? Buffer.from(item).toString('hex') : item))
}

function unframe (bytes: Uint8Array): Uint8Array {
  const read = readFrame(bytes)
  assert.ok(read !== undefined)
  assert.equal(read.used, bytes.length)
  return read.bytes
}

describe('wire messages', () => {
  it('round-trip every request and response through a frame', () => {
    for (const request of requests) assert.deepEqual(plain(decodeRequest(unframe(frame(request)))), plain(request), request.type)
    for (const response of responses) assert.deepEqual(plain(decodeResponse(unframe(frame(response)))), plain(response), response.type)
  })

  it('names every record block by the hash of the bytes it arrives with', () => {
    const decoded = decodeRequest(unframe(frame(requests[3]!)))
    assert.equal(decoded.type, 'push-records')
    if (decoded.type === 'push-records') assert.equal(decoded.records[0]!.record.cid.toString(), blocks.record.cid.toString())
  })

  it('reads frames incrementally, and refuses an oversized length before buffering', () => {
    const bytes = frame(responses[0]!)
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(readFrame(bytes.subarray(0, cut)), undefined, `cut at ${cut}`)
    const two = new Uint8Array([...bytes, ...frame({ type: 'ok' })])
    const first = readFrame(two)!
    assert.equal(decodeResponse(first.bytes).type, 'edges')
    assert.equal(decodeResponse(readFrame(two.subarray(first.used))!.bytes).type, 'ok')
    assert.throws(() => readFrame(encodeUvarint(MAX_FRAME_BYTES + 1)), (e: unknown) => e instanceof MessageTooLargeError && e.code === 'ERR_MESSAGE_TOO_LARGE')
    assert.throws(() => readFrame(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), MalformedMessageError)
  })

  it('refuses messages of the wrong shape with a typed error', () => {
    const bad: unknown[] = [
      { type: 'get-logs', thread: new Uint8Array(3), proof },
      { type: 'get-logs', thread: threadId.bytes, proof: new Uint8Array(31) },
      { type: 'get-records', thread: threadId.bytes, proof, logs: [{ logId: 'l', from: 0, limit: 1 }] },
      { type: 'get-records', thread: threadId.bytes, proof, logs: [{ logId: 'l', from: 1, limit: 100_000 }] },
      { type: 'push-records', thread: threadId.bytes, proof, log: 'l', records: [[new Uint8Array(1)]] },
      { type: 'invite', invite: 'not bytes' },
      { type: 'invite-reply', thread: threadId.bytes, invite: 'abc', answer: 'maybe' },
      { type: 'invite-reply', thread: threadId.bytes, invite: 'x'.repeat(65), answer: 'accept' },
      { type: 'launch-missiles' },
      [1, 2, 3]
    ]
    for (const message of bad) {
      assert.throws(() => decodeRequest(encode(message)), (e: unknown) => e instanceof MalformedMessageError && e.code === 'ERR_MALFORMED_MESSAGE', JSON.stringify(plain(message)))
    }
    assert.throws(() => decodeResponse(new Uint8Array([0xa1, 0xff])), MalformedMessageError)
  })

  it('gives only a valid message or a typed error for 5,000 seeded random mutations', () => {
    let seed = 42
    const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const samples = [...[...requests, ...responses].map(message => unframe(frame(message))), encodeGossip({ threadId, logId: logKey.publicKey.logId, records: [blocks] })]
    let decoded = 0
    for (let round = 0; round < 5000; round++) {
      const source = samples[round % samples.length]!
      const bytes = Uint8Array.from(source)
      const flips = 1 + Math.floor(random() * 4)
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      const cut = random() < 0.2 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes
      for (const decode of [decodeRequest, decodeResponse, decodeGossip]) {
        try {
          decode(cut)
          decoded++
        } catch (error) {
          assert.ok(error instanceof ThreadsError, `round ${round}: ${String(error)}`)
        }
      }
    }
    assert.ok(decoded > 0, 'some mutations still decode, so the test exercised the accepting path')
  })

  it('carries gossip as one unframed message of a log\'s records, and refuses anything else with a typed error', () => {
    const gossip = { threadId, logId: logKey.publicKey.logId, records: [blocks, blocks] }
    assert.deepEqual(plain(decodeGossip(encodeGossip(gossip))), plain(gossip))
    assert.equal(decodeGossip(encodeGossip(gossip)).records[1]!.body.cid.toString(), blocks.body.cid.toString())
    const bad: Uint8Array[] = [
      frame({ type: 'push-records', threadId, proof, logId: logKey.publicKey.logId, records: [blocks] }),
      encode({ type: 'push-records', thread: threadId.bytes, proof, log: logKey.publicKey.logId, records: [[blocks.record.bytes, blocks.event.bytes, blocks.header.bytes, blocks.body.bytes]] }),
      encodeGossip({ ...gossip, records: [] }),
      encode({ type: 'gossip-records', thread: new Uint8Array(3), log: 'l', records: [[new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)]] }),
      encode({ type: 'gossip-records', thread: threadId.bytes, log: 'l', records: [[new Uint8Array(1)]] }),
      new Uint8Array([1, 2, 3])
    ]
    for (const bytes of bad) assert.throws(() => decodeGossip(bytes), (e: unknown) => e instanceof MalformedMessageError && e.code === 'ERR_MALFORMED_MESSAGE')
    assert.throws(() => decodeGossip(new Uint8Array(MAX_FRAME_BYTES + 1)), MessageTooLargeError)
  })

  it('binds a service-key proof to the peer and the thread', () => {
    assert.equal(verifyServiceKeyProof(key.service, 'peer-a', threadId, proof), true)
    assert.equal(verifyServiceKeyProof(key.service, 'peer-b', threadId, proof), false, 'another peer cannot reuse it')
    assert.equal(verifyServiceKeyProof(key.service, 'peer-a', ThreadId.create(), proof), false, 'nor for another thread')
    assert.equal(verifyServiceKeyProof(ThreadKey.random().service, 'peer-a', threadId, proof), false, 'nor without the key')
    assert.equal(verifyServiceKeyProof(key.service, 'peer-a', threadId, proof.subarray(0, 16)), false)
  })

  it('cuts records into pages a message can carry, in order, by count and by bytes', () => {
    const sized = (bytes: number) => createRecord({ body: new Uint8Array(bytes), time: { wall: 1, counter: 0 }, logKey, threadKey: key }).blocks
    const small = Array.from({ length: MAX_RECORDS_PER_PAGE * 2 + 5 }, () => blocks)
    assert.deepEqual(recordPages(small).map(page => page.length), [MAX_RECORDS_PER_PAGE, MAX_RECORDS_PER_PAGE, 5])
    const big = Array.from({ length: 9 }, () => sized(900_000))
    const pages = recordPages(big)
    assert.ok(pages.length > 1)
    assert.deepEqual(pages.flat(), big, 'every record once, in order')
    for (const page of pages) {
      assert.ok(page.reduce((sum, record) => sum + recordWireBytes(record), 0) <= MAX_PAGE_BYTES)
      const message = frame({ type: 'push-records', threadId, proof, logId: logKey.publicKey.logId, records: page })
      assert.ok(message.length <= MAX_FRAME_BYTES, 'each page is one frame')
      assert.equal(decodeRequest(unframe(message)).type, 'push-records')
    }
    assert.deepEqual(recordPages(big, 1000).map(page => page.length), big.map(() => 1), 'a page holds its first record however large')
    assert.deepEqual(recordPages([]), [])
    for (const record of [blocks, sized(0), sized(200), sized(70_000), big[0]!]) {
      const wire = encode([record.record.bytes, record.event.bytes, record.header.bytes, record.body.bytes]).length
      assert.ok(recordWireBytes(record) >= wire, `a record takes at most what it is counted for (${wire} bytes)`)
    }
  })
})
