import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ThreadId } from '../../codecs/thread-id.ts'
import { InvalidArgumentError } from '../../storage/errors.ts'
import { createMetadataBook, type MetadataBook, type MetadataValue } from '../../storage/metadata-book.ts'
import { tempStorage, type TempStorage } from '../helpers/temp-storage.ts'

const invalid = { name: 'InvalidArgumentError', code: InvalidArgumentError.code }

const samples: Array<[string, MetadataValue]> = [
  ['string', 'a thread'],
  ['empty string', ''],
  ['integer', 42],
  ['negative float', -0.125],
  ['zero', 0],
  ['large integer', Number.MAX_SAFE_INTEGER],
  ['infinity', Infinity],
  ['NaN', NaN],
  ['true', true],
  ['false', false],
  ['bytes', new Uint8Array([0, 1, 2, 255])],
  ['empty bytes', new Uint8Array()],
  ['object', { name: 'notes', version: 3, tags: ['a', 'b'], nested: { on: true, off: null, ratio: 0.5 } }],
  ['empty object', {}],
  ['array', [1, 'two', false, null, { three: [3] }]],
  ['empty array', []]
]

describe('metadata book', () => {
  let temp: TempStorage
  let book: MetadataBook
  let threadId: ThreadId

  beforeEach(async () => {
    temp = await tempStorage()
    book = createMetadataBook(temp.storage)
    threadId = ThreadId.create()
  })

  afterEach(async () => {
    await temp.dispose()
  })

  describe('values', () => {
    for (const [kind, value] of samples) {
      it(`reads back ${kind} as written`, () => {
        book.put(threadId, kind, value)
        assert.deepStrictEqual(book.get(threadId, kind), value)
      })
    }

    it('hands bytes back as a plain Uint8Array the caller may change', () => {
      book.put(threadId, 'key', Buffer.from([1, 2, 3]))
      const first = book.get(threadId, 'key') as Uint8Array
      assert.equal(Object.getPrototypeOf(first), Uint8Array.prototype)
      first[0] = 9
      assert.deepStrictEqual(book.get(threadId, 'key'), new Uint8Array([1, 2, 3]))
    })

    it('keeps bytes apart from an array of numbers', () => {
      book.put(threadId, 'bytes', new Uint8Array([1, 2]))
      book.put(threadId, 'numbers', [1, 2])
      assert.ok(book.get(threadId, 'bytes') instanceof Uint8Array)
      assert.deepStrictEqual(book.get(threadId, 'numbers'), [1, 2])
    })

    it('is undefined for a name never put', () => {
      assert.equal(book.get(threadId, 'missing'), undefined)
    })

    it('overwrites, also with a value of another type', () => {
      book.put(threadId, 'version', 1)
      book.put(threadId, 'version', '2')
      assert.equal(book.get(threadId, 'version'), '2')
    })
  })

  describe('deleting', () => {
    it('deletes one name, and a missing name without complaint', () => {
      book.put(threadId, 'a', 1)
      book.put(threadId, 'b', 2)
      book.delete(threadId, 'a')
      book.delete(threadId, 'never')
      assert.equal(book.get(threadId, 'a'), undefined)
      assert.deepStrictEqual(book.entries(threadId), new Map([['b', 2]]))
    })

    it('clears one thread only', () => {
      const other = ThreadId.create()
      book.put(threadId, 'a', 1)
      book.put(threadId, 'b', 'two')
      book.put(other, 'a', 'other')
      book.clearThread(threadId)
      assert.deepStrictEqual(book.entries(threadId), new Map())
      assert.deepStrictEqual(book.entries(other), new Map([['a', 'other']]))
      book.clearThread(threadId)
    })
  })

  describe('entries', () => {
    it('lists every name of the thread, and no other thread’s', () => {
      const other = ThreadId.create()
      book.put(threadId, 'name', 'notes')
      book.put(threadId, 'key', new Uint8Array([7]))
      book.put(other, 'name', 'elsewhere')
      assert.deepStrictEqual(book.entries(threadId), new Map<string, MetadataValue>([['key', new Uint8Array([7])], ['name', 'notes']]))
      assert.deepStrictEqual(book.entries(ThreadId.create()), new Map())
    })

    it('includes names beyond \\uffff and with control characters', () => {
      const names = ['\u0000', '\u0001x', 'plain', '\uffff', '\uffff\uffff', '😀', '🀄 tile', 'ünï']
      for (const name of names) book.put(threadId, name, name)
      book.put(ThreadId.create(), '😀', 'other thread')
      const entries = book.entries(threadId)
      assert.deepStrictEqual([...entries.keys()].sort(), [...names].sort())
      for (const name of names) assert.equal(entries.get(name), name)
      book.clearThread(threadId)
      assert.equal(book.entries(threadId).size, 0)
    })
  })

  describe('persistence', () => {
    it('keeps every value across a reopen', async () => {
      for (const [kind, value] of samples) book.put(threadId, kind, value)
      book = createMetadataBook(await temp.reopen())
      assert.deepStrictEqual(book.entries(threadId), new Map(samples))
    })

    it('rolls back with the caller’s transaction', () => {
      book.put(threadId, 'kept', 1)
      assert.throws(() => temp.storage.transactionSync(() => {
        book.put(threadId, 'new', 2)
        book.delete(threadId, 'kept')
        throw new Error('abort')
      }), /abort/)
      assert.deepStrictEqual(book.entries(threadId), new Map([['kept', 1]]))
    })
  })

  describe('invalid arguments', () => {
    it('refuses empty names everywhere and changes nothing', () => {
      book.put(threadId, 'kept', 1)
      assert.throws(() => book.put(threadId, '', 1), invalid)
      assert.throws(() => book.get(threadId, ''), invalid)
      assert.throws(() => book.delete(threadId, ''), invalid)
      assert.deepStrictEqual(book.entries(threadId), new Map([['kept', 1]]))
    })

    it('refuses names a key cannot keep as written: 64 units or more with U+0000–U+0004, or a lone surrogate', () => {
      for (const name of [`${'n'.repeat(64)}\u0000`, `${'n'.repeat(70)}\u0003x`, `${'n'.repeat(64)}\ud800`]) {
        assert.throws(() => book.put(threadId, name, 1), invalid)
        assert.throws(() => book.get(threadId, name), invalid)
      }
      assert.equal(book.entries(threadId).size, 0)
    })

    it('refuses names too long for a key', () => {
      assert.throws(() => book.put(threadId, 'n'.repeat(513), 1), invalid)
      book.put(threadId, 'n'.repeat(512), 1)
      assert.equal(book.get(threadId, 'n'.repeat(512)), 1)
    })

    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const shared = { x: 1 }
    const bad: Array<[string, unknown]> = [
      ['undefined', undefined],
      ['null', null],
      ['a function', () => 1],
      ['a bigint', 1n],
      ['a symbol', Symbol('s')],
      ['a Date', new Date(0)],
      ['a Map', new Map([['a', 1]])],
      ['a class instance', new URL('http://example.com')],
      ['an undefined property', { a: undefined }],
      ['a NaN property', { a: NaN }],
      ['an infinite array element', [Infinity]],
      ['nested bytes', { key: new Uint8Array([1]) }],
      ['a sparse array', [1, , 3]],
      ['a symbol key', { [Symbol('k')]: 1 }],
      ['an own __proto__ key', JSON.parse('{"__proto__": {"a": 1}}')],
      ['a cycle', cyclic],
      ['a nested Date', { when: [new Date(0)] }]
    ]
    for (const [kind, value] of bad) {
      it(`refuses ${kind} and keeps the old value`, () => {
        book.put(threadId, 'value', 'old')
        assert.throws(() => book.put(threadId, 'value', value as MetadataValue), invalid)
        assert.equal(book.get(threadId, 'value'), 'old')
      })
    }

    it('accepts the same object twice in one value, which is no cycle', () => {
      book.put(threadId, 'value', { a: shared, b: [shared, shared] })
      assert.deepStrictEqual(book.get(threadId, 'value'), { a: { x: 1 }, b: [{ x: 1 }, { x: 1 }] })
    })

    it('accepts objects without a prototype, read back as plain objects', () => {
      const bare = Object.assign(Object.create(null) as Record<string, number>, { a: 1 })
      book.put(threadId, 'value', bare)
      assert.deepStrictEqual(book.get(threadId, 'value'), { a: 1 })
    })
  })
})
