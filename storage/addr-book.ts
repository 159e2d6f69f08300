import { multiaddr, type Multiaddr } from '../codecs/address.ts'
import { fitsKey } from '../codecs/event-codec.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { InvalidArgumentError } from './errors.ts'
import type { Storage } from './storage.ts'

/** TTLs in milliseconds, after libp2p's peerstore. */
export const TEMP_ADDR_TTL = 2 * 60_000
export const RECENTLY_CONNECTED_ADDR_TTL = 15 * 60_000
export const ADDRESS_TTL = 60 * 60_000
/** Never expires. msgpack holds Infinity exactly, so it is stored as it is. */
export const PERMANENT_ADDR_TTL = Infinity
/**
 * Never expires either, but is its own TTL class: addresses held while connected can be moved to
 * `RECENTLY_CONNECTED_ADDR_TTL` on disconnect with `updateAddrs` without touching permanent ones.
 */
export const CONNECTED_ADDR_TTL = Number.MAX_VALUE

/**
 * A multiaddr string longer than this is refused: the key `[threadId, logId, addr]` must stay under LMDB's
 * 1978-byte key limit even when ordered-binary escapes every byte.
 */
const MAX_ADDR_BYTES = 512
/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1

export type AddrChangeType = 'added' | 'removed'

export interface AddrChange {
  readonly type: AddrChangeType
  readonly addr: Multiaddr
}

export interface AddrStreamOptions {
  signal?: AbortSignal
}

/** Single use: iterate it once. */
export interface AddrStream extends AsyncIterable<AddrChange> {
  /** Changes waiting for the consumer: at most one per address. */
  readonly pending: number
}

export interface AddrBookInit {
  /** Milliseconds since the epoch; tests pass a fake one to expire addresses without waiting. */
  now?: () => number
}

/**
 * Addresses of each log, each with a TTL. An address expires `ttl` ms after it was last set; an expired one is
 * never returned, and is deleted when it is next written, when `updateAddrs` or `addrStream` goes through its
 * log, or by `gc`. The TTL itself is kept next to the expiry as the address's class, so `updateAddrs` can move
 * every address of one class to another.
 */
export interface AddrBook {
  /** Adds, or extends: an address already held keeps the later expiry and the larger TTL. A TTL of 0 adds nothing. */
  addAddr (threadId: ThreadId, logId: string, addr: Multiaddr, ttlMs: number): void
  addAddrs (threadId: ThreadId, logId: string, addrs: readonly Multiaddr[], ttlMs: number): void
  /** Sets the TTL exactly, shortening it if need be; a TTL of 0 removes the address. */
  setAddr (threadId: ThreadId, logId: string, addr: Multiaddr, ttlMs: number): void
  setAddrs (threadId: ThreadId, logId: string, addrs: readonly Multiaddr[], ttlMs: number): void
  /** Gives every address of the log whose TTL is `oldTtlMs` the TTL `newTtlMs`, counted from now; 0 removes them. */
  updateAddrs (threadId: ThreadId, logId: string, oldTtlMs: number, newTtlMs: number): void
  /** The log's unexpired addresses. */
  addrs (threadId: ThreadId, logId: string): Multiaddr[]
  clearAddrs (threadId: ThreadId, logId: string): void
  /** Removes every address of every log of the thread, expired ones too. */
  clearThread (threadId: ThreadId): void
  /** Logs of the thread with at least one unexpired address. */
  logsWithAddrs (threadId: ThreadId): string[]
  /**
   * The log's addresses as they change: first one `added` per address held now, then every address added or
   * removed. A consumer that falls behind is owed, per address, only the difference between what it was last
   * told and what holds now, so the backlog never outgrows the addresses it has seen plus those held. Changes
   * are announced when the write returns, which inside a caller's transaction is before that commits. While any
   * stream is open the book deletes addresses as they fall due, so an expiry is announced when it happens.
   * Ends when `signal` aborts or the book closes.
   */
  addrStream (threadId: ThreadId, logId: string, options?: AddrStreamOptions): AddrStream
  /** Deletes every expired address; returns how many. */
  gc (): number
  /** Ends every stream; later streams end at once. Storage stays open: the book does not own it. */
  close (): void
}

