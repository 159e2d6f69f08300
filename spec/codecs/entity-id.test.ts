import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { timeOrderedId } from '../../codecs/entity-id.ts'

describe('entity IDs', () => {
  it('are UUID version 7: the time in milliseconds, then random bits', () => {
    const id = timeOrderedId(0x0189_1234_5678)
    assert.match(id, /^01891234-5678-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it('sort by creation time, and never repeat', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => timeOrderedId(1_700_000_000_000 + i))
    assert.deepEqual([...ids].sort(), ids)
    assert.equal(new Set(Array.from({ length: 10_000 }, () => timeOrderedId(1_700_000_000_000))).size, 10_000)
  })
})
