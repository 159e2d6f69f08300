import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { DecryptionError, InvalidClockError, InvalidSignatureError } from '../../codecs/errors.ts'
import { judgeGossip } from '../../net/gossip-verdict.ts'
import { ForkedLogError, MissingAncestorError, ReplayedRecordError, StorageClosedError } from '../../storage/errors.ts'
import type { Settled } from '../../storage/settled.ts'

const taken: Settled<unknown> = { ok: true, result: 'committed' }
const refused = (error: unknown): Settled<unknown> => ({ ok: false, error })
const replayed = refused(new ReplayedRecordError('held already'))
const ahead = refused(new MissingAncestorError('prev not held', 'bafy-prev'))

describe('judging a gossip message', () => {
  it('passes a message on only when every record was taken or held and one at least is news', () => {
    assert.deepEqual(judgeGossip([taken, taken], true), { acceptance: TopicValidatorResult.Accept, ancestorsMissing: false })
    assert.deepEqual(judgeGossip([replayed, taken], true), { acceptance: TopicValidatorResult.Accept, ancestorsMissing: false })
    assert.deepEqual(judgeGossip([replayed, replayed], true), { acceptance: TopicValidatorResult.Ignore, ancestorsMissing: false }, 'nothing new: not passed on, not held against anyone')
  })

  it('does not pass on what a peer without the read key could not check whole', () => {
    assert.deepEqual(judgeGossip([taken], false), { acceptance: TopicValidatorResult.Ignore, ancestorsMissing: false })
  })

  it('asks for missing ancestors, and passes on nothing it could not link', () => {
    assert.deepEqual(judgeGossip([taken, ahead], true), { acceptance: TopicValidatorResult.Ignore, ancestorsMissing: true })
  })

  it('refuses the whole message, and holds it against its sender, for any record refused for what it is', () => {
    for (const error of [new InvalidSignatureError('forged'), new DecryptionError('another key')]) {
      assert.deepEqual(judgeGossip([ahead, refused(error), taken], true), { acceptance: TopicValidatorResult.Reject, refusal: error.code, ancestorsMissing: true }, error.code)
    }
  })

  it('holds nothing against a sender for refusals that turn on what this peer holds, and passes nothing on', () => {
    for (const error of [new ForkedLogError('a second child'), new InvalidClockError('a day ahead'), new StorageClosedError('closing'), new Error('disk full')]) {
      assert.deepEqual(judgeGossip([taken, refused(error)], true), { acceptance: TopicValidatorResult.Ignore, ancestorsMissing: false }, String(error))
    }
  })
})
