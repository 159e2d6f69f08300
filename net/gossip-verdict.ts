import { TopicValidatorResult } from '@libp2p/gossipsub'
import { InvalidClockError, ThreadsError } from '../codecs/errors.ts'
import { ForkedLogError, MissingAncestorError, ReplayedRecordError, StorageClosedError } from '../storage/errors.ts'
import type { Settled } from '../storage/settled.ts'

/**
 * Refusals of a gossiped record that turn on what this peer holds or on its clock rather than on the record: a peer
 * that took the record first and passed it on may be honest.
 */
const REFUSED_FOR_WHAT_IT_HOLDS = new Set<string>([ForkedLogError.code, InvalidClockError.code, StorageClosedError.code])

export interface GossipVerdict {
  /** What gossipsub does with the message: pass it on, drop it, or drop it and mark down the peer it came from. */
  readonly acceptance: TopicValidatorResult
  /** The refusal to hold against the peer the message came from, if any. */
  readonly refusal?: string
  /** Records came ahead of their ancestors, which are to be fetched. */
  readonly ancestorsMissing: boolean
}

/**
 * Judges a gossip message by what became of each of its records. A record refused for what it is (its sizes,
 * hashes, seal, links or signature) refuses the whole message, which is held against the peer it came from. The
 * message is passed on only when every record in it was taken or held already and at least one is news, and only
 * by a peer that reads records whole: one holding the service key alone cannot open a body, which its readers may
 * refuse. So whatever reaches a peer through another, that one took, read and found new.
 */
export function judgeGossip (outcomes: ReadonlyArray<Settled<unknown>>, readsContent: boolean): GossipVerdict {
  let taken = 0
  let ancestorsMissing = false
  let heldBack = false
  let refusal: string | undefined
  for (const outcome of outcomes) {
    if (outcome.ok) {
      taken++
      continue
    }
    const { error } = outcome
    if (error instanceof ReplayedRecordError) continue
    if (error instanceof MissingAncestorError) {
      ancestorsMissing = true
      continue
    }
    const code = error instanceof ThreadsError ? error.code : 'ERR_INTERNAL'
    if (code === 'ERR_INTERNAL' || REFUSED_FOR_WHAT_IT_HOLDS.has(code)) heldBack = true
    else refusal ??= code
  }
  if (refusal !== undefined) return { acceptance: TopicValidatorResult.Reject, refusal, ancestorsMissing }
  const passOn = readsContent && taken > 0 && !ancestorsMissing && !heldBack
  return { acceptance: passOn ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore, ancestorsMissing }
}
