import { Ed25519PrivateKey, Ed25519PublicKey } from '../codecs/ed25519.ts'
import { ThreadId } from '../codecs/thread-id.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import { ConflictingKeyError } from './errors.ts'
import type { Storage } from './storage.ts'

type StoredKey = Uint8Array

/**
 * Keys, and nothing else: per thread the service and read keys, per log its public key and (for our own logs)
 * its private key. Adding a key that is already there is a no-op; adding a different one is refused, because a
 * silently replaced key would make every record of the log unreadable or forgeable.
 */
export interface KeyBook {
  /** Writes inside the caller's transaction, or as its own when there is none. */
  addThreadKey (threadId: ThreadId, key: ThreadKey): void
  threadKey (threadId: ThreadId): ThreadKey | undefined
  serviceKey (threadId: ThreadId): Uint8Array | undefined
  readKey (threadId: ThreadId): Uint8Array | undefined
  addPublicKey (threadId: ThreadId, key: Ed25519PublicKey): void
  publicKey (threadId: ThreadId, logId: string): Ed25519PublicKey | undefined
  addPrivateKey (threadId: ThreadId, key: Ed25519PrivateKey): void
  privateKey (threadId: ThreadId, logId: string): Ed25519PrivateKey | undefined
  /** Threads this book holds a service key for. */
  threads (): ThreadId[]
  /** Logs of a thread this book holds a public key for. */
  logs (threadId: ThreadId): string[]
  /** Drops every key of a thread and its logs. */
  clearThread (threadId: ThreadId): void
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

export function createKeyBook (storage: Storage): KeyBook {
  const db = storage.valueDatabase<StoredKey>('keys')
  // Key layout: ['thread', tid, 'service' | 'read'] and ['log', tid, logId, 'public' | 'private'].
  const putOnce = (key: string[], value: Uint8Array, what: string): void => {
    const existing = db.get(key)
    if (existing === undefined) db.putSync(key, value)
    else if (!sameBytes(existing, value)) throw new ConflictingKeyError(`a different ${what} is already stored`)
  }
  const book: KeyBook = {
    addThreadKey (threadId, key) {
      const tid = threadId.toString()
      storage.transactionSync(() => {
        putOnce(['thread', tid, 'service'], key.service, `service key for thread ${tid}`)
        if (key.read !== undefined) putOnce(['thread', tid, 'read'], key.read, `read key for thread ${tid}`)
      })
    },
    threadKey (threadId) {
      const service = book.serviceKey(threadId)
      return service === undefined ? undefined : ThreadKey.of(service, book.readKey(threadId))
    },
    serviceKey (threadId) {
      return db.get(['thread', threadId.toString(), 'service'])
    },
    readKey (threadId) {
      return db.get(['thread', threadId.toString(), 'read'])
    },
    addPublicKey (threadId, key) {
      putOnce(['log', threadId.toString(), key.logId, 'public'], key.bytes, `public key for log ${key.logId}`)
    },
    publicKey (threadId, logId) {
      const bytes = db.get(['log', threadId.toString(), logId, 'public'])
      return bytes === undefined ? undefined : Ed25519PublicKey.fromBytes(bytes)
    },
    addPrivateKey (threadId, key) {
      storage.transactionSync(() => {
        book.addPublicKey(threadId, key.publicKey)
        putOnce(['log', threadId.toString(), key.publicKey.logId, 'private'], key.seed, `private key for log ${key.publicKey.logId}`)
      })
    },
    privateKey (threadId, logId) {
      const seed = db.get(['log', threadId.toString(), logId, 'private'])
      return seed === undefined ? undefined : Ed25519PrivateKey.fromSeed(seed)
    },
    threads () {
      const threads: ThreadId[] = []
      for (const key of db.getKeys({ start: ['thread'], end: ['thread', '\uffff'] })) {
        const [, tid, kind] = key as [string, string, string]
        if (kind === 'service') threads.push(ThreadId.fromString(tid))
      }
      return threads
    },
    logs (threadId) {
      const tid = threadId.toString()
      const logs: string[] = []
      for (const key of db.getKeys({ start: ['log', tid], end: ['log', tid, '\uffff'] })) {
        const [, , logId, kind] = key as [string, string, string, string]
        if (kind === 'public') logs.push(logId)
      }
      return logs
    },
    clearThread (threadId) {
      const tid = threadId.toString()
      storage.transactionSync(() => {
        for (const prefix of [['thread', tid], ['log', tid]]) {
          for (const key of db.getKeys({ start: prefix, end: [...prefix, '\uffff'] })) db.removeSync(key)
        }
      })
    }
  }
  return book
}
