import { mkdir } from 'node:fs/promises'
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb'
import { readKey, writeKey } from 'ordered-binary'
import { StorageClosedError, TransactionClosedError } from './errors.ts'

/**
 * One LMDB environment per peer, in one directory. Each book opens its own named database inside it, so a
 * single LMDB transaction can span blocks, heads, keys and views: that is what makes an append, or a dispatch,
 * all-or-nothing across a crash.
 */

export interface StorageInit {
  /** Directory of the environment; created when missing. */
  path: string
  /** Upper bound of the memory map in bytes; LMDB grows the file up to it. */
  mapSize?: number
}

interface Asked<T> {
  action: () => T
  resolve: (result: T) => void
  reject: (error: unknown) => void
}

export type BinaryDatabase = Database<Uint8Array, Uint8Array>
export type ValueDatabase<V> = Database<V, StorageKey>
export type StorageKey = string | number | Array<string | number | boolean>

/**
 * Removes every key of `db` that begins with the parts of `prefix`, inside the caller's write transaction. The keys are
 * read first and removed after, so the removal never moves under the read.
 */
export function removeKeysUnder (db: ValueDatabase<unknown>, prefix: Array<string | number>): void {
  const held: StorageKey[] = []
  for (const key of db.getKeys({ start: prefix })) {
    const parts = key as unknown[]
    if (!prefix.every((part, i) => parts[i] === part)) break
    held.push(key)
  }
  for (const key of held) db.removeSync(key)
}

/** A committed state held still: reads run through it see that state, whatever commits after it. */
export interface PinnedState {
  /** Runs `read` (synchronous reads of any database here) against the pinned state. */
  read<T> (read: () => T): T
  /** Lets the state go; reads through it are refused from then on. */
  release (): void
}

export interface Storage {
  readonly path: string
  readonly closed: boolean
  /** A named database of raw bytes under raw-byte keys (blocks). */
  binaryDatabase (name: string): BinaryDatabase
  /** A named database of structured values (msgpack) under ordered keys (strings, numbers and tuples of them). */
  valueDatabase<V> (name: string): ValueDatabase<V>
  /**
   * Runs `action` as one atomic unit: it sees its own writes, and either all of them commit or, when it throws,
   * none do. Resolves with `action`'s result once the commit is on disk and visible to every reader. Transactions
   * commit in the order they were asked for; those asked for in one turn commit together (one flush for all).
   */
  transaction<T> (action: () => T): Promise<T>
  /**
   * The same, committed before it returns. Inside a running transaction it nests as a child: all-or-nothing
   * within it, committed with it. Books use it so each of their writes is atomic alone and composable.
   */
  transactionSync<T> (action: () => T): T
  /**
   * Holds the state committed now, for reads spread over many turns to see one state: LMDB keeps it (a read
   * transaction) until `release`, or until the storage closes.
   */
  pin (): PinnedState
  /** Resolves once every commit so far has been flushed to disk. */
  flushed (): Promise<void>
  close (): Promise<void>
}

const DEFAULT_MAP_SIZE = 8 * 1024 ** 3

/** Where each of lmdb's read methods takes its options, the read transaction among them. */
const READ_OPTIONS_AT: Readonly<Record<string, number>> = {
  get: 1,
  getBinary: 1,
  getEntry: 1,
  getValues: 1,
  getValuesCount: 1,
  doesExist: 2,
  getRange: 0,
  getKeys: 0,
  getCount: 0,
  getKeysCount: 0
}

