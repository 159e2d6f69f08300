import { it } from 'node:test'
import assert from 'node:assert/strict'
import { MalformedBlockError } from '../../codecs/errors.ts'
import { canonical, parseRecordBody, type Entity, type EventCodec } from '../../codecs/event-codec.ts'
import { Query } from '../../codecs/query.ts'
import { dumpStore, tempPeer } from '../helpers/temp-peer.ts'

/**
 * A codec of another kind than the default's patches: every create and save carries the whole document, and the
 * latest one wins. Plugged into a peer, it is what records carry and what folds them.
 */
const wholeDocuments: EventCodec = {
  name: 'whole-document',
  encode (action) {
    if (action.type === 'delete') return { type: 'delete', collection: action.collection, id: action.id }
    return { type: action.type, collection: action.collection, id: action.id, patch: [{ op: 'replace', path: '', value: canonical(action.entity) }] }
  },
  apply (state, event) {
    if (event.type === 'delete' || (event.type === 'save' && state === undefined)) return undefined
    const [only] = event.patch ?? []
    return only?.op === 'replace' ? only.value as Entity : state
  }
}

it('writes and folds with the codec a peer is given, and a peer with another codec refuses its records', async () => {
  const temp = await tempPeer({ codec: wholeDocuments })
  try {
    const db = await temp.peer.newStore()
    await db.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' }, n: { type: 'integer' } } }, { indexes: [{ path: 'n' }] })
    const notes = db.collection('Note')
    const [kept, dropped] = await notes.create([{ text: 'kept', n: 1 }, { text: 'dropped', n: 2 }])
    await notes.update(kept!, draft => { draft.n = 10 })
    await notes.delete([dropped!])

    const bodies = temp.peer.logs.records(db.id, db.logId!).map(record => parseRecordBody(temp.peer.logs.content(record).body))
    assert.ok(bodies.every(body => body.codec === 'whole-document'))
    const update = bodies.at(-2)!.events[0]!
    assert.deepEqual(update, { type: 'save', collection: 'Note', id: kept, patch: [{ op: 'replace', path: '', value: { _id: kept, n: 10, text: 'kept' } }] })

    const expected = [{ _id: kept, text: 'kept', n: 10 }]
    assert.deepEqual(await notes.find(), expected)
    assert.deepEqual(await notes.find(Query.where('n').eq(10)), expected)
    await db.rebuild()
    assert.deepEqual(await notes.find(Query.where('n').eq(10)), expected)

    const again = await (await temp.reopen()).store(db.id)
    assert.deepEqual(await again.collection('Note').find(), expected)

    const other = await (await temp.reopen({ codec: undefined })).store(db.id)
    const before = dumpStore(temp.peer)
    await assert.rejects(other.rebuild(), (e: unknown) => e instanceof MalformedBlockError && /whole-document/.test(e.message))
    assert.equal(dumpStore(temp.peer), before)
  } finally {
    await temp.dispose()
  }
})
