import type { ThreadId } from '../codecs/thread-id.ts'
import type { Storage } from './storage.ts'

/**
 * Each thread's number in this peer's storage. The views and events of a thread are keyed by it rather than by the
 * thread ID: an ID is some sixty characters, and a key holding it in every view, index entry and event made LMDB
 * encode, compare and copy them on every write (measured: ~14 µs of a ~64 µs create).
 */
export interface ThreadNumbers {
  /** The thread's number, or 0 while it has none: no thread is given 0, so keys under it hold nothing. */
  of (threadId: ThreadId): number
  /** The thread's number, given inside the caller's write transaction when it has none yet. */
  assign (threadId: ThreadId): number
  /**
   * Forgets every number known so far. A number given in a transaction that then fails is given again to the next
   * thread that asks, so the caller of `assign` calls this whenever such a transaction fails.
   */
  invalidate (): void
  /** Gives up the thread's number, inside the caller's write transaction: a thread added again gets a new one. */
  drop (threadId: ThreadId): void
}

export function createThreadNumbers (storage: Storage): ThreadNumbers {
  const db = storage.valueDatabase<number>('thread-numbers')
  // Key layout: ['t', tid] → the thread's number; ['n'] → the last number given.
  const known = new Map<string, number>()

  const read = (tid: string): number | undefined => {
    let number = known.get(tid)
    if (number === undefined) {
      number = db.get(['t', tid])
      if (number !== undefined) known.set(tid, number)
    }
    return number
  }

  return {
    of: threadId => read(threadId.toString()) ?? 0,

    assign (threadId) {
      const tid = threadId.toString()
      const held = read(tid)
      if (held !== undefined) return held
      // The last number is read inside the same transaction that takes the next, so no two threads take one.
      const number = storage.transactionSync(() => {
        const next = (db.get(['n']) ?? 0) + 1
        db.putSync(['t', tid], next)
        db.putSync(['n'], next)
        return next
      })
      known.set(tid, number)
      return number
    },

    invalidate: () => { known.clear() },

    drop (threadId) {
      const tid = threadId.toString()
      db.removeSync(['t', tid])
      known.delete(tid)
    }
  }
}
