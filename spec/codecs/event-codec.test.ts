import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { canonical, jsonPatchCodec, type EntityEvent } from '../../codecs/event-codec.ts'

const createOf = (value: unknown): EntityEvent => ({ type: 'create', collection: 'Note', id: 'n1', patch: [{ op: 'replace', path: '', value }] })

describe('json-patch codec folds', () => {
  it('gives a create written out of dag-cbor key order back in that order, at every depth, and leaves the event alone', () => {
    const value = { name: 'n', _id: 'n1', zero: -0, nested: { bb: [{ b: 1, a: 2 }], a: true } }
    const event = createOf(value)
    const state = jsonPatchCodec.apply(undefined, event)
    assert.equal(JSON.stringify(state), '{"_id":"n1","name":"n","zero":0,"nested":{"a":true,"bb":[{"a":2,"b":1}]}}')
    assert.equal(JSON.stringify(event.patch?.[0]), JSON.stringify({ op: 'replace', path: '', value }), 'the event is not rewritten')
    assert.ok(Object.is(value.zero, -0))
  })

  it('gives a create already in dag-cbor key order back as it is', () => {
    const value = canonical({ name: 'n', _id: 'n1', tags: ['a', 'b'], nested: { bb: 1, a: null } })
    const state = jsonPatchCodec.apply(undefined, createOf(value))
    assert.equal(JSON.stringify(state), JSON.stringify(value))
    assert.equal(state, value, 'no copy is made')
  })

  it('puts a save\'s result in dag-cbor key order, whatever order its patch added keys in', () => {
    const before = jsonPatchCodec.apply(undefined, createOf({ _id: 'n1', name: 'n' }))
    const after = jsonPatchCodec.apply(before, { type: 'save', collection: 'Note', id: 'n1', patch: [{ op: 'add', path: '/b', value: { y: 1, x: 2 } }, { op: 'add', path: '/a', value: 0 }] })
    assert.equal(JSON.stringify(after), '{"a":0,"b":{"x":2,"y":1},"_id":"n1","name":"n"}')
  })
})
