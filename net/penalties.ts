/**
 * Peers that misbehave past a threshold are disconnected for a while. Every refusal of the server counts against
 * the peer it refused, except those an honest peer causes too (a record it pushed while we pulled it); a peer
 * with `threshold` of them within `windowMs` is hung up on, and its connections are refused until `banMs` has
 * passed. Counting restarts when the ban ends.
 */

export interface MisbehaviourLimits {
  /** Refusals within `windowMs` that get a peer disconnected. */
  threshold: number
  windowMs: number
  /** How long a disconnected peer stays refused. */
  banMs: number
}

export const DEFAULT_MISBEHAVIOUR_LIMITS: Readonly<MisbehaviourLimits> = Object.freeze({
  threshold: 100,
  windowMs: 60_000,
  banMs: 5 * 60_000
})

/**
 * Refusals honest peers cause in the normal course of things, never held against anyone: replays (pushes and pulls
 * cross), requests cut off (a connection lost mid-request looks like a stalled stream, and a stalled one costs
 * only a stream slot until it times out), and our own faults.
 */
const HONEST_REFUSALS = new Set(['ERR_RECORD_REPLAYED', 'ERR_REQUEST_FAILED', 'ERR_INTERNAL'])

export interface PenaltiesInit {
  limits?: MisbehaviourLimits
  /** Closes every connection to the peer. */
  hangUp: (peer: string) => Promise<void>
  now?: () => number
}

export interface Penalties {
  /** Counts one refusal against `peer`; disconnects it when that takes it past the threshold. */
  refused (peer: string, code: string): void
  /** True while `peer` is disconnected and refused. */
  isBanned (peer: string): boolean
  /** The peers disconnected now, each with the time (ms since the epoch) it will be let back. */
  readonly banned: ReadonlyMap<string, number>
}

export function createPenalties (init: PenaltiesInit): Penalties {
  const limits = init.limits ?? DEFAULT_MISBEHAVIOUR_LIMITS
  const now = init.now ?? Date.now
  const offences = new Map<string, number[]>()
  const banned = new Map<string, number>()

  const isBanned = (peer: string): boolean => {
    const until = banned.get(peer)
    if (until === undefined) return false
    if (until > now()) return true
    banned.delete(peer)
    return false
  }

  return {
    banned,
    isBanned,
    refused (peer, code) {
      if (HONEST_REFUSALS.has(code) || isBanned(peer)) return
      const at = now()
      const recent = (offences.get(peer) ?? []).filter(time => time > at - limits.windowMs)
      recent.push(at)
      if (recent.length < limits.threshold) {
        offences.set(peer, recent)
        return
      }
      offences.delete(peer)
      banned.set(peer, at + limits.banMs)
      // A peer already gone needs no hanging up; nothing is left to do if it fails.
      init.hangUp(peer).catch(() => {})
    }
  }
}
