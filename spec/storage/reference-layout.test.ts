import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeBlock, encryptBlock } from '../../codecs/block.ts'
import { randomSymmetricKey } from '../../codecs/aead.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { InvalidSignatureError } from '../../codecs/errors.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import type { RecordBlocks } from '../../codecs/record.ts'
import { createLogStore } from '../../storage/log-store.ts'
import { withTempStorage } from '../helpers/temp-storage.ts'
import type { CID } from '../../codecs/block.ts'

/**
 * Records laid out the way the reference implementation (go-threads) writes them: a header holding only the
 * content key, a first record signed over its `pubKey` field, later records over `eventCID ‖ prevCID`.
 */
function referenceRecord (logKey: Ed25519PrivateKey, threadKey: ThreadKey, body: unknown, prev?: CID): RecordBlocks {
  const contentKey = randomSymmetricKey()
  const bodyBlock = encryptBlock(contentKey, body)
  const header = encryptBlock(threadKey.read!, { key: contentKey })
  const event = encodeBlock({ body: bodyBlock.cid, header: header.cid })
  const pubKey = logKey.publicKey.marshal()
  const sig = prev === undefined
    ? logKey.sign(pubKey)
    : logKey.sign(Uint8Array.from([...event.cid.bytes, ...prev.bytes]))
  const fields: Record<string, unknown> = { block: event.cid, sig, pubKey }
  if (prev !== undefined) fields.prev = prev
  return { record: encryptBlock(threadKey.service, fields), event, header, body: bodyBlock }
}

describe('records in the reference layout', () => {
  it('decode and verify when the caller opts in to the legacy first-record signature', async () => {
    await withTempStorage(async temp => {
    const logKey = Ed25519PrivateKey.generate()
    const threadKey = ThreadKey.random()
    const first = referenceRecord(logKey, threadKey, { name: 'first' })
    const second = referenceRecord(logKey, threadKey, { name: 'second' }, first.record.cid)

    const strict = createLogStore({ storage: temp.storage })
    const thread = await strict.createThread({ key: threadKey })
    await strict.addLog(thread.id, logKey.publicKey)
    await assert.rejects(strict.accept(thread.id, logKey.publicKey.logId, first), (e: unknown) =>
      e instanceof InvalidSignatureError && e.code === 'ERR_INVALID_SIGNATURE')
    assert.equal(strict.head(thread.id, logKey.publicKey.logId).counter, 0)

    // Opting in is per log: another log of the same thread keeps refusing the legacy form.
    const otherKey = Ed25519PrivateKey.generate()
    await strict.addLog(thread.id, otherKey.publicKey)
    await assert.rejects(strict.accept(thread.id, otherKey.publicKey.logId, referenceRecord(otherKey, threadKey, { name: 'other' })), InvalidSignatureError)
    const legacyThread = await strict.addThread(ThreadId.create(), threadKey)
    const legacy = strict
    await legacy.addLog(legacyThread.id, logKey.publicKey, { legacyFirstRecordSignature: true })
    await legacy.accept(legacyThread.id, logKey.publicKey.logId, first)
    await legacy.accept(legacyThread.id, logKey.publicKey.logId, second)
    const records = legacy.records(legacyThread.id, logKey.publicKey.logId)
    assert.deepEqual(records.map(r => legacy.content(r)), [{ time: undefined, body: { name: 'first' } }, { time: undefined, body: { name: 'second' } }])
    assert.equal(legacy.verifyLog(legacyThread.id, logKey.publicKey.logId).records, 2)
    const reopened = createLogStore({ storage: await temp.reopen() })
    assert.equal(reopened.verifyLog(legacyThread.id, logKey.publicKey.logId).records, 2, 'the opt-in is stored with the log')
    })
  })
})