export async function openStorage (init: StorageInit): Promise<Storage> {
  await mkdir(init.path, { recursive: true })
  const root: RootDatabase = open({ path: init.path, mapSize: init.mapSize ?? DEFAULT_MAP_SIZE, maxDbs: 64 })
  const databases = new Map<string, Database<any, any>>()
  let closed = false
  /** Transactions asked for in this turn, not yet handed to LMDB. */
  let asked: Array<Asked<any>> = []
  /** Transactions handed to LMDB's write thread and not yet on disk. */
  let writing = 0
  /** When the latest commit (or group of them) ended, and how long it took from being handed over. */
  let lastCommitEnded = 0
  let lastCommitTook = 0
  /** The pinned state reads run against while a `PinnedState.read` is under way. */
  let pinned: Transaction | undefined
  /**
   * Pinned states not yet released, one entry each: LMDB hands pins taken with no commit between them the same
   * read transaction, and counts its uses, so each pin lets go of it once. Closing releases what is left.
   */
  const pins = new Set<{ readonly transaction: Transaction }>()

  const closedError = (): StorageClosedError => new StorageClosedError(`storage at ${init.path} is closed`)
  const assertOpen = (): void => {
    if (closed) throw closedError()
  }

  /**
   * A database whose every call is refused once closing has begun. LMDB itself fails a read made while it closes
   * from a timer of its own, where nothing can catch it and the process dies; work still in flight when a peer
   * closes (a pull, a request being answered) gets a `StorageClosedError` instead. The guard is an object that
   * inherits everything from the database and shadows each of its methods once, at open: a Proxy's trap on every
   * property read cost more than many of the reads it guarded.
   */
  const guarded = <D extends Database<any, any>>(db: D): D => {
    const guard = Object.create(db) as Record<string, unknown>
    for (let proto: object | null = db; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        const method: unknown = Object.getOwnPropertyDescriptor(proto, name)?.value
        if (typeof method !== 'function' || name === 'constructor' || Object.hasOwn(guard, name)) continue
        const optionsAt = READ_OPTIONS_AT[name]
        guard[name] = (...args: unknown[]): unknown => {
          assertOpen()
          if (pinned !== undefined && optionsAt !== undefined) args[optionsAt] = { ...(args[optionsAt] as object | undefined), transaction: pinned }
          return (method as (...args: unknown[]) => unknown).apply(db, args)
        }
      }
    }
    return guard as D
  }

  const named = <D extends Database<any, any>>(name: string, options: Record<string, unknown>): D => {
    assertOpen()
    let db = databases.get(name)
    if (db === undefined) {
      db = guarded(root.openDB({ name, ...options }) as Database<any, any>)
      databases.set(name, db)
    }
    return db as unknown as D
  }

  /**
   * Hands this turn's transactions to LMDB. Its write thread commits those asked for together in one transaction,
   * each a child of its own, and so flushes once for all of them. A transaction asked for alone, with nothing else being
   * written and after a pause at least as long as the last commit took, commits here and now instead: handing it to the
   * write thread and back costs two thread wake-ups, about a third of a lone commit on an idle machine. One that comes
   * sooner is part of a stream of them, which the write thread commits in groups while this thread goes on with the
   * next. Either way it is on disk when its promise resolves.
   */
  const handOver = (): void => {
    const batch = asked
    asked = []
    if (closed) {
      for (const { reject } of batch) reject(closedError())
      return
    }
    const started = performance.now()
    const [alone] = batch
    if (batch.length === 1 && writing === 0 && started - lastCommitEnded >= lastCommitTook && alone !== undefined) {
      try {
        alone.resolve(root.transactionSync(alone.action))
      } catch (error) {
        alone.reject(error)
      }
      lastCommitEnded = performance.now()
      lastCommitTook = lastCommitEnded - started
      return
    }
    for (const { action, resolve, reject } of batch) {
      let committed: Promise<unknown>
      try {
        committed = root.childTransaction(action)
      } catch (error) {
        reject(error)
        continue
      }
      writing++
      committed.then(resolve, reject).finally(() => {
        if (--writing > 0) return
        lastCommitEnded = performance.now()
        lastCommitTook = lastCommitEnded - started
      })
    }
  }

  return {
    path: init.path,
    get closed () { return closed },
    binaryDatabase: name => named<BinaryDatabase>(name, { encoding: 'binary', keyEncoding: 'binary' }),
    // Without records: msgpackr's records pay off for many values of one shape packed together, but each value here
    // is packed alone and carried its own record definition, which cost more to write and read than plain maps.
    // Keys are lmdb's own ordered-binary bytes, but handed over as an encoder of ours: lmdb then leaves LMDB's
    // memcmp in place of the word-by-word comparator it installs for its default keys. Both put the same bytes in the
    // same order, so files written either way read the same. Keys here share long prefixes (thread, collection,
    // time-ordered IDs), and comparing them took about half of LMDB's time in a put: memcmp cut a put's cost by about 40 %.
    valueDatabase: <V>(name: string) => named<ValueDatabase<V>>(name, { encoding: 'msgpack', useRecords: false, keyEncoder: { writeKey, readKey } }),
    async transaction (action) {
      assertOpen()
      return await new Promise((resolve, reject) => {
        asked.push({ action, resolve, reject })
        if (asked.length === 1) queueMicrotask(handOver)
      })
    },
    transactionSync (action) {
      assertOpen()
      return root.transactionSync(action)
    },
    pin () {
      assertOpen()
      const pin = { transaction: root.useReadTransaction() }
      pins.add(pin)
      return {
        read (read) {
          assertOpen()
          if (!pins.has(pin)) throw new TransactionClosedError('this pinned state was released')
          const outer = pinned
          pinned = pin.transaction
          try {
            return read()
          } finally {
            pinned = outer
          }
        },
        release () {
          if (pins.delete(pin)) pin.transaction.done()
        }
      }
    },
    async flushed () {
      // Transactions asked for in this turn are handed over first, so "every commit so far" includes them.
      await new Promise<void>(resolve => { queueMicrotask(resolve) })
      await root.flushed
    },
    async close () {
      if (closed) return
      // What was asked for before closing began is handed over as if the turn had ended first.
      if (asked.length > 0) handOver()
      closed = true
      for (const pin of pins) pin.transaction.done()
      pins.clear()
      await root.close()
    }
  }
}
