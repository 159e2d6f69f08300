import { fitsKey } from '../codecs/event-codec.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import { InvalidArgumentError } from './errors.ts'
import type { Storage } from './storage.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Objects and arrays must be plain JSON (finite numbers, no `undefined`, no class instances) so they read back as written. */
export type MetadataValue = string | number | boolean | Uint8Array | JsonValue[] | { [key: string]: JsonValue }

/** Keeps the key `[threadId, name]` under LMDB's 1978-byte key limit even when ordered-binary escapes every byte. */
const MAX_NAME_BYTES = 512

/** Named values per thread: the thread's name, its schema version, application settings. */
export interface MetadataBook {
  put (threadId: ThreadId, name: string, value: MetadataValue): void
  get (threadId: ThreadId, name: string): MetadataValue | undefined
  delete (threadId: ThreadId, name: string): void
  /** Every value of the thread, by name in key order. */
  entries (threadId: ThreadId): Map<string, MetadataValue>
  clearThread (threadId: ThreadId): void
}

function assertName (name: string): void {
  if (!fitsKey(name, MAX_NAME_BYTES)) throw new InvalidArgumentError(`a metadata name is a non-empty string of at most ${MAX_NAME_BYTES} bytes that a key keeps as written`)
}

// msgpack would keep what JSON cannot (undefined, Dates, Maps, NaN) and rename an own `__proto__` key, so a
// value is checked up front rather than read back different from what was written.
function assertJson (value: unknown, path: string, ancestors: Set<object>): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`${path} is ${value}, which JSON cannot hold`)
    return
  }
  if (typeof value !== 'object') throw new InvalidArgumentError(`${path} is ${typeof value}, which JSON cannot hold`)
  if (ancestors.has(value)) throw new InvalidArgumentError(`${path} refers back to an enclosing value`)
  ancestors.add(value)
  const prototype: unknown = Object.getPrototypeOf(value)
  if (prototype === Array.prototype) {
    const array = value as unknown[]
    for (let i = 0; i < array.length; i++) {
      if (!(i in array)) throw new InvalidArgumentError(`${path}[${i}] is a hole in the array`)
      assertJson(array[i], `${path}[${i}]`, ancestors)
    }
  } else if (prototype === Object.prototype || prototype === null) {
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'symbol') throw new InvalidArgumentError(`${path} has a symbol key`)
      if (key === '__proto__') throw new InvalidArgumentError(`${path} has an own __proto__ key`)
      assertJson((value as Record<string, unknown>)[key], `${path}.${key}`, ancestors)
    }
  } else {
    throw new InvalidArgumentError(`${path} is a ${value.constructor?.name ?? 'class instance'}, not a plain object or array`)
  }
  ancestors.delete(value)
}

function assertValue (value: MetadataValue): void {
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number' || value instanceof Uint8Array) return
  if (value === null || typeof value !== 'object') throw new InvalidArgumentError(`a metadata value cannot be ${String(value)}`)
  assertJson(value, 'value', new Set())
}

// lmdb hands bytes back as Buffers; callers get the plain Uint8Array they stored.
function fromStored (value: MetadataValue): MetadataValue {
  return value instanceof Uint8Array ? new Uint8Array(value) : value
}

export function createMetadataBook (storage: Storage): MetadataBook {
  const db = storage.valueDatabase<MetadataValue>('metadata')
  // Key layout: [tid, name]. Ranges stop at the first key of another thread rather than at an upper bound such
  // as '\uffff', which sorts below names that start with an astral character.
  function * threadKeys (tid: string): Generator<{ name: string, value: MetadataValue }> {
    for (const { key, value } of db.getRange({ start: [tid] })) {
      const [keyTid, name] = key as [string, string]
      if (keyTid !== tid) return
      yield { name, value }
    }
  }
  return {
    put (threadId, name, value) {
      assertName(name)
      assertValue(value)
      db.putSync([threadId.toString(), name], value)
    },
    get (threadId, name) {
      assertName(name)
      const value = db.get([threadId.toString(), name])
      return value === undefined ? undefined : fromStored(value)
    },
    delete (threadId, name) {
      assertName(name)
      db.removeSync([threadId.toString(), name])
    },
    entries (threadId) {
      const entries = new Map<string, MetadataValue>()
      for (const { name, value } of threadKeys(threadId.toString())) entries.set(name, fromStored(value))
      return entries
    },
    clearThread (threadId) {
      const tid = threadId.toString()
      storage.transactionSync(() => {
        for (const name of [...threadKeys(tid)].map(entry => entry.name)) db.removeSync([tid, name])
      })
    }
  }
}
