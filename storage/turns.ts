/**
 * Turns per key, taken in call order: a taker's turn comes once the taker before it under the same key is done.
 * Work that may finish out of order (signatures checked on the thread pool) is handed on in the order it came.
 */
export interface Turns {
  take (key: string): Turn
}

export interface Turn {
  /** Resolves when the turn before this one is done. */
  readonly ready: Promise<void>
  /** Ends this turn; call it exactly once, whatever happened. */
  done (): void
}

export function createTurns (): Turns {
  const last = new Map<string, Promise<void>>()
  return {
    take (key) {
      const ready = last.get(key) ?? Promise.resolve()
      let finish!: () => void
      const finished = new Promise<void>(resolve => { finish = resolve })
      last.set(key, finished)
      return {
        ready,
        done () {
          finish()
          if (last.get(key) === finished) last.delete(key)
        }
      }
    }
  }
}
