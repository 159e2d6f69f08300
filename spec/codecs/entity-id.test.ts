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

  it('vary in every hex digit past the time, version and variant', () => {
    const ids = Array.from({ length: 2000 }, () => timeOrderedId(1_700_000_000_000).replaceAll('-', ''))
    // Digits 12 (the version) and 16 (the variant's top bits) are fixed or nearly so; all the others are random.
    for (const position of [13, 14, 15, 17, 18, 19, ...Array.from({ length: 12 }, (_, i) => 20 + i)]) {
      assert.equal(new Set(ids.map(id => id[position])).size, 16, `hex digit ${position} takes every value`)
    }
    assert.deepEqual(new Set(ids.map(id => id[16])), new Set(['8', '9', 'a', 'b']))
  })
})
