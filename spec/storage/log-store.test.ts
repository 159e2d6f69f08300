import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeBlock, encryptBlock, cidOf } from '../../codecs/block.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadsError } from '../../codecs/errors.ts'
import { compareTimestamps } from '../../codecs/hlc.ts'
import { ThreadId, ThreadVariant } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import type { RecordBlocks } from '../../codecs/record.ts'
import { recordWireBytes } from '../../codecs/wire.ts'
import {
  CorruptLogError, ForkedLogError, StorageClosedError, MissingAncestorError, MissingKeyError, ReplayedRecordError,
  UnknownLogError, UnknownThreadError
} from '../../storage/errors.ts'
import { EMPTY_EDGE } from '../../storage/head-book.ts'
import { createLogStore, type LogStore, type StoredRecord } from '../../storage/log-store.ts'
import { tempStorage, withTempStorage, type TempStorage } from '../helpers/temp-storage.ts'
import { flipByte } from '../helpers/tamper.ts'
import { within } from '../helpers/temp-peer.ts'

/** What a log shows: head, edge and every indexed record; tests compare block counts beside it. */
function snapshotOf (store: LogStore, logs: Array<[ThreadId, string]>): unknown {
  return logs.map(([tid, logId]) => ({
    head: store.head(tid, logId),
    edge: store.edge(tid),
    records: store.records(tid, logId).map(r => [r.counter, r.cid.toString()])
  }))
}

/** Every entry the log store writes (records, CID index, heads, keys), in a comparable form. */
function storedEntries (temp: TempStorage): string {
  const dump: unknown[] = []
  for (const name of ['log-records', 'heads', 'keys']) {
    for (const { key, value } of temp.storage.valueDatabase<unknown>(name).getRange()) dump.push([name, key, value])
  }
  return JSON.stringify(dump, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value))
}

