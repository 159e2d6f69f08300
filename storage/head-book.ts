import { createHash } from 'node:crypto'
import { CID } from '../codecs/block.ts'
import { compareTimestamps, timestampFromWire, timestampToWire, type Timestamp } from '../codecs/hlc.ts'
import type { ThreadId } from '../codecs/thread-id.ts'
import type { Storage } from './storage.ts'

/** A log's head: its latest record and how many records the log holds (the head's counter, 1 for the first). */
export interface Head {
  readonly cid?: CID
  readonly counter: number
  /** The head record's clock value, where this peer wrote it (a replica cannot read it). */
  readonly time?: Timestamp
}

export const EMPTY_HEAD: Head = Object.freeze({ counter: 0 })

/** The edge of a thread with no heads; any other edge differs from it. */
export const EMPTY_EDGE = '0'.repeat(32)

interface StoredHead {
  cid: Uint8Array
  counter: number
  time?: [number, number]
}

/**
 * Head CID and counter per log. The edge of a thread is a short hash of its sorted `(logId, head)` pairs: two
 * peers with equal edges hold the same heads, so sync asks only for threads whose edges differ.
 */
export interface HeadBook {
  get (threadId: ThreadId, logId: string): Head
  /** Writes inside the caller's transaction, or as its own when there is none. */
  set (threadId: ThreadId, logId: string, head: Head): void
  clear (threadId: ThreadId, logId: string): void
  heads (threadId: ThreadId): Map<string, Head>
  edge (threadId: ThreadId): string
  /** The latest clock value of any head this peer wrote: where its clock resumes after a restart. */
  latestTime (): Timestamp | undefined
}

function fromStored (stored: StoredHead): Head {
  return {
    cid: CID.decode(stored.cid),
    counter: stored.counter,
    time: stored.time === undefined ? undefined : timestampFromWire(stored.time)
  }
}

export function createHeadBook (storage: Storage): HeadBook {
  const db = storage.valueDatabase<StoredHead>('heads')
  const book: HeadBook = {
    get (threadId, logId) {
      const stored = db.get([threadId.toString(), logId])
      return stored === undefined ? EMPTY_HEAD : fromStored(stored)
    },
    set (threadId, logId, head) {
      if (head.cid === undefined) {
        db.removeSync([threadId.toString(), logId])
        return
      }
      const stored: StoredHead = { cid: head.cid.bytes, counter: head.counter }
      if (head.time !== undefined) stored.time = timestampToWire(head.time)
      db.putSync([threadId.toString(), logId], stored)
    },
    clear (threadId, logId) {
      db.removeSync([threadId.toString(), logId])
    },
    heads (threadId) {
      const tid = threadId.toString()
      const heads = new Map<string, Head>()
      for (const { key, value } of db.getRange({ start: [tid], end: [tid, '\uffff'] })) {
        const logId = (key as [string, string])[1]
        heads.set(logId, fromStored(value))
      }
      return heads
    },
    edge (threadId) {
      const heads = [...book.heads(threadId)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      if (heads.length === 0) return EMPTY_EDGE
      const hash = createHash('sha256')
      for (const [logId, head] of heads) {
        hash.update(logId)
        hash.update(head.cid!.bytes)
      }
      return hash.digest('hex').slice(0, 32)
    },
    latestTime () {
      let latest: Timestamp | undefined
      for (const { value } of db.getRange()) {
        if (value.time === undefined) continue
        const time = timestampFromWire(value.time)
        if (latest === undefined || compareTimestamps(time, latest) > 0) latest = time
      }
      return latest
    }
  }
  return book
}
