import { InvalidClockError } from './errors.ts'

/**
 * Hybrid logical clock (Kulkarni et al.): wall-clock milliseconds plus a counter that orders events within one
 * millisecond and carries causality across peers whose clocks disagree. Events across logs are totally ordered
 * by `(wall, counter, logId)`; every peer that sees the same events sorts them the same way.
 */

export interface Timestamp {
  /** Milliseconds since the Unix epoch, as the clock saw them (never behind an earlier timestamp). */
  readonly wall: number
  /** Orders timestamps that share a `wall`. */
  readonly counter: number
}

/** A timestamp placed on a log: the log ID breaks ties between two logs' equal timestamps. */
export interface EventTime extends Timestamp {
  readonly logId: string
}

export const MAX_WALL = 2 ** 48 - 1
export const MAX_COUNTER = 2 ** 32 - 1
/** Remote clocks further ahead than this are not adopted, so one bad clock cannot drag everyone into the future. */
export const DEFAULT_MAX_DRIFT_MS = 24 * 60 * 60 * 1000

export const ZERO_TIMESTAMP: Timestamp = Object.freeze({ wall: 0, counter: 0 })

export function compareTimestamps (a: Timestamp, b: Timestamp): number {
  return a.wall - b.wall || a.counter - b.counter
}

export function compareEventTimes (a: EventTime, b: EventTime): number {
  return compareTimestamps(a, b) || (a.logId < b.logId ? -1 : a.logId > b.logId ? 1 : 0)
}

/** Checks a decoded `[wall, counter]` pair and returns it as a timestamp. */
export function timestampFromWire (value: unknown): Timestamp {
  if (!Array.isArray(value) || value.length !== 2) throw new InvalidClockError('a clock value is a [wall, counter] pair')
  const [wall, counter] = value as unknown[]
  if (!Number.isSafeInteger(wall) || (wall as number) < 0 || (wall as number) > MAX_WALL) throw new InvalidClockError(`clock wall time out of range: ${String(wall)}`)
  if (!Number.isSafeInteger(counter) || (counter as number) < 0 || (counter as number) > MAX_COUNTER) throw new InvalidClockError(`clock counter out of range: ${String(counter)}`)
  return { wall: wall as number, counter: counter as number }
}

export function timestampToWire (time: Timestamp): [number, number] {
  return [time.wall, time.counter]
}

export interface HybridClockInit {
  /** The latest timestamp issued before a restart, so the clock never runs backwards across one. */
  last?: Timestamp
  /** Wall-clock source; `Date.now` unless a test fixes time. */
  now?: () => number
  maxDriftMs?: number
}

export class HybridClock {
  #last: Timestamp
  readonly #now: () => number
  readonly #maxDriftMs: number

  constructor (init: HybridClockInit = {}) {
    this.#last = init.last ?? ZERO_TIMESTAMP
    this.#now = init.now ?? Date.now
    this.#maxDriftMs = init.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS
  }

  get last (): Timestamp {
    return this.#last
  }

  /** A timestamp for a new local event, strictly after every timestamp this clock has issued or observed. */
  tick (): Timestamp {
    const physical = this.#now()
    const last = this.#last
    this.#last = physical > last.wall
      ? { wall: physical, counter: 0 }
      : bump(last.wall, last.counter)
    return this.#last
  }

  /**
   * Folds in a timestamp seen on a remote event, so our next tick comes after it. Returns false (and changes
   * nothing) when the remote clock is further ahead of ours than the allowed drift.
   */
  observe (remote: Timestamp): boolean {
    const physical = this.#now()
    if (remote.wall > physical + this.#maxDriftMs) return false
    const last = this.#last
    const wall = Math.max(last.wall, remote.wall, physical)
    if (wall === last.wall && wall === remote.wall) this.#last = bump(wall, Math.max(last.counter, remote.counter))
    else if (wall === last.wall) this.#last = bump(wall, last.counter)
    else if (wall === remote.wall) this.#last = bump(wall, remote.counter)
    else this.#last = { wall, counter: 0 }
    return true
  }
}

function bump (wall: number, counter: number): Timestamp {
  if (counter < MAX_COUNTER) return { wall, counter: counter + 1 }
  // A full counter moves time forward by a millisecond rather than wrap and break the order.
  return { wall: wall + 1, counter: 0 }
}
