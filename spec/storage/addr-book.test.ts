import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isMultiaddr } from '@multiformats/multiaddr'
import { multiaddr, type Multiaddr } from '../../codecs/address.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import {
  ADDRESS_TTL, CONNECTED_ADDR_TTL, PERMANENT_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL, TEMP_ADDR_TTL,
  createAddrBook, isStorableAddr, type AddrBook, type AddrChange, type AddrStream
} from '../../storage/addr-book.ts'
import { InvalidArgumentError } from '../../storage/errors.ts'
import { tempStorage, type TempStorage } from '../helpers/temp-storage.ts'

const MINUTE = 60_000
const A = multiaddr('/ip4/10.0.0.1/tcp/4001')
const B = multiaddr('/ip4/10.0.0.2/tcp/4001')
const C = multiaddr('/ip6/::1/udp/4001/quic-v1')
const D = multiaddr('/dns4/peer.example.com/tcp/443/wss')

const newLogId = (): string => Ed25519PrivateKey.generate().publicKey.logId
const strings = (addrs: Multiaddr[]): string[] => addrs.map(addr => addr.toString()).sort()
const invalid = { name: 'InvalidArgumentError', code: InvalidArgumentError.code }

async function within<T> (promise: Promise<T>, ms = 1000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** One iterator per stream, since a stream is single use; every read is bounded. */
function reader (stream: AddrStream): { next: () => Promise<IteratorResult<AddrChange>>, take: (n: number) => Promise<string[]> } {
  const iterator = stream[Symbol.asyncIterator]()
  const next = async (): Promise<IteratorResult<AddrChange>> => await within(iterator.next())
  return {
    next,
    async take (n) {
      const changes: string[] = []
      for (let i = 0; i < n; i++) {
        const result = await next()
        assert.equal(result.done, false, `stream ended after ${i} of ${n} changes`)
        changes.push(`${result.value.type} ${result.value.addr.toString()}`)
      }
      return changes
    }
  }
}

describe('addr book', () => {
  let temp: TempStorage
  let clock: number
  let book: AddrBook
  let threadId: ThreadId
  let logId: string
  const now = (): number => clock

  beforeEach(async () => {
    temp = await tempStorage()
    clock = 1_700_000_000_000
    book = createAddrBook(temp.storage, { now })
    threadId = ThreadId.create()
    logId = newLogId()
  })

  afterEach(async () => {
    book.close()
    await temp.dispose()
  })

  describe('adding', () => {
    it('returns added addresses as Multiaddr objects', () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      book.addAddrs(threadId, logId, [B, C], ADDRESS_TTL)
      const addrs = book.addrs(threadId, logId)
      assert.ok(addrs.every(addr => isMultiaddr(addr)))
      assert.deepEqual(strings(addrs), strings([A, B, C]))
    })

    it('holds an address once however often it is added', () => {
      const stream = book.addrStream(threadId, logId)
      book.addAddrs(threadId, logId, [A, A, multiaddr(A.toString())], ADDRESS_TTL)
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [A.toString()])
      assert.equal(stream.pending, 1, 'announced once')
    })

    it('treats equal addresses written differently as one', () => {
      book.addAddr(threadId, logId, multiaddr('/ip6/0:0:0:0:0:0:0:1/udp/4001/quic-v1'), ADDRESS_TTL)
      book.addAddr(threadId, logId, C, ADDRESS_TTL)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [C.toString()])
    })

    it('never shortens an expiry', () => {
      book.addAddr(threadId, logId, A, 10 * MINUTE)
      clock += MINUTE
      book.addAddr(threadId, logId, A, 2 * MINUTE)
      clock += 8 * MINUTE
      assert.deepEqual(strings(book.addrs(threadId, logId)), [A.toString()], 'still held 9 minutes in')
      clock += MINUTE
      assert.deepEqual(book.addrs(threadId, logId), [], 'gone at the first expiry')
    })

    it('extends an expiry', () => {
      book.addAddr(threadId, logId, A, 2 * MINUTE)
      clock += MINUTE
      book.addAddr(threadId, logId, A, 10 * MINUTE)
      clock += 9 * MINUTE
      assert.equal(book.addrs(threadId, logId).length, 1)
      clock += MINUTE
      assert.equal(book.addrs(threadId, logId).length, 0)
    })

    it('adds nothing with a TTL of 0 and leaves what is held', () => {
      book.addAddr(threadId, logId, B, ADDRESS_TTL)
      book.addAddrs(threadId, logId, [A, B], 0)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [B.toString()])
    })

    it('keeps the larger TTL as the class of an extended address', () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, 0)
      assert.equal(book.addrs(threadId, logId).length, 1, 'not in the TEMP class')
      book.updateAddrs(threadId, logId, ADDRESS_TTL, 0)
      assert.equal(book.addrs(threadId, logId).length, 0)
    })
  })

  describe('setting', () => {
    it('overwrites the TTL, shortening it', () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      book.setAddr(threadId, logId, A, MINUTE)
      clock += MINUTE - 1
      assert.equal(book.addrs(threadId, logId).length, 1)
      clock += 1
      assert.equal(book.addrs(threadId, logId).length, 0)
    })

    it('adds addresses not held yet', () => {
      book.setAddrs(threadId, logId, [A, B], ADDRESS_TTL)
      assert.deepEqual(strings(book.addrs(threadId, logId)), strings([A, B]))
    })

    it('removes with a TTL of 0', () => {
      book.addAddrs(threadId, logId, [A, B, C], PERMANENT_ADDR_TTL)
      book.setAddr(threadId, logId, A, 0)
      book.setAddrs(threadId, logId, [B, D], 0)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [C.toString()])
    })
  })

  describe('updating', () => {
    it('moves one TTL class to another, counted from now', () => {
      book.addAddrs(threadId, logId, [A, B], TEMP_ADDR_TTL)
      book.addAddr(threadId, logId, C, ADDRESS_TTL)
      clock += MINUTE
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, ADDRESS_TTL)
      clock += ADDRESS_TTL - MINUTE
      assert.deepEqual(strings(book.addrs(threadId, logId)), strings([A, B]), 'C expired on its own schedule')
      clock += MINUTE
      assert.deepEqual(book.addrs(threadId, logId), [])
    })

    it('gives the moved addresses the new class', () => {
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, ADDRESS_TTL)
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, 0)
      assert.equal(book.addrs(threadId, logId).length, 1)
      book.updateAddrs(threadId, logId, ADDRESS_TTL, 0)
      assert.equal(book.addrs(threadId, logId).length, 0)
    })

    it('demotes connected addresses on disconnect and leaves permanent ones', () => {
      book.addAddrs(threadId, logId, [A, B], CONNECTED_ADDR_TTL)
      book.addAddr(threadId, logId, C, PERMANENT_ADDR_TTL)
      clock += 1e12
      assert.equal(book.addrs(threadId, logId).length, 3, 'connected addresses do not expire')
      book.updateAddrs(threadId, logId, CONNECTED_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL)
      clock += RECENTLY_CONNECTED_ADDR_TTL
      assert.deepEqual(strings(book.addrs(threadId, logId)), [C.toString()])
    })

    it('removes a class with a new TTL of 0', () => {
      book.addAddrs(threadId, logId, [A, B], TEMP_ADDR_TTL)
      book.addAddr(threadId, logId, C, ADDRESS_TTL)
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, 0)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [C.toString()])
    })

    it('does not bring expired addresses back', () => {
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      clock += TEMP_ADDR_TTL
      book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, PERMANENT_ADDR_TTL)
      assert.deepEqual(book.addrs(threadId, logId), [])
    })
  })

  describe('expiry', () => {
    it('keeps permanent addresses forever', () => {
      book.addAddr(threadId, logId, A, PERMANENT_ADDR_TTL)
      clock = Number.MAX_VALUE
      assert.equal(book.addrs(threadId, logId).length, 1)
      assert.equal(book.gc(), 0)
    })

    it('stops returning an address once its TTL has passed', () => {
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      book.addAddr(threadId, logId, B, ADDRESS_TTL)
      clock += TEMP_ADDR_TTL - 1
      assert.equal(book.addrs(threadId, logId).length, 2)
      clock += 1
      assert.deepEqual(strings(book.addrs(threadId, logId)), [B.toString()])
    })

    it('collects every expired address in gc, and only those', () => {
      const otherThread = ThreadId.create()
      const otherLog = newLogId()
      book.addAddrs(threadId, logId, [A, B], TEMP_ADDR_TTL)
      book.addAddr(threadId, logId, C, ADDRESS_TTL)
      book.addAddr(threadId, otherLog, A, TEMP_ADDR_TTL)
      book.addAddr(otherThread, logId, D, TEMP_ADDR_TTL)
      book.addAddr(otherThread, logId, A, PERMANENT_ADDR_TTL)
      assert.equal(book.gc(), 0, 'nothing expired yet')
      clock += TEMP_ADDR_TTL
      assert.equal(book.gc(), 4)
      assert.equal(book.gc(), 0, 'nothing left to collect')
      assert.deepEqual(strings(book.addrs(threadId, logId)), [C.toString()])
      assert.deepEqual(strings(book.addrs(otherThread, logId)), [A.toString()])
      assert.deepEqual(book.addrs(threadId, otherLog), [])
    })

    it('deletes an expired address when it is written again or its log is updated', () => {
      const otherLog = newLogId()
      book.addAddrs(threadId, logId, [A, B], TEMP_ADDR_TTL)
      book.addAddrs(threadId, otherLog, [A, B, C], TEMP_ADDR_TTL)
      clock += TEMP_ADDR_TTL
      book.setAddr(threadId, logId, A, 0)
      book.updateAddrs(threadId, otherLog, ADDRESS_TTL, PERMANENT_ADDR_TTL)
      assert.equal(book.gc(), 1, 'only B of the first log was left')
    })

    it('counts an expired address as absent when it is added again', () => {
      book.addAddr(threadId, logId, A, 10 * MINUTE)
      clock += 10 * MINUTE
      book.addAddr(threadId, logId, A, MINUTE)
      clock += MINUTE - 1
      assert.equal(book.addrs(threadId, logId).length, 1)
      clock += 1
      assert.equal(book.addrs(threadId, logId).length, 0)
    })

    it('lists only logs with an unexpired address', () => {
      const [short, long, both] = [newLogId(), newLogId(), newLogId()]
      book.addAddr(threadId, short, A, TEMP_ADDR_TTL)
      book.addAddr(threadId, long, A, ADDRESS_TTL)
      book.addAddrs(threadId, both, [A, B], TEMP_ADDR_TTL)
      book.addAddr(threadId, both, C, ADDRESS_TTL)
      book.addAddr(ThreadId.create(), newLogId(), A, ADDRESS_TTL)
      assert.deepEqual(book.logsWithAddrs(threadId).sort(), [short, long, both].sort())
      clock += TEMP_ADDR_TTL
      assert.deepEqual(book.logsWithAddrs(threadId).sort(), [long, both].sort())
      assert.deepEqual(book.logsWithAddrs(ThreadId.create()), [])
    })
  })

  describe('clearing and isolation', () => {
    it('clears one log only', () => {
      const otherLog = newLogId()
      const otherThread = ThreadId.create()
      book.addAddrs(threadId, logId, [A, B], ADDRESS_TTL)
      book.addAddr(threadId, otherLog, A, ADDRESS_TTL)
      book.addAddr(otherThread, logId, A, ADDRESS_TTL)
      book.clearAddrs(threadId, logId)
      assert.deepEqual(book.addrs(threadId, logId), [])
      assert.deepEqual(book.logsWithAddrs(threadId), [otherLog])
      assert.equal(book.addrs(otherThread, logId).length, 1)
      book.clearAddrs(threadId, logId)
    })

    it('keeps the same address apart across logs and threads', () => {
      const otherLog = newLogId()
      const otherThread = ThreadId.create()
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      book.addAddr(threadId, otherLog, A, ADDRESS_TTL)
      book.addAddr(otherThread, logId, A, PERMANENT_ADDR_TTL)
      book.updateAddrs(threadId, otherLog, ADDRESS_TTL, 0)
      clock += TEMP_ADDR_TTL
      assert.deepEqual(book.addrs(threadId, logId), [])
      assert.deepEqual(book.addrs(threadId, otherLog), [])
      assert.deepEqual(strings(book.addrs(otherThread, logId)), [A.toString()])
    })
  })

  describe('persistence', () => {
    it('keeps addresses, expiries and TTL classes across a reopen', async () => {
      book.addAddr(threadId, logId, A, PERMANENT_ADDR_TTL)
      book.addAddr(threadId, logId, B, TEMP_ADDR_TTL)
      book.addAddr(threadId, logId, C, CONNECTED_ADDR_TTL)
      book.close()
      book = createAddrBook(await temp.reopen(), { now })
      assert.deepEqual(strings(book.addrs(threadId, logId)), strings([A, B, C]))
      book.updateAddrs(threadId, logId, CONNECTED_ADDR_TTL, ADDRESS_TTL)
      clock += TEMP_ADDR_TTL
      assert.deepEqual(strings(book.addrs(threadId, logId)), strings([A, C]))
      clock += ADDRESS_TTL
      assert.deepEqual(strings(book.addrs(threadId, logId)), [A.toString()])
      assert.deepEqual(book.logsWithAddrs(threadId), [logId])
    })

    it('rolls back with the caller’s transaction', () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      assert.throws(() => temp.storage.transactionSync(() => {
        book.addAddr(threadId, logId, B, ADDRESS_TTL)
        book.setAddr(threadId, logId, A, 0)
        throw new Error('abort')
      }), /abort/)
      assert.deepEqual(strings(book.addrs(threadId, logId)), [A.toString()])
    })
  })

  describe('invalid arguments', () => {
    for (const ttl of [-1, -Infinity, NaN]) {
      it(`refuses a TTL of ${ttl} everywhere and changes nothing`, () => {
        book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
        const stream = book.addrStream(threadId, logId)
        assert.throws(() => book.addAddr(threadId, logId, B, ttl), invalid)
        assert.throws(() => book.addAddrs(threadId, logId, [B, C], ttl), invalid)
        assert.throws(() => book.setAddr(threadId, logId, A, ttl), invalid)
        assert.throws(() => book.setAddrs(threadId, logId, [A, B], ttl), invalid)
        assert.throws(() => book.updateAddrs(threadId, logId, TEMP_ADDR_TTL, ttl), invalid)
        assert.throws(() => book.updateAddrs(threadId, logId, ttl, 0), invalid)
        assert.deepEqual(strings(book.addrs(threadId, logId)), [A.toString()])
        assert.equal(stream.pending, 1, 'only the opening change')
        clock += TEMP_ADDR_TTL - 1
        assert.equal(book.addrs(threadId, logId).length, 1, 'expiry untouched')
      })
    }

    it('refuses a whole batch when one address is too long, or one a key cannot keep as written', () => {
      for (const bad of [multiaddr(`/dns4/${'a'.repeat(600)}/tcp/1`), multiaddr(`/dns4/${'a'.repeat(70)}\u0000b/tcp/1`)]) {
        assert.equal(isStorableAddr(bad), false)
        assert.throws(() => book.addAddrs(threadId, logId, [A, bad], ADDRESS_TTL), invalid)
        assert.throws(() => book.setAddrs(threadId, logId, [A, bad], ADDRESS_TTL), invalid)
      }
      assert.equal(isStorableAddr(A), true)
      assert.deepEqual(book.addrs(threadId, logId), [])
    })
  })

  describe('address stream', () => {
    it('opens with the addresses held, then delivers adds and removes', async () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      book.addAddr(threadId, logId, B, TEMP_ADDR_TTL)
      clock += TEMP_ADDR_TTL
      const stream = book.addrStream(threadId, logId)
      const changes = reader(stream)
      assert.deepEqual(await changes.take(1), [`added ${A.toString()}`], 'the expired B is not announced')
      book.addAddrs(threadId, logId, [C, D], ADDRESS_TTL)
      assert.deepEqual(await changes.take(2), [`added ${C.toString()}`, `added ${D.toString()}`])
      book.setAddr(threadId, logId, C, 0)
      assert.deepEqual(await changes.take(1), [`removed ${C.toString()}`])
      book.clearAddrs(threadId, logId)
      assert.deepEqual((await changes.take(2)).sort(), [`removed ${A.toString()}`, `removed ${D.toString()}`].sort())
    })

    it('wakes a waiting reader', async () => {
      const changes = reader(book.addrStream(threadId, logId))
      const next = changes.next()
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      const result = await next
      assert.equal(result.done, false)
      assert.equal(result.value.type, 'added')
      assert.ok(result.value.addr.equals(A))
    })

    it('announces nothing for a TTL change', async () => {
      book.addAddr(threadId, logId, A, TEMP_ADDR_TTL)
      const stream = book.addrStream(threadId, logId)
      await reader(stream).take(1)
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      book.setAddr(threadId, logId, A, MINUTE)
      book.updateAddrs(threadId, logId, MINUTE, PERMANENT_ADDR_TTL)
      assert.equal(stream.pending, 0)
    })

    it('announces removals by expiry when they are collected', async () => {
      book.addAddrs(threadId, logId, [A, B], TEMP_ADDR_TTL)
      const stream = book.addrStream(threadId, logId)
      const changes = reader(stream)
      await changes.take(2)
      clock += TEMP_ADDR_TTL
      assert.equal(stream.pending, 0, 'expiry alone announces nothing')
      assert.equal(book.gc(), 2)
      assert.deepEqual((await changes.take(2)).sort(), [`removed ${A.toString()}`, `removed ${B.toString()}`].sort())
    })

    it('announces an expiry when it falls due, with no one calling gc', async () => {
      const realTime = createAddrBook(temp.storage)
      try {
        realTime.addAddr(threadId, logId, A, ADDRESS_TTL)
        realTime.addAddr(threadId, logId, B, 50)
        const changes = reader(realTime.addrStream(threadId, logId))
        assert.deepEqual((await changes.take(2)).sort(), [`added ${A.toString()}`, `added ${B.toString()}`].sort())
        assert.deepEqual(await changes.take(1), [`removed ${B.toString()}`])
        assert.deepEqual(strings(realTime.addrs(threadId, logId)), [A.toString()])
      } finally {
        realTime.close()
      }
    })

    it('sees only its own log', async () => {
      const otherLog = newLogId()
      const stream = book.addrStream(threadId, logId)
      book.addAddr(threadId, otherLog, A, ADDRESS_TTL)
      book.addAddr(ThreadId.create(), logId, A, ADDRESS_TTL)
      book.clearAddrs(threadId, otherLog)
      assert.equal(stream.pending, 0)
      book.addAddr(threadId, logId, B, ADDRESS_TTL)
      assert.deepEqual(await reader(stream).take(1), [`added ${B.toString()}`])
    })

    it('announces nothing for a write that was refused', () => {
      const stream = book.addrStream(threadId, logId)
      assert.throws(() => book.addAddrs(threadId, logId, [A, multiaddr(`/dns4/${'a'.repeat(600)}`)], ADDRESS_TTL), invalid)
      assert.equal(stream.pending, 0)
    })

    it('ends when its signal aborts, waking a waiting reader', async () => {
      const controller = new AbortController()
      const stream = book.addrStream(threadId, logId, { signal: controller.signal })
      const changes = reader(stream)
      const next = changes.next()
      controller.abort()
      assert.deepEqual(await next, { done: true, value: undefined })
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      assert.equal(stream.pending, 0, 'no longer subscribed')
      assert.equal((await changes.next()).done, true)
    })

    it('ends at once for an aborted signal', async () => {
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      const stream = book.addrStream(threadId, logId, { signal: AbortSignal.abort() })
      assert.equal(stream.pending, 0)
      assert.equal((await reader(stream).next()).done, true)
    })

    it('ends on close, and streams opened after it end at once', async () => {
      const stream = book.addrStream(threadId, logId)
      const next = reader(stream).next()
      book.close()
      assert.equal((await next).done, true)
      book.addAddr(threadId, logId, A, ADDRESS_TTL)
      assert.equal((await reader(book.addrStream(threadId, logId)).next()).done, true)
    })

    it('unsubscribes when the consumer breaks out', async () => {
      book.addAddrs(threadId, logId, [A, B], ADDRESS_TTL)
      const stream = book.addrStream(threadId, logId)
      for await (const change of stream) {
        assert.equal(change.type, 'added')
        break
      }
      book.addAddr(threadId, logId, C, ADDRESS_TTL)
      assert.equal(stream.pending, 0)
    })

    it('stays small for a consumer that never reads', () => {
      const stream = book.addrStream(threadId, logId)
      const addrs = [A, B, C]
      temp.storage.transactionSync(() => {
        for (let i = 0; i < 10_000; i++) {
          const addr = addrs[i % addrs.length]!
          if (i % 7 < 4) book.addAddr(threadId, logId, addr, ADDRESS_TTL)
          else book.setAddr(threadId, logId, addr, 0)
          assert.ok(stream.pending <= addrs.length)
        }
      })
      assert.ok(stream.pending <= addrs.length)
    })

    it('owes nothing for addresses that came and went before it looked', () => {
      const stream = book.addrStream(threadId, logId)
      temp.storage.transactionSync(() => {
        for (let i = 0; i < 2_000; i++) {
          const addr = multiaddr(`/ip4/10.0.${i >> 8}.${i & 255}/tcp/1`)
          book.addAddr(threadId, logId, addr, ADDRESS_TTL)
          book.setAddr(threadId, logId, addr, 0)
        }
      })
      assert.equal(stream.pending, 0)
    })

    it('leaves a slow consumer’s view equal to the book', async () => {
      const pool = Array.from({ length: 6 }, (_, i) => multiaddr(`/ip4/192.168.0.${i}/tcp/4001`))
      book.addAddrs(threadId, logId, pool.slice(0, 3), TEMP_ADDR_TTL)
      const stream = book.addrStream(threadId, logId)
      const changes = reader(stream)
      const view = new Set<string>()
      let seed = 0x2545f491
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31
        return seed % n
      }
      for (let round = 0; round < 200; round++) {
        const addr = pool[random(pool.length)]!
        const ttl = [TEMP_ADDR_TTL, ADDRESS_TTL, PERMANENT_ADDR_TTL][random(3)]!
        switch (random(6)) {
          case 0: book.addAddr(threadId, logId, addr, ttl); break
          case 1: book.setAddr(threadId, logId, addr, random(2) === 0 ? 0 : ttl); break
          case 2: book.updateAddrs(threadId, logId, ttl, random(2) === 0 ? 0 : ADDRESS_TTL); break
          case 3: if (random(4) === 0) book.clearAddrs(threadId, logId); break
          case 4: clock += random(3) * MINUTE; break
          case 5: book.gc(); break
        }
        // Read only some of what is owed, so the backlog builds up and coalesces between reads.
        for (const line of await changes.take(random(stream.pending + 1))) {
          const [type, text] = line.split(' ') as [string, string]
          if (type === 'added') view.add(text)
          else view.delete(text)
        }
      }
      book.gc()
      for (const line of await changes.take(stream.pending)) {
        const [type, text] = line.split(' ') as [string, string]
        if (type === 'added') view.add(text)
        else view.delete(text)
      }
      assert.deepEqual([...view].sort(), strings(book.addrs(threadId, logId)))
    })
  })
})
