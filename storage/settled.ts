import type { Storage } from './storage.ts'

/** What became of one piece of work: its result, or the error it failed with. */
export type Settled<T> = { readonly ok: true, readonly result: T } | { readonly ok: false, readonly error: unknown }

/** A promise that never rejects: a piece of work left unawaited for a while (a check, a prefetch) cannot crash. */
export async function settle<T> (work: Promise<T>): Promise<Settled<T>> {
  return await work.then(result => ({ ok: true, result }), (error: unknown) => ({ ok: false, error }))
}

/**
 * Inside the caller's transaction, runs `action` on each item in a child transaction of its own, in order: an item
 * that throws takes back its own writes and no other's. Returns what became of each.
 */
export function settleEach<I, T> (storage: Storage, items: readonly I[], action: (item: I) => T): Array<Settled<T>> {
  return items.map(item => {
    try {
      return { ok: true, result: storage.transactionSync(() => action(item)) }
    } catch (error) {
      return { ok: false, error }
    }
  })
}
