import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compareKeys, open } from 'lmdb'
import { encodeBlock } from '../../codecs/block.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { createBlockStore } from '../../storage/block-store.ts'
import { BlockNotFoundError, ConflictingKeyError, StorageClosedError, TransactionClosedError } from '../../storage/errors.ts'
import { createHeadBook, EMPTY_EDGE, EMPTY_HEAD } from '../../storage/head-book.ts'
import { createKeyBook } from '../../storage/key-book.ts'
import { openStorage } from '../../storage/storage.ts'
import { tempStorage, withTempStorage, type TempStorage } from '../helpers/temp-storage.ts'

/** The transactions LMDB's open readers of the environment at `path` hold, as its reader table lists them. */
function readersOf (path: string): () => string[] {
  const environment = open({ path })
  return () => environment.readerList().split('\n').slice(1).map(line => line.trim().split(/\s+/)[2]).filter((txn): txn is string => txn !== undefined)
}

describe('storage environment', () => {
  it('commits a transaction whole or not at all', async () => {
    await withTempStorage(async temp => {
    const db = temp.storage.valueDatabase<number>('numbers')
    await temp.storage.transaction(() => { db.putSync('a', 1); db.putSync('b', 2) })
    await assert.rejects(temp.storage.transaction(() => {
      db.putSync('a', 10)
      db.putSync('c', 3)
      throw new Error('abort halfway')
    }), /abort halfway/)
    assert.deepEqual([db.get('a'), db.get('b'), db.get('c')], [1, 2, undefined])
    assert.throws(() => temp.storage.transactionSync(() => { db.putSync('d', 4); throw new Error('abort sync') }), /abort sync/)
    assert.equal(db.get('d'), undefined)
    const reopened = await temp.reopen()
    assert.deepEqual([reopened.valueDatabase<number>('numbers').get('a'), reopened.valueDatabase<number>('numbers').get('b')], [1, 2])
    })
  })

  it('commits transactions asked for in one turn in order, each whole or not at all, and one asked for alone', async () => {
    await withTempStorage(async temp => {
    const db = temp.storage.valueDatabase<number>('numbers')
    const together = [
      temp.storage.transaction(() => { db.putSync('a', 1); return 'first' }),
      temp.storage.transaction(() => { db.putSync('b', (db.get('a') ?? 0) + 1); return 'second' }),
      temp.storage.transaction(() => { db.putSync('c', 3); throw new Error('abort the third') }),
      temp.storage.transaction(() => { db.putSync('d', (db.get('b') ?? 0) + 1); return db.get('c') })
    ]
    const outcomes = await Promise.allSettled(together)
    assert.deepEqual(outcomes.map(outcome => outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message), ['first', 'second', 'abort the third', undefined])
    assert.equal(await temp.storage.transaction(() => { db.putSync('e', (db.get('d') ?? 0) + 1); return db.get('e') }), 4)
    await assert.rejects(temp.storage.transaction(() => { db.putSync('f', 6); throw new Error('abort alone') }), /abort alone/)
    const reopened = (await temp.reopen()).valueDatabase<number>('numbers')
    assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f'].map(key => reopened.get(key)), [1, 2, undefined, 3, 4, undefined])
    })
  })

  it('settles transactions asked for in the turn closing began: each written whole, or refused as closed', async () => {
    await withTempStorage(async temp => {
    const numbers = temp.storage.valueDatabase<number>('numbers')
    await temp.storage.transaction(() => { numbers.putSync('first', 0) })
    const asked = [1, 2, 3].map(n => temp.storage.transaction(() => { numbers.putSync(`n${n}`, n); numbers.putSync(`m${n}`, n) }))
    const closed = temp.storage.close()
    const outcomes = await Promise.allSettled(asked)
    await closed
    const reopened = (await temp.reopen()).valueDatabase<number>('numbers')
    outcomes.forEach((outcome, i) => {
      const n = i + 1
      if (outcome.status === 'fulfilled') assert.deepEqual([reopened.get(`n${n}`), reopened.get(`m${n}`)], [n, n], `transaction ${n} resolved, so it is on disk`)
      else {
        assert.ok(outcome.reason instanceof StorageClosedError, String(outcome.reason))
        assert.deepEqual([reopened.get(`n${n}`), reopened.get(`m${n}`)], [undefined, undefined], `transaction ${n} refused, so none of it is`)
      }
    })
    const lone = temp.storage.transaction(() => { temp.storage.valueDatabase<number>('numbers').putSync('lone', 1) })
    const closedAgain = temp.storage.close()
    await lone
    await closedAgain
    assert.equal((await temp.reopen()).valueDatabase<number>('numbers').get('lone'), 1, 'a lone transaction after a pause commits on the spot, before closing')
    })
  })

  it('reads and extends a file whose keys lmdb ordered with its default comparator', async () => {
    await withTempStorage(async temp => {
    await temp.storage.close()
    // Keys that share long prefixes, that are prefixes of each other, and that mix numbers and strings: where a
    // comparator of whole words and plain memcmp could part ways, if they ever did.
    const keys = [
      ['v', 1, 'Person', '0193a1b2-c3d4-7e5f-8a9b-000000000010'], ['v', 1, 'Person', '0193a1b2-c3d4-7e5f-8a9b-000000000009'],
      ['v', 1, 'Person', '0193a1b2'], ['v', 1, 'Person', ''], ['v', 1, 'Person'], ['v', 1, 'Pers'], ['v', 2, 'A'], ['v', 300, 'A'],
      ['v', -1, 'A'], ['v', 1.5, 'A'], ['x', 1, 'Person', 'age', 42, 'id'], ['x', 1, 'Person', 'age', 7, 'id'], ['x', 1, 'Person', 'age', 'seven', 'id'],
      ['u', 1, 'P', 'email', 'a\u0000b'], ['u', 1, 'P', 'email', 'a'], ['u', 1, 'P', 'email', 'é'], 'plain', 'plai', 7, 70000
    ]
    const legacy = open({ path: temp.path, maxDbs: 64 })
    const written = legacy.openDB<number, any>({ name: 'mixed', encoding: 'msgpack', useRecords: false } as never)
    await legacy.transaction(() => { keys.forEach((key, i) => { written.putSync(key, i) }) })
    const expected = [...written.getRange()].map(({ key, value }) => [key, value])
    await legacy.close()

    const storage = await openStorage({ path: temp.path })
    try {
      const db = storage.valueDatabase<number>('mixed')
      assert.deepEqual([...db.getRange()].map(({ key, value }) => [key, value]), expected)
      for (const [i, key] of keys.entries()) assert.equal(db.get(key), i)
      await storage.transaction(() => { db.putSync(['v', 1, 'Person', '0193a1b2-c3d4-7e5f-8a9b-00000000001'], -1); db.putSync(['v', 1, 'Per'], -2) })
      const all = [...keys, ['v', 1, 'Person', '0193a1b2-c3d4-7e5f-8a9b-00000000001'], ['v', 1, 'Per']]
      assert.deepEqual([...db.getRange()].map(({ key }) => key), [...all].sort(compareKeys))
    } finally {
      await storage.close()
    }
    const legacyAgain = open({ path: temp.path, maxDbs: 64, readOnly: true })
    const reread = legacyAgain.openDB<number, any>({ name: 'mixed', encoding: 'msgpack', useRecords: false } as never)
    assert.deepEqual([reread.get(['v', 1, 'Per']), reread.get(['v', 1, 'Person', '0193a1b2-c3d4-7e5f-8a9b-00000000001'])], [-2, -1])
    for (const [i, key] of keys.entries()) assert.equal(reread.get(key), i)
    await legacyAgain.close()
    })
  })

  it('pins a committed state: every kind of read through it sees that state, whatever commits after', async () => {
    await withTempStorage(async ({ storage }) => {
      const db = storage.valueDatabase<string>('pinned')
      await storage.transaction(() => {
        db.putSync(['k', 1], 'one')
        db.putSync(['k', 2], 'two')
      })
      const pinned = storage.pin()
      await storage.transaction(() => {
        db.putSync(['k', 1], 'changed')
        db.removeSync(['k', 2])
        db.putSync(['k', 3], 'three')
      })
      const read = (): unknown => ({
        get: [db.get(['k', 1]), db.get(['k', 3])],
        exists: [db.doesExist(['k', 2]), db.doesExist(['k', 3])],
        range: [...db.getRange({ start: ['k'], end: ['l'] })].map(({ key, value }) => [key, value]),
        keys: [...db.getKeys({ start: ['k'], end: ['l'] })],
        count: db.getCount({ start: ['k'], end: ['l'] })
      })
      assert.deepEqual(pinned.read(read), {
        get: ['one', undefined],
        exists: [true, false],
        range: [[['k', 1], 'one'], [['k', 2], 'two']],
        keys: [['k', 1], ['k', 2]],
        count: 2
      })
      assert.deepEqual(read(), {
        get: ['changed', 'three'],
        exists: [false, true],
        range: [[['k', 1], 'changed'], [['k', 3], 'three']],
        keys: [['k', 1], ['k', 3]],
        count: 2
      })
      pinned.release()
      pinned.release()
      assert.throws(() => pinned.read(read), (e: unknown) => e instanceof TransactionClosedError && e.code === 'ERR_TRANSACTION_CLOSED')
    })
  })

  it('lets go of the LMDB reader behind pins taken together once each is released', async () => {
    await withTempStorage(async ({ storage, path }) => {
      const db = storage.valueDatabase<string>('pinned')
      await storage.transaction(() => db.putSync('k', 'v'))
      const readers = readersOf(path)
      const first = storage.pin()
      const second = storage.pin()
      const pinnedAt = readers()
      assert.equal(pinnedAt.length, 1, 'two pins with no commit between them share one read transaction')
      await storage.transaction(() => db.putSync('k', 'w'))
      first.release()
      assert.equal(second.read(() => db.get('k')), 'v', 'the other pin still holds its state')
      second.release()
      await storage.transaction(() => db.putSync('k', 'x'))
      assert.equal(db.get('k'), 'x')
      assert.ok(!readers().includes(pinnedAt[0]!), `the pinned state's reader is still open: ${readers().join(', ')}`)
    })
  })

  it('lets a pinned state go when it closes: reads through it are refused, releasing it later is harmless', async () => {
    const temp = await tempStorage()
    const db = temp.storage.valueDatabase<string>('pinned')
    await temp.storage.transaction(() => db.putSync('k', 'v'))
    const pinned = temp.storage.pin()
    assert.equal(pinned.read(() => db.get('k')), 'v')
    const readers = readersOf(temp.path)
    const pinnedAt = readers()
    await temp.storage.transaction(() => db.putSync('k', 'later'))
    const reopened = await temp.reopen()
    assert.throws(() => pinned.read(() => db.get('k')), StorageClosedError)
    pinned.release()
    assert.ok(!readers().includes(pinnedAt[0]!), `the pinned state's reader outlived its storage: ${readers().join(', ')}`)
    assert.equal(reopened.valueDatabase<string>('pinned').get('k'), 'later')
    await temp.dispose()
  })

  it('refuses work once closed, with a typed error', async () => {
    const temp = await tempStorage()
    const path = temp.path
    await temp.storage.close()
    assert.equal(temp.storage.closed, true)
    assert.throws(() => temp.storage.valueDatabase('x'), (e: unknown) => e instanceof StorageClosedError && e.code === 'ERR_STORAGE_CLOSED')
    await assert.rejects(temp.storage.transaction(() => 1), StorageClosedError)
    await temp.storage.close()
    const again = await openStorage({ path })
    await again.close()
    await temp.dispose()
  })
})

