import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../actors/peer.ts'
import type { Store } from '../../actors/store.ts'
import { Query } from '../../codecs/query.ts'
import type { ThreadId } from '../../codecs/thread-id.ts'
import { createEventStore } from '../../storage/event-store.ts'
import type { Storage } from '../../storage/storage.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { createViewStore } from '../../storage/view-store.ts'

/** Snapshots through the public API: automatic and on request, restoring, rebuilding, compacting, reopening. */

const SNAPSHOT_EVERY = 50
const PERSON = {
  type: 'object',
  properties: { _id: { type: 'string' }, name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age']
}

/** Views, definitions and indexes of one thread, in key order. */
function dumpViews (storage: Storage, threadId: ThreadId): string {
  const thread = createThreadNumbers(storage).of(threadId)
  const db = storage.valueDatabase<unknown>('views')
  const out: unknown[] = []
  for (const kind of ['v', 'c', 'x', 'u']) {
    for (const { key, value } of db.getRange({ start: [kind, thread] })) {
      const parts = key as unknown[]
      if (parts[0] !== kind || parts[1] !== thread) break
      out.push([parts, value])
    }
  }
  return JSON.stringify(out)
}

/** Positions held in the arrival index of one thread (a record's events are stored together, under its last). */
function arrivalPositions (storage: Storage, threadId: ThreadId): number[] {
  const thread = createThreadNumbers(storage).of(threadId)
  const out: number[] = []
  for (const { key, value } of storage.valueDatabase<unknown>('events').getRange({ start: ['p', thread, 0], end: ['p', thread, Number.MAX_SAFE_INTEGER] })) {
    const last = (key as [string, number, number])[2]
    for (let at = (value as { first: number }).first; at <= last; at++) out.push(at)
  }
  return out
}

async function until (condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

describe('snapshots', () => {
  let path: string
  let peer: Peer
  let db: Store
  const snapshotPosition = (): number => createViewStore(peer.storage, createThreadNumbers(peer.storage)).snapshotPosition(db.id)
  const position = (): number => createEventStore(peer.storage, createThreadNumbers(peer.storage)).position(db.id)
  const people = () => db.collection<{ _id?: string, name: string, age: number }>('Person')

  before(async () => {
    path = await mkdtemp(join(tmpdir(), 'threads-snapshots-'))
    peer = await createPeer({ path, snapshotEvery: SNAPSHOT_EVERY })
    db = await peer.newStore()
    await db.registerSchema('Person', PERSON, { indexes: [{ path: 'age' }, { path: 'name', unique: true }] })
  })

  after(async () => {
    await peer?.close()
    if (path !== undefined) await rm(path, { recursive: true, force: true })
  })

  it('takes a snapshot by itself every 50 events', async () => {
    assert.equal(snapshotPosition(), 0)
    for (let i = 0; i < 60; i++) await people().create([{ name: `p${i}`, age: i % 90 }])
    assert.equal(position(), 61, 'one definition and 60 creates')
    await until(() => snapshotPosition() >= SNAPSHOT_EVERY, 'the first automatic snapshot')
    const first = snapshotPosition()
    assert.ok(first >= SNAPSHOT_EVERY && first <= 61, `first snapshot at ${first}`)
    // A batch of 45 events in one record, then single ones until 50 have passed the first snapshot.
    await people().create(Array.from({ length: 45 }, (_, i) => ({ name: `q${i}`, age: i })))
    for (let i = 0; position() - first < SNAPSHOT_EVERY; i++) await people().create([{ name: `r${i}`, age: i }])
    await until(() => snapshotPosition() >= first + SNAPSHOT_EVERY, 'the second automatic snapshot')
    assert.ok(snapshotPosition() <= position())
  })

  it('takes a snapshot on request and returns its position', async () => {
    await people().create([{ name: 'requested', age: 30 }])
    const at = await db.snapshot()
    assert.equal(at, position())
    assert.equal(snapshotPosition(), at)
  })

  it('restores from the snapshot and rebuilds from the log to the same views, before and after more writes', async () => {
    const views = dumpViews(peer.storage, db.id)
    assert.equal(await db.rebuild({ from: 'snapshot' }), position() - snapshotPosition())
    assert.equal(dumpViews(peer.storage, db.id), views, 'restored from a snapshot with nothing after it')
    assert.equal(await db.rebuild(), position())
    await assert.rejects(db.rebuild({ from: 'elsewhere' as never }), { code: 'ERR_INVALID_ARGUMENT' })
    assert.equal(dumpViews(peer.storage, db.id), views, 'rebuilt from the log')

    // Writes past the snapshot: updates, saves, deletes and creates.
    const all = await people().find()
    for (const person of all.slice(0, 10)) await people().update(person._id!, draft => { draft.age += 100 })
    await people().save(all.slice(10, 15).map(person => ({ ...person, name: `${person.name}!` })))
    await people().delete(all.slice(15, 20).map(person => person._id!))
    await people().create([{ name: 'late', age: 7 }])
    const snapshot = snapshotPosition()
    assert.ok(position() > snapshot && position() - snapshot < SNAPSHOT_EVERY, 'events past the snapshot, none taken since')
    const later = dumpViews(peer.storage, db.id)
    assert.notEqual(later, views)
    assert.equal(await db.rebuild({ from: 'snapshot' }), position() - snapshot)
    assert.equal(dumpViews(peer.storage, db.id), later, 'snapshot and the events after it')
    assert.equal(await db.rebuild(), position())
    assert.equal(dumpViews(peer.storage, db.id), later, 'the log alone')
    assert.deepEqual((await people().find({ ands: [{ path: 'name', op: 'eq', value: 'late' }], ors: [] })).map(p => p.age), [7],
      'indexes answer after a restore')
  })

  it('mends damaged views, definitions and index entries, from the snapshot and from the log alone', async () => {
    const views = dumpViews(peer.storage, db.id)
    const thread = createThreadNumbers(peer.storage).of(db.id)
    const stored = peer.storage.valueDatabase<unknown>('views')
    const [first, second, third] = (await people().find(new Query().orderBy('_id'))).map(person => ({ id: person._id!, name: person.name }))
    const damage = async (): Promise<void> => {
      await peer.storage.transaction(() => {
        stored.removeSync(['v', thread, 'Person', first!.id])
        const view = stored.get(['v', thread, 'Person', second!.id]) as { doc: { age: number } }
        stored.putSync(['v', thread, 'Person', second!.id], { ...view, doc: { ...view.doc, age: -1 } })
        stored.putSync(['v', thread, 'Person', 'stray'], { at: [0, 0, 'x', 0], doc: { _id: 'stray', name: 'stray', age: 1 } })
        for (const key of [...stored.getKeys({ start: ['x', thread, 'Person'] })] as Array<Array<string | number>>) {
          if (key[0] !== 'x' || key[1] !== thread || key[2] !== 'Person') break
          if (key.at(-1) === third!.id) stored.removeSync(key)
        }
        stored.removeSync(['u', thread, 'Person', 'name', third!.name])
        stored.putSync(['x', thread, 'Person', 'age', 999, 'stray'], 1)
        stored.removeSync(['c', thread, 'Person'])
      })
      assert.notEqual(dumpViews(peer.storage, db.id), views)
    }
    await damage()
    await db.rebuild({ from: 'snapshot' })
    assert.equal(dumpViews(peer.storage, db.id), views, 'restored from the snapshot')
    await damage()
    await db.rebuild()
    assert.equal(dumpViews(peer.storage, db.id), views, 'rebuilt from the log')
  })

  it('compacts the arrival index up to the snapshot and leaves the views alone', async () => {
    const views = dumpViews(peer.storage, db.id)
    const snapshot = snapshotPosition()
    const before = arrivalPositions(peer.storage, db.id)
    assert.equal(before.length, position())
    assert.equal(await db.compact(), snapshot)
    const kept = arrivalPositions(peer.storage, db.id)
    assert.deepEqual(kept, before.filter(at => at > snapshot))
    assert.equal(dumpViews(peer.storage, db.id), views)
    assert.equal(await db.compact(), 0, 'nothing left to compact')
    await db.rebuild({ from: 'snapshot' })
    assert.equal(dumpViews(peer.storage, db.id), views, 'a restore needs nothing compaction removed')
  })

  it('shows the same views after closing and reopening', async () => {
    const views = dumpViews(peer.storage, db.id)
    const snapshot = snapshotPosition()
    const id = db.id
    await peer.close()
    peer = await createPeer({ path, snapshotEvery: SNAPSHOT_EVERY })
    db = await peer.store(id)
    assert.equal(dumpViews(peer.storage, db.id), views)
    assert.equal(snapshotPosition(), snapshot)
    await db.rebuild({ from: 'snapshot' })
    assert.equal(dumpViews(peer.storage, db.id), views)
    // Counting towards the next snapshot resumes where it was.
    const due = snapshot + SNAPSHOT_EVERY - position()
    for (let i = 0; i < due; i++) await people().create([{ name: `after-reopen-${i}`, age: i }])
    await until(() => snapshotPosition() >= snapshot + SNAPSHOT_EVERY, 'a snapshot after reopening')
  })

  it('keeps a listener that lags behind a compaction alive, and delivering', async () => {
    const got: string[] = []
    let open!: () => void
    const gate = new Promise<void>(resolve => { open = resolve })
    const stop = db.listen({ collection: 'Person' }, async change => {
      await gate
      got.push(change.entity?.name as string)
    })
    try {
      for (let i = 0; i < 5; i++) await people().create([{ name: `lagged-${i}`, age: i }])
      await db.snapshot()
      await db.compact()
      open()
      // The callback was stuck on the first change; the rest were compacted away under it. The listener must not
      // spin on the gap (that starves the event loop: this timer would never fire), and must go on delivering.
      await new Promise(resolve => setTimeout(resolve, 20))
      await people().create([{ name: 'after-compaction', age: 1 }])
      await until(() => got.includes('after-compaction'), 'a change after the compaction')
    } finally {
      stop()
    }
  })

  it('delivers to a lagging listener every change, even those a compaction removed', async () => {
    const got: string[] = []
    let open!: () => void
    const gate = new Promise<void>(resolve => { open = resolve })
    const stop = db.listen({ collection: 'Person' }, async change => {
      await gate
      got.push(change.entity?.name as string)
    })
    try {
      for (let i = 0; i < 5; i++) await people().create([{ name: `kept-${i}`, age: i }])
      await db.snapshot()
      await db.compact()
      open()
      await until(() => got.length >= 5, 'five changes', 200).catch(() => {})
      assert.deepEqual(got, [0, 1, 2, 3, 4].map(i => `kept-${i}`))
    } finally {
      stop()
    }
  })

  it('loses no commit that is in flight when a rebuild starts', async () => {
    const pending = people().create([{ name: 'racing', age: 1 }])
    const rebuilt = db.rebuild()
    await Promise.all([pending, rebuilt])
    assert.equal((await people().find({ ands: [{ path: 'name', op: 'eq', value: 'racing' }], ors: [] })).length, 1)
    const views = dumpViews(peer.storage, db.id)
    await db.rebuild()
    assert.equal(dumpViews(peer.storage, db.id), views)
  })
})

/** The entries under `[kind, thread]`, keyed by what follows those two parts. */
function entriesOf (storage: Storage, threadId: ThreadId, kind: string): Array<[unknown[], unknown]> {
  const thread = createThreadNumbers(storage).of(threadId)
  const out: Array<[unknown[], unknown]> = []
  for (const { key, value } of storage.valueDatabase<unknown>('views').getRange({ start: [kind, thread] })) {
    const parts = key as unknown[]
    if (parts[0] !== kind || parts[1] !== thread) break
    out.push([parts.slice(2), value])
  }
  return out
}

describe('snapshots taken as the views change', () => {
  it('copies only what changed since the latest snapshot, and everything once a rebuild put the views right', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'threads-snapshots-'))
    const peer = await createPeer({ path: dir, snapshotEvery: 0 })
    try {
      const db = await peer.newStore()
      const agree = (): void => {
        assert.deepEqual(entriesOf(peer.storage, db.id, 'sv'), entriesOf(peer.storage, db.id, 'v'), 'snapshot views')
        assert.deepEqual(entriesOf(peer.storage, db.id, 'sc'), entriesOf(peer.storage, db.id, 'c'), 'snapshot definitions')
      }
      await db.registerSchema('Person', PERSON, { indexes: [{ path: 'age' }] })
      await db.registerSchema('Pet', { type: 'object' })
      const people = db.collection<{ _id?: string, name: string, age: number }>('Person')
      const ids = await people.create(Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, age: i })))
      await db.collection('Pet').create([{ _id: 'rex', kind: 'dog' }, { _id: 'tom', kind: 'cat' }])
      await db.snapshot()
      agree()

      // Changes of every kind: updates, saves, deletes, creates, a changed definition, new collections.
      for (const id of ids.slice(0, 5)) await people.update(id, draft => { draft.age += 100 })
      await people.save([{ _id: ids[5]!, name: 'renamed', age: 5 }])
      await people.delete(ids.slice(6, 9))
      await people.create([{ name: 'late', age: 77 }])
      await db.collection('Pet').delete(['tom'])
      await db.registerSchema('Pet', { type: 'object' }, { indexes: [{ path: 'kind' }] })
      await db.kv('settings').put('theme', 'dark')
      await db.documents('toys').put({ _id: 'ball' })
      await db.snapshot()
      agree()

      // What no event touched is not copied again: a stray change to its copy outlasts the next snapshot...
      const thread = createThreadNumbers(peer.storage).of(db.id)
      const views = peer.storage.valueDatabase<unknown>('views')
      const untouched = ['sv', thread, 'Person', ids[20]!]
      await peer.storage.transaction(() => { views.putSync(untouched, { at: [0, 0, 'x', 0], doc: { stray: true } }) })
      await people.create([{ name: 'later', age: 78 }])
      await db.snapshot()
      assert.deepEqual(views.get(untouched), { at: [0, 0, 'x', 0], doc: { stray: true } })
      // ...and a rebuild that finds the views right changes nothing, so leaves the next snapshot incremental...
      await db.rebuild()
      await db.snapshot()
      assert.deepEqual(views.get(untouched), { at: [0, 0, 'x', 0], doc: { stray: true } })
      // ...until a rebuild puts a view right: the snapshot after it is copied in full.
      const damaged = ['v', thread, 'Person', ids[21]!]
      await peer.storage.transaction(() => { views.putSync(damaged, { at: [0, 0, 'x', 0], doc: { damaged: true } }) })
      await db.rebuild()
      await db.snapshot()
      agree()
    } finally {
      await peer.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