describe('log store', () => {
  let writerTemp: TempStorage
  let readerTemp: TempStorage
  let writer: LogStore
  let reader: LogStore
  let threadId: ThreadId
  let threadKey: ThreadKey
  let logKey: Ed25519PrivateKey
  const written: StoredRecord[] = []
  const others: TempStorage[] = []
  const otherStore = async (): Promise<LogStore> => {
    const temp = await tempStorage()
    others.push(temp)
    return createLogStore({ storage: temp.storage })
  }

  before(async () => {
    writerTemp = await tempStorage()
    readerTemp = await tempStorage()
    writer = createLogStore({ storage: writerTemp.storage })
    reader = createLogStore({ storage: readerTemp.storage })
    const thread = await writer.createThread()
    threadId = thread.id
    threadKey = thread.key
    const log = await writer.createLog(threadId)
    logKey = log.privateKey!
    for (let i = 0; i < 5; i++) written.push(await writer.append(threadId, logKey.publicKey.logId, { n: i, text: `entry ${i}` }))
    await reader.addThread(threadId, threadKey)
    await reader.addLog(threadId, logKey.publicKey)
  })

  after(async () => {
    await writerTemp.dispose()
    await readerTemp.dispose()
    for (const temp of others) await temp.dispose()
  })

  it('appends records that link, count and carry their bodies', () => {
    const logId = logKey.publicKey.logId
    assert.deepEqual(written.map(r => r.counter), [1, 2, 3, 4, 5])
    assert.equal(written[0]!.node.prev, undefined)
    for (let i = 1; i < written.length; i++) assert.ok(written[i]!.node.prev!.equals(written[i - 1]!.cid))
    const head = writer.head(threadId, logId)
    assert.equal(head.counter, 5)
    assert.ok(head.cid!.equals(written[4]!.cid))
    assert.deepEqual(writer.content(written[2]!).body, { n: 2, text: 'entry 2' })
    const times = written.map(r => writer.content(r).time)
    for (let i = 1; i < times.length; i++) assert.ok(compareTimestamps(times[i]!, times[i - 1]!) > 0)
  })

  it('reads forwards and backwards from any record with a limit', () => {
    const logId = logKey.publicKey.logId
    assert.deepEqual(writer.records(threadId, logId).map(r => r.counter), [1, 2, 3, 4, 5])
    assert.deepEqual(writer.records(threadId, logId, { from: 2, limit: 2 }).map(r => r.counter), [2, 3])
    assert.deepEqual(writer.records(threadId, logId, { direction: 'backward', limit: 2 }).map(r => r.counter), [5, 4])
    assert.deepEqual(writer.records(threadId, logId, { from: written[2]!.cid, direction: 'backward' }).map(r => r.counter), [3, 2, 1])
    assert.deepEqual(writer.records(threadId, logId, { from: written[3]!.cid }).map(r => r.counter), [4, 5])
    assert.deepEqual(writer.records(threadId, logId, { from: 9 }), [])
    assert.equal(writer.record(threadId, logId, 3)!.cid.toString(), written[2]!.cid.toString())
    assert.equal(writer.record(threadId, logId, written[1]!.cid)!.counter, 2)
  })

  it('reads no more records than fit a byte budget, and always the first', () => {
    const logId = logKey.publicKey.logId
    const sizes = writer.records(threadId, logId).map(record => recordWireBytes(record.blocks))
    const twoAndABit = sizes[1]! + sizes[2]! + 1
    assert.deepEqual(writer.records(threadId, logId, { from: 2, maxBytes: twoAndABit }).map(r => r.counter), [2, 3])
    assert.deepEqual(writer.records(threadId, logId, { from: 2, maxBytes: twoAndABit - 2 }).map(r => r.counter), [2])
    assert.deepEqual(writer.records(threadId, logId, { from: 2, maxBytes: 1 }).map(r => r.counter), [2], 'the first record comes whatever its size')
    assert.deepEqual(writer.records(threadId, logId, { from: 2, limit: 1, maxBytes: twoAndABit }).map(r => r.counter), [2])
  })

  it('reads records stored before each block\'s CID was kept, and a stored record reads back block for block', async () => {
    const logId = logKey.publicKey.logId
    const legacy = await otherStore()
    const legacyTemp = others.at(-1)!
    await legacy.addThread(threadId, threadKey)
    await legacy.addLog(threadId, logKey.publicKey)
    for (const record of written) await legacy.accept(threadId, logId, record.blocks)
    const index = legacyTemp.storage.valueDatabase<unknown>('log-records')
    await legacyTemp.storage.transaction(() => {
      for (const { cid, blocks } of written.slice(0, 3)) {
        index.putSync([threadId.toString(), logId, written.findIndex(record => record.cid.equals(cid)) + 1], [cid.bytes, blocks.record.bytes, blocks.event.bytes, blocks.header.bytes, blocks.body.bytes])
      }
    })
    const read = legacy.records(threadId, logId)
    assert.equal(read.length, written.length)
    for (const [i, record] of read.entries()) {
      for (const name of ['record', 'event', 'header', 'body'] as const) {
        assert.ok(record.blocks[name].cid.equals(written[i]!.blocks[name].cid), `${name} of record ${i + 1}`)
        assert.deepEqual(Uint8Array.from(record.blocks[name].bytes), Uint8Array.from(written[i]!.blocks[name].bytes))
      }
      assert.ok(record.node.event.equals(written[i]!.node.event))
    }
    assert.equal(legacy.verifyLog(threadId, logId).records, written.length)
  })

  it('links only what its own checks passed: a checked record made anywhere else is checked again', async () => {
    const logId = logKey.publicKey.logId
    const stranger = Ed25519PrivateKey.generate()
    const store = await otherStore()
    const temp = others.at(-1)!
    await store.addThread(threadId, threadKey)
    await store.addLog(threadId, logKey.publicKey)
    await store.addLog(threadId, stranger.publicKey)
    const checked = await store.check(threadId, logId, written[0]!.blocks)
    assert.ok(Object.isFrozen(checked) && Object.isFrozen(checked.blocks), 'what passed is what gets linked')
    const before = storedEntries(temp)
    await assert.rejects(temp.storage.transaction(() => store.acceptWithin({ ...checked, logId: stranger.publicKey.logId })), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_INVALID_SIGNATURE')
    await assert.rejects(temp.storage.transaction(() => store.acceptWithin({ ...checked, blocks: { ...checked.blocks, body: flipByte(checked.blocks.body, 3) } })), ThreadsError)
    assert.equal(storedEntries(temp), before)
    await temp.storage.transaction(() => store.acceptWithin(checked))
    assert.equal(store.head(threadId, logId).counter, 1)
  })

  it('links records accepted side by side in the order accept was called, whenever their checks finish', async () => {
    const logId = logKey.publicKey.logId
    const store = await otherStore()
    await store.addThread(threadId, threadKey)
    await store.addLog(threadId, logKey.publicKey)
    // The first record's check finishes last: its turn still comes first.
    const check = store.check
    let calls = 0
    store.check = async (...args) => {
      const checked = await check(...args)
      if (calls++ === 0) await new Promise(resolve => setTimeout(resolve, 50))
      return checked
    }
    const outcomes = await within(Promise.allSettled(written.map(async record => await store.accept(threadId, logId, record.blocks))), 'every accept answered', 5000)
    assert.deepEqual(outcomes.map(outcome => outcome.status), written.map(() => 'fulfilled'))
    assert.equal(store.head(threadId, logId).counter, written.length)
  })

  it('verifies a whole log end to end', () => {
    assert.deepEqual(writer.verifyLog(threadId, logKey.publicKey.logId).records, 5)
  })

  it('accepts a record only in order: each links to the current head with the next counter', async () => {
    const logId = logKey.publicKey.logId
    await assert.rejects(reader.accept(threadId, logId, written[1]!.blocks), (e: unknown) =>
      e instanceof MissingAncestorError && e.code === 'ERR_MISSING_ANCESTOR' && e.missing === written[0]!.cid.toString())
    assert.equal(reader.head(threadId, logId).counter, 0)
    for (const record of written.slice(0, 3)) await reader.accept(threadId, logId, record.blocks)
    assert.equal(reader.head(threadId, logId).counter, 3)
    assert.equal(reader.edge(threadId) === EMPTY_EDGE, false)
  })

  it('refuses a replayed record and changes nothing', async () => {
    const logId = logKey.publicKey.logId
    const before = snapshotOf(reader, [[threadId, logId]])
    await assert.rejects(reader.accept(threadId, logId, written[1]!.blocks), (e: unknown) =>
      e instanceof ReplayedRecordError && e.code === 'ERR_RECORD_REPLAYED')
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
  })

  it('refuses a copy of a held record by its CID, before opening any of its blocks', async () => {
    const logId = logKey.publicKey.logId
    const held = written[1]!
    const garbage = encodeBlock({ not: 'the event' })
    const entriesBefore = storedEntries(readerTemp)
    // Blocks that could never pass the checks: only the record's CID can have refused them.
    await assert.rejects(reader.check(threadId, logId, { record: held.blocks.record, event: garbage, header: garbage, body: garbage }), (e: unknown) =>
      e instanceof ReplayedRecordError && e.code === 'ERR_RECORD_REPLAYED')
    assert.equal(storedEntries(readerTemp), entriesBefore)
    const next = await reader.check(threadId, logId, written[3]!.blocks)
    assert.equal(next.node.cid.toString(), written[3]!.cid.toString())
  })

  it('calls the same signed event re-wrapped in a new record block a replay', async () => {
    const logId = logKey.publicKey.logId
    const held = written[1]!
    const rewrapped = encryptBlock(threadKey.service, { block: held.node.event, sig: held.node.sig, pubKey: held.node.pubKey, prev: held.node.prev })
    assert.notEqual(rewrapped.cid.toString(), held.cid.toString())
    const entriesBefore = storedEntries(readerTemp)
    await assert.rejects(reader.accept(threadId, logId, { ...held.blocks, record: rewrapped }), (e: unknown) =>
      e instanceof ReplayedRecordError && e.code === 'ERR_RECORD_REPLAYED')
    assert.equal(storedEntries(readerTemp), entriesBefore)
  })

  it('refuses a fork: a second record on the same prev, or a second first record', async () => {
    const logId = logKey.publicKey.logId
    // The honest writer's key, used to sign a different record on an earlier prev.
    const forger = await otherStore()
    await forger.addThread(threadId, threadKey)
    await forger.createLog(threadId, logKey)
    const fork = await forger.append(threadId, logId, { forked: true })
    const before = snapshotOf(reader, [[threadId, logId]])
    const entriesBefore = storedEntries(readerTemp)
    await assert.rejects(reader.accept(threadId, logId, fork.blocks), (e: unknown) => e instanceof ForkedLogError && e.code === 'ERR_LOG_FORK')
    await forger.append(threadId, logId, { forked: 2 })
    const secondOnFork = forger.records(threadId, logId, { direction: 'backward', limit: 1 })[0]!
    await assert.rejects(reader.accept(threadId, logId, secondOnFork.blocks), (e: unknown) => e instanceof MissingAncestorError)
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
    assert.equal(storedEntries(readerTemp), entriesBefore)
  })

  it('refuses every single flipped byte in any block, with a typed error, leaving the store as it was', async () => {
    const logId = logKey.publicKey.logId
    const next = written[3]!
    const before = snapshotOf(reader, [[threadId, logId]])
    const entriesBefore = storedEntries(readerTemp)
    let refused = 0
    for (const name of ['record', 'event', 'header', 'body'] as const) {
      const original = next.blocks[name]
      for (let i = 0; i < original.bytes.length; i++) {
        const forged = flipByte(original, i)
        for (const block of [forged, { cid: original.cid, bytes: forged.bytes }]) {
          const tampered: RecordBlocks = { ...next.blocks, [name]: block }
          await assert.rejects(reader.accept(threadId, logId, tampered), (e: unknown) => e instanceof ThreadsError, `byte ${i} of ${name}`)
          refused++
        }
      }
    }
    assert.ok(refused > 400)
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
    assert.equal(storedEntries(readerTemp), entriesBefore)
  })

  it('refuses a record signed by another key, and one sealed with another service key', async () => {
    const logId = logKey.publicKey.logId
    const other = await otherStore()
    await other.addThread(threadId, threadKey)
    const impostor = await other.createLog(threadId)
    const signedByOther = await other.append(threadId, impostor.id, { n: 3 })
    const before = snapshotOf(reader, [[threadId, logId]])
    await assert.rejects(reader.accept(threadId, logId, signedByOther.blocks), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_INVALID_SIGNATURE')
    const wrongKeyStore = await otherStore()
    await wrongKeyStore.addThread(threadId, ThreadKey.random())
    await wrongKeyStore.createLog(threadId, logKey)
    const sealedWrong = await wrongKeyStore.append(threadId, logId, { n: 3 })
    await assert.rejects(reader.accept(threadId, logId, sealedWrong.blocks), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_DECRYPTION_FAILED')
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
  })

  it('learns a log from a record only when the record proves it, and from nothing else', async () => {
    const learner = await otherStore()
    await learner.addThread(threadId, threadKey)
    const stranger = await otherStore()
    await stranger.addThread(threadId, ThreadKey.random())
    const strangerLog = await stranger.createLog(threadId)
    const sealedWrong = await stranger.append(threadId, strangerLog.id, { n: 1 })
    await assert.rejects(learner.addLogOf(threadId, strangerLog.id, sealedWrong.blocks), (e: unknown) => e instanceof ThreadsError && e.code === 'ERR_DECRYPTION_FAILED')
    const member = await otherStore()
    await member.addThread(threadId, threadKey)
    const memberLog = await member.createLog(threadId)
    const own = await member.append(threadId, memberLog.id, { n: 1 })
    await assert.rejects(learner.addLogOf(threadId, strangerLog.id, own.blocks), (e: unknown) => e instanceof ThreadsError && e.code === 'ERR_INVALID_SIGNATURE', 'a record of another log')
    await assert.rejects(learner.addLogOf(threadId, 'not-a-log-id', own.blocks), (e: unknown) => e instanceof ThreadsError && e.code === 'ERR_INVALID_KEY')
    assert.deepEqual([learner.hasLog(threadId, strangerLog.id), learner.hasLog(threadId, memberLog.id)], [false, false])
    await learner.addLogOf(threadId, memberLog.id, own.blocks)
    assert.equal(learner.hasLog(threadId, memberLog.id), true)
    assert.equal((await learner.accept(threadId, memberLog.id, own.blocks)).counter, 1)
  })

  it('refuses truncated and oversized blocks', async () => {
    const logId = logKey.publicKey.logId
    const next = written[3]!
    const truncatedBytes = next.blocks.record.bytes.subarray(0, 20)
    const truncated: RecordBlocks = { ...next.blocks, record: { cid: cidOf(truncatedBytes), bytes: truncatedBytes } }
    const before = snapshotOf(reader, [[threadId, logId]])
    const entriesBefore = storedEntries(readerTemp)
    await assert.rejects(reader.accept(threadId, logId, truncated), (e: unknown) => e instanceof ThreadsError && e.code === 'ERR_MALFORMED_BLOCK')
    const huge = encodeBlock(new Uint8Array(2 * 1024 * 1024))
    await assert.rejects(reader.accept(threadId, logId, { ...next.blocks, body: huge }), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_BLOCK_TOO_LARGE')
    const bigRecord = encryptBlock(threadKey.service, { pad: new Uint8Array(8000) })
    await assert.rejects(reader.accept(threadId, logId, { ...next.blocks, record: bigRecord }), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_BLOCK_TOO_LARGE')
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
    assert.equal(storedEntries(readerTemp), entriesBefore)
  })

  it('refuses to append a body over the size limit, leaving the log as it was', async () => {
    const logId = logKey.publicKey.logId
    const before = snapshotOf(writer, [[threadId, logId]])
    await assert.rejects(writer.append(threadId, logId, { blob: new Uint8Array(1024 * 1024 + 1) }), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_BLOCK_TOO_LARGE')
    assert.deepEqual(snapshotOf(writer, [[threadId, logId]]), before)
    assert.equal(writer.verifyLog(threadId, logId).records, 5)
  })

  it('a reader refuses a validly signed record whose content it cannot open', async () => {
    const logId = logKey.publicKey.logId
    const next = written[3]!
    const node = reader.records(threadId, logId, { direction: 'backward', limit: 1 })[0]!
    // The log's owner seals the header under a key no reader holds, and signs the result properly.
    const header = encryptBlock(ThreadKey.random().read!, { key: new Uint8Array(32), time: [1, 0] })
    const event = encodeBlock({ body: next.blocks.body.cid, header: header.cid })
    const sig = logKey.sign(Uint8Array.from([...event.cid.bytes, ...node.cid.bytes]))
    const record = encryptBlock(threadKey.service, { block: event.cid, sig, pubKey: logKey.publicKey.marshal(), prev: node.cid })
    const before = snapshotOf(reader, [[threadId, logId]])
    const entriesBefore = storedEntries(readerTemp)
    await assert.rejects(reader.accept(threadId, logId, { record, event, header, body: next.blocks.body }), (e: unknown) =>
      e instanceof ThreadsError && e.code === 'ERR_DECRYPTION_FAILED')
    assert.deepEqual(snapshotOf(reader, [[threadId, logId]]), before)
    assert.equal(storedEntries(readerTemp), entriesBefore)
  })

  it('refuses records for unknown threads and logs, and appends to logs that are not ours', async () => {
    const unknownThread = ThreadId.create()
    assert.throws(() => reader.getThread(unknownThread), (e: unknown) => e instanceof UnknownThreadError && e.code === 'ERR_UNKNOWN_THREAD')
    await assert.rejects(reader.accept(unknownThread, logKey.publicKey.logId, written[0]!.blocks), UnknownThreadError)
    const stranger = Ed25519PrivateKey.generate().publicKey.logId
    await assert.rejects(reader.accept(threadId, stranger, written[0]!.blocks), (e: unknown) => e instanceof UnknownLogError && e.code === 'ERR_UNKNOWN_LOG')
    await assert.rejects(reader.append(threadId, logKey.publicKey.logId, { n: 1 }), (e: unknown) => e instanceof MissingKeyError && e.code === 'ERR_MISSING_KEY')
  })

  it('keeps everything across a restart, and the clock never runs backwards', async () => {
    const logId = logKey.publicKey.logId
    const lastTime = writer.content(written[4]!).time!
    const reopened = createLogStore({ storage: await writerTemp.reopen(), now: () => 0 })
    writer = reopened
    assert.equal(reopened.head(threadId, logId).counter, 5)
    assert.deepEqual(reopened.records(threadId, logId).map(r => r.cid.toString()), written.map(r => r.cid.toString()))
    const next = await reopened.append(threadId, logId, { n: 5 })
    const nextTime = reopened.content(next).time!
    assert.ok(compareTimestamps(nextTime, lastTime) > 0)
    assert.equal(reopened.verifyLog(threadId, logId).records, 6)
    written.push(next)
  })

  it('keeps many appends in flight without breaking the chain', async () => {
    const logId = logKey.publicKey.logId
    const results = await Promise.all(Array.from({ length: 200 }, (_, n) => writer.append(threadId, logId, { burst: n })))
    assert.deepEqual(results.map(r => r.counter), Array.from({ length: 200 }, (_, n) => 7 + n))
    assert.equal(writer.verifyLog(threadId, logId).records, 206)
  })

  it('refuses work after its storage is closed, with a typed error', async () => {
    const temp = await tempStorage()
    const store = createLogStore({ storage: temp.storage })
    const thread = await store.createThread()
    const log = await store.createLog(thread.id)
    await temp.storage.close()
    const closed = (e: unknown): boolean => e instanceof StorageClosedError && e.code === 'ERR_STORAGE_CLOSED'
    await assert.rejects(store.append(thread.id, log.id, { late: true }), closed)
    assert.throws(() => store.head(thread.id, log.id), closed)
    assert.throws(() => store.records(thread.id, log.id), closed)
    await temp.dispose()
  })

  it('detects a corrupted block on disk when verifying the log', async () => {
    await withTempStorage(async temp => {
    const store = createLogStore({ storage: temp.storage })
    const thread = await store.createThread({ variant: ThreadVariant.AccessControlled })
    const log = await store.createLog(thread.id)
    const first = await store.append(thread.id, log.id, { a: 1 })
    await store.append(thread.id, log.id, { a: 2 })
    const records = temp.storage.valueDatabase<Uint8Array[]>('log-records')
    const key = [thread.id.toString(), log.id, first.counter]
    const packed = records.get(key)!.map(bytes => Uint8Array.from(bytes))
    packed[4]![packed[4]!.length - 1]! ^= 0xff
    await temp.storage.transaction(() => records.putSync(key, packed))
    assert.throws(() => store.verifyLog(thread.id, log.id), (e: unknown) => e instanceof CorruptLogError && e.code === 'ERR_CORRUPT_LOG')
    })
  })
})