describe('books', () => {
  let temp: TempStorage
  const threadId = ThreadId.create()
  before(async () => { temp = await tempStorage() })
  after(async () => { await temp.dispose() })

  it('block store: put is idempotent, get/require/has/delete, verify re-hashes what is on disk', () => {
    const blocks = createBlockStore(temp.storage)
    const block = encodeBlock({ hello: 'blocks' })
    assert.equal(blocks.has(block.cid), false)
    assert.equal(blocks.get(block.cid), undefined)
    assert.throws(() => blocks.require(block.cid), (e: unknown) => e instanceof BlockNotFoundError && e.code === 'ERR_BLOCK_NOT_FOUND')
    blocks.put(block)
    blocks.put(block)
    assert.deepEqual(new Uint8Array(blocks.require(block.cid).bytes), block.bytes)
    assert.equal(blocks.verify(block.cid).cid.toString(), block.cid.toString())
    const damaged = Uint8Array.from(block.bytes)
    damaged[damaged.length - 1] ^= 1
    temp.storage.binaryDatabase('blocks').putSync(block.cid.bytes, damaged)
    assert.throws(() => blocks.verify(block.cid), (e: unknown) => (e as { code?: string }).code === 'ERR_BLOCK_INTEGRITY')
    blocks.delete(block.cid)
    assert.equal(blocks.has(block.cid), false)
  })

  it('key book: keys per thread and log, re-adding the same is a no-op, a different one is refused', () => {
    const keys = createKeyBook(temp.storage)
    const threadKey = ThreadKey.random()
    keys.addThreadKey(threadId, threadKey)
    keys.addThreadKey(threadId, threadKey)
    assert.equal(keys.threadKey(threadId)!.toString(), threadKey.toString())
    assert.throws(() => keys.addThreadKey(threadId, ThreadKey.random()), (e: unknown) => e instanceof ConflictingKeyError && e.code === 'ERR_CONFLICTING_KEY')
    assert.equal(keys.threadKey(threadId)!.toString(), threadKey.toString())
    const own = Ed25519PrivateKey.generate()
    const theirs = Ed25519PrivateKey.generate().publicKey
    keys.addPrivateKey(threadId, own)
    keys.addPublicKey(threadId, theirs)
    assert.deepEqual(new Set(keys.logs(threadId)), new Set([own.publicKey.logId, theirs.logId]))
    assert.deepEqual(keys.privateKey(threadId, own.publicKey.logId)!.seed, own.seed)
    assert.equal(keys.privateKey(threadId, theirs.logId), undefined)
    assert.ok(keys.publicKey(threadId, theirs.logId)!.equals(theirs))
    assert.ok(keys.threads().some(t => t.equals(threadId)))
    keys.clearThread(threadId)
    assert.equal(keys.threadKey(threadId), undefined)
    assert.deepEqual(keys.logs(threadId), [])
  })

  it('head book: heads per log, and an edge that depends only on the set of heads', () => {
    const heads = createHeadBook(temp.storage)
    const other = ThreadId.create()
    assert.equal(heads.get(threadId, 'log-a'), EMPTY_HEAD)
    assert.equal(heads.edge(threadId), EMPTY_EDGE)
    const a = encodeBlock({ a: 1 }).cid
    const b = encodeBlock({ b: 1 }).cid
    heads.set(threadId, 'log-b', { cid: b, counter: 7, time: { wall: 5, counter: 1 } })
    heads.set(threadId, 'log-a', { cid: a, counter: 3 })
    const edge = heads.edge(threadId)
    heads.set(other, 'log-a', { cid: a, counter: 3 })
    heads.set(other, 'log-b', { cid: b, counter: 7 })
    assert.equal(heads.edge(other), edge, 'same heads written in another order give the same edge')
    heads.set(other, 'log-b', { cid: a, counter: 8 })
    assert.notEqual(heads.edge(other), edge)
    assert.deepEqual([...heads.heads(threadId).keys()], ['log-a', 'log-b'])
    assert.deepEqual(heads.get(threadId, 'log-b').time, { wall: 5, counter: 1 })
    assert.deepEqual(heads.latestTime(), { wall: 5, counter: 1 })
    heads.clear(threadId, 'log-a')
    assert.equal(heads.get(threadId, 'log-a').counter, 0)
  })
})