interface StoredAddr {
  ttl: number
  expires: number
}

type AddrKey = [string, string, string]

interface Change {
  logKey: string
  addr: string
  type: AddrChangeType
}

interface Subscriber {
  readonly pending: Map<string, AddrChangeType>
  wake (): void
  end (): void
}

function assertTtl (ttlMs: number, what: string): void {
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs) || ttlMs < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative number of milliseconds, got ${String(ttlMs)}`)
  }
}

/**
 * Whether the book can hold `addr`: its text is its key, so at most 512 bytes, and one lmdb's key encoding keeps as
 * written. Addresses from other peers are checked with this before they are added, and left out when they fail it.
 */
export function isStorableAddr (addr: Multiaddr): boolean {
  return fitsKey(addr.toString(), MAX_ADDR_BYTES)
}

function addrString (addr: Multiaddr): string {
  const text = addr.toString()
  if (!isStorableAddr(addr)) throw new InvalidArgumentError(`an address book holds addresses of at most ${MAX_ADDR_BYTES} bytes that a key keeps as written, not ${JSON.stringify(text.slice(0, 80))}…`)
  return text
}

// Thread IDs are multibase strings without spaces, so this never joins two pairs into the same key.
const toLogKey = (tid: string, logId: string): string => `${tid} ${logId}`

export function createAddrBook (storage: Storage, init: AddrBookInit = {}): AddrBook {
  const db = storage.valueDatabase<StoredAddr>('addrs')
  const now = init.now ?? Date.now
  const subscribers = new Map<string, Set<Subscriber>>()
  let closed = false
  // The earliest expiry written or seen since the last gc: while streams are open, a timer runs gc then.
  let nextExpiry = Number.POSITIVE_INFINITY
  let expiryTimer: NodeJS.Timeout | undefined

  const armExpiry = (): void => {
    clearTimeout(expiryTimer)
    expiryTimer = undefined
    if (closed || subscribers.size === 0 || nextExpiry === Number.POSITIVE_INFINITY) return
    expiryTimer = setTimeout(() => {
      expiryTimer = undefined
      if (!closed && !storage.closed) book.gc()
    }, Math.min(Math.max(nextExpiry - now(), 0), MAX_TIMER_MS))
    expiryTimer.unref()
  }

  // Key layout: [tid, logId, addr]. Ranges stop at the first key outside the prefix rather than at an upper
  // bound such as '\uffff', which sorts below strings that start with an astral character.
  function * logEntries (tid: string, logId: string): Generator<[string, StoredAddr]> {
    for (const { key, value } of db.getRange({ start: [tid, logId] })) {
      const [keyTid, keyLog, addr] = key as AddrKey
      if (keyTid !== tid || keyLog !== logId) return
      yield [addr, value]
    }
  }

  const remove = (tid: string, logId: string, addr: string, changes: Change[]): void => {
    db.removeSync([tid, logId, addr])
    changes.push({ logKey: toLogKey(tid, logId), addr, type: 'removed' })
  }

  /** Deletes the log's expired addresses and returns the rest. Runs inside a write transaction. */
  const liveEntries = (tid: string, logId: string, at: number, changes: Change[]): Map<string, StoredAddr> => {
    const live = new Map<string, StoredAddr>()
    const expired: string[] = []
    for (const [addr, stored] of logEntries(tid, logId)) {
      if (stored.expires <= at) expired.push(addr)
      else live.set(addr, stored)
    }
    for (const addr of expired) remove(tid, logId, addr, changes)
    return live
  }

  /**
   * Writes one address whose stored entry, if any, was `held`. Changes are announced as the stored entries
   * appear and disappear, expired or not, which is what keeps a stream's coalescing exact: an address expiring
   * then added again is one entry throughout, and a stream that saw it added owes nothing.
   */
  const writeAddr = (tid: string, logId: string, addr: string, held: StoredAddr | undefined, next: StoredAddr | undefined, changes: Change[]): void => {
    if (next === held) return
    if (next !== undefined) {
      db.putSync([tid, logId, addr], next)
      nextExpiry = Math.min(nextExpiry, next.expires)
      if (held === undefined) changes.push({ logKey: toLogKey(tid, logId), addr, type: 'added' })
    } else if (held !== undefined) {
      remove(tid, logId, addr, changes)
    }
  }

  const announce = (changes: readonly Change[]): void => {
    for (const { logKey, addr, type } of changes) {
      for (const subscriber of subscribers.get(logKey) ?? []) {
        const owed = subscriber.pending.get(addr)
        // Every change flips the address's state, so a second flip before the consumer looked brings it back
        // to what the consumer last saw: nothing is owed any more.
        if (owed === undefined) subscriber.pending.set(addr, type)
        else if (owed !== type) subscriber.pending.delete(addr)
        subscriber.wake()
      }
    }
  }

  /** Runs `action` as one transaction and announces its changes once it has returned. */
  const write = (action: (changes: Change[]) => void): void => {
    const changes: Change[] = []
    storage.transactionSync(() => action(changes))
    announce(changes)
    if (subscribers.size > 0) armExpiry()
  }

  /**
   * Writes each address in turn as `decide` says from its entry (undefined when absent or expired); undefined
   * from `decide` deletes. Only the addresses named are read, so a write costs nothing per address already held.
   */
  const writeEach = (threadId: ThreadId, logId: string, addrs: readonly Multiaddr[], decide: (live: StoredAddr | undefined, at: number) => StoredAddr | undefined): void => {
    const texts = addrs.map(addrString)
    const tid = threadId.toString()
    write(changes => {
      const at = now()
      for (const addr of texts) {
        const held = db.get([tid, logId, addr])
        const live = held !== undefined && held.expires > at ? held : undefined
        writeAddr(tid, logId, addr, held, decide(live, at), changes)
      }
    })
  }

  /** A stream that owes `seed` first, or an ended one when there is no seed. */
  const subscribe = (logKey: string, seed: readonly string[] | undefined, signal: AbortSignal | undefined): AddrStream => {
    const pending = new Map<string, AddrChangeType>()
    let changed: PromiseWithResolvers<void> | undefined
    let ended = false
    const subscriber: Subscriber = {
      pending,
      wake () {
        changed?.resolve()
        changed = undefined
      },
      end () {
        if (ended) return
        ended = true
        pending.clear()
        const set = subscribers.get(logKey)
        set?.delete(subscriber)
        if (set?.size === 0) subscribers.delete(logKey)
        signal?.removeEventListener('abort', subscriber.end)
        subscriber.wake()
        armExpiry()
      }
    }
    if (seed === undefined) {
      ended = true
    } else {
      for (const addr of seed) pending.set(addr, 'added')
      let set = subscribers.get(logKey)
      if (set === undefined) subscribers.set(logKey, set = new Set())
      set.add(subscriber)
      signal?.addEventListener('abort', subscriber.end, { once: true })
    }
    const iterator: AsyncIterator<AddrChange, undefined> = {
      async next () {
        for (;;) {
          if (ended) return { done: true, value: undefined }
          const first = pending.entries().next()
          if (first.done !== true) {
            const [addr, type] = first.value
            pending.delete(addr)
            return { done: false, value: { type, addr: multiaddr(addr) } }
          }
          changed ??= Promise.withResolvers<void>()
          await changed.promise
        }
      },
      async return () {
        subscriber.end()
        return { done: true, value: undefined }
      }
    }
    return {
      get pending () { return pending.size },
      [Symbol.asyncIterator]: () => iterator
    }
  }

  const book: AddrBook = {
    addAddr (threadId, logId, addr, ttlMs) {
      book.addAddrs(threadId, logId, [addr], ttlMs)
    },
    addAddrs (threadId, logId, addrs, ttlMs) {
      assertTtl(ttlMs, 'TTL')
      writeEach(threadId, logId, addrs, (live, at) => {
        const expires = at + ttlMs
        if (live === undefined) return ttlMs > 0 ? { ttl: ttlMs, expires } : undefined
        if (ttlMs <= live.ttl && expires <= live.expires) return live
        return { ttl: Math.max(ttlMs, live.ttl), expires: Math.max(expires, live.expires) }
      })
    },
    setAddr (threadId, logId, addr, ttlMs) {
      book.setAddrs(threadId, logId, [addr], ttlMs)
    },
    setAddrs (threadId, logId, addrs, ttlMs) {
      assertTtl(ttlMs, 'TTL')
      writeEach(threadId, logId, addrs, (_live, at) => (ttlMs > 0 ? { ttl: ttlMs, expires: at + ttlMs } : undefined))
    },
    updateAddrs (threadId, logId, oldTtlMs, newTtlMs) {
      assertTtl(oldTtlMs, 'old TTL')
      assertTtl(newTtlMs, 'new TTL')
      const tid = threadId.toString()
      write(changes => {
        const at = now()
        for (const [addr, held] of liveEntries(tid, logId, at, changes)) {
          if (held.ttl !== oldTtlMs) continue
          writeAddr(tid, logId, addr, held, newTtlMs > 0 ? { ttl: newTtlMs, expires: at + newTtlMs } : undefined, changes)
        }
      })
    },
    addrs (threadId, logId) {
      const at = now()
      const addrs: Multiaddr[] = []
      for (const [addr, stored] of logEntries(threadId.toString(), logId)) {
        if (stored.expires > at) addrs.push(multiaddr(addr))
      }
      return addrs
    },
    clearAddrs (threadId, logId) {
      const tid = threadId.toString()
      write(changes => {
        for (const addr of [...logEntries(tid, logId)].map(([addr]) => addr)) remove(tid, logId, addr, changes)
      })
    },
    clearThread (threadId) {
      const tid = threadId.toString()
      write(changes => {
        const held: AddrKey[] = []
        for (const key of db.getKeys({ start: [tid] })) {
          const parts = key as AddrKey
          if (parts[0] !== tid) break
          held.push(parts)
        }
        for (const [, logId, addr] of held) remove(tid, logId, addr, changes)
      })
    },
    logsWithAddrs (threadId) {
      const tid = threadId.toString()
      const at = now()
      const logs: string[] = []
      for (const { key, value } of db.getRange({ start: [tid] })) {
        const [keyTid, logId] = key as AddrKey
        if (keyTid !== tid) break
        if (value.expires > at && logs.at(-1) !== logId) logs.push(logId)
      }
      return logs
    },
    addrStream (threadId, logId, { signal } = {}) {
      const tid = threadId.toString()
      let seed: string[] | undefined
      if (!closed && signal?.aborted !== true) {
        // Expired addresses are deleted first, so the stream never opens with an `added` for one.
        write(changes => {
          const live = liveEntries(tid, logId, now(), changes)
          for (const stored of live.values()) nextExpiry = Math.min(nextExpiry, stored.expires)
          seed = [...live.keys()]
        })
      }
      const stream = subscribe(toLogKey(tid, logId), seed, signal)
      armExpiry()
      return stream
    },
    gc () {
      let removed = 0
      write(changes => {
        const at = now()
        const expired: AddrKey[] = []
        nextExpiry = Number.POSITIVE_INFINITY
        for (const { key, value } of db.getRange({})) {
          if (value.expires <= at) expired.push(key as AddrKey)
          else nextExpiry = Math.min(nextExpiry, value.expires)
        }
        for (const [tid, logId, addr] of expired) remove(tid, logId, addr, changes)
        removed = expired.length
      })
      return removed
    },
    close () {
      closed = true
      clearTimeout(expiryTimer)
      for (const set of [...subscribers.values()]) for (const subscriber of [...set]) subscriber.end()
    }
  }
  return book
}
