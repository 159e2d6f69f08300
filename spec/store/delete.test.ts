import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Peer } from '../../actors/peer.ts'
import { Query } from '../../codecs/query.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadVariant } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { StorageClosedError, UnknownThreadError } from '../../storage/errors.ts'
import { dumpStore, tempPeer, until, within, type TempPeer } from '../helpers/temp-peer.ts'

/** Every database a peer keeps, but the numbers the peer gives threads (the last one given only grows). */
const DATABASES = ['access', 'addrs', 'blocks', 'events', 'heads', 'keys', 'log-records', 'metadata', 'peer', 'received-invites', 'sent-invites', 'views']
const everything = (peer: Peer): string => dumpStore(peer, DATABASES)
const numbered = (peer: Peer): string[] => [...peer.storage.valueDatabase<number>('thread-numbers').getKeys()].map(key => JSON.stringify(key))

describe('deleting a store', () => {
  const peers: TempPeer[] = []
  after(async () => { await Promise.all(peers.map(async peer => { await peer.dispose() })) })
  const peerWith = async (options: Parameters<typeof tempPeer>[0] = {}): Promise<TempPeer> => {
    const made = await tempPeer(options)
    peers.push(made)
    return made
  }

  it('removes every trace of the thread in one go, and leaves the other threads as they were', async () => {
    const temp = await peerWith({ network: false, invites: { retryMs: 60_000 } })
    const kept = await temp.peer.newStore()
    await kept.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } }, { indexes: [{ path: 'text' }] })
    await kept.collection('Note').create([{ _id: 'k1', text: 'kept' }])
    const before = everything(temp.peer)
    const numbersBefore = numbered(temp.peer)

    const gone = await temp.peer.newStore({ variant: ThreadVariant.AccessControlled })
    await gone.registerSchema('Person', { type: 'object' }, { indexes: [{ path: 'email', unique: true }, { path: 'city' }] })
    const people = gone.collection('Person')
    const ids = await people.create(Array.from({ length: 40 }, (_, n) => ({ email: `p${n}@example.org`, city: n % 2 === 0 ? 'Oslo' : 'x'.repeat(700) })))
    await people.update(ids[0]!, draft => { draft.city = 'Lima' })
    await gone.kv('settings').put('theme', 'dark')
    await gone.snapshot()
    await people.delete([ids[1]!])
    const invitee = await peerWith({ network: false })
    const invite = await gone.invite(invitee.peer.peerId)
    assert.ok(temp.peer.invitation(invite.id) !== undefined)

    assert.equal(gone.closed, false)
    await temp.peer.deleteStore(gone.id)
    assert.equal(gone.closed, true, 'the handle says it is closed')
    assert.equal(kept.closed, false)
    assert.equal(everything(temp.peer), before, 'every database holds what it held before the thread came')
    assert.deepEqual(numbered(temp.peer).filter(key => key !== '["n"]'), numbersBefore.filter(key => key !== '["n"]'), 'the thread\'s number is given up')
    assert.equal(temp.peer.invitation(invite.id), undefined, 'the invite\'s actor stopped')
    assert.deepEqual(temp.peer.stores().map(id => id.toString()), [kept.id.toString()])
    await assert.rejects(temp.peer.store(gone.id), UnknownThreadError)
    await assert.rejects(temp.peer.deleteStore(gone.id), UnknownThreadError)
    await assert.rejects(people.create([{ email: 'late@example.org' }]), StorageClosedError)
    await assert.rejects(people.find(), StorageClosedError, 'a handle kept from before reads nothing either')

    await kept.collection('Note').create([{ _id: 'k2', text: 'still here' }])
    assert.deepEqual((await kept.collection('Note').find(Query.where('text').eq('kept'))).map(note => note._id), ['k1'])
    const reopened = await temp.reopen()
    assert.deepEqual(reopened.stores().map(id => id.toString()), [kept.id.toString()])
    assert.equal((await (await reopened.store(kept.id)).collection('Note').find()).length, 2)
  })

  it('opens nothing of a thread while it is being deleted, and takes in no log queued behind its removal', async () => {
    const temp = await peerWith({ network: false })
    const db = await temp.peer.newStore()
    await db.registerSchema('Note', { type: 'object' })
    const deleted = temp.peer.deleteStore(db.id)
    await assert.rejects(temp.peer.store(db.id), UnknownThreadError, 'a store asked for meanwhile is not opened again')
    await deleted
    assert.deepEqual(temp.peer.stores(), [])

    const again = await temp.peer.newStore()
    const dropped = temp.peer.storage.transaction(() => { temp.peer.logs.dropThreadWithin(again.id) })
    const learnt = temp.peer.logs.addLog(again.id, Ed25519PrivateKey.generate().publicKey)
    await dropped
    await assert.rejects(learnt, UnknownThreadError, 'a log checked before the removal and written after it is refused')
    assert.equal(temp.peer.logs.hasThread(again.id), false)
    assert.deepEqual(temp.peer.logs.keys.logs(again.id), [])
  })

  it('takes a thread in again with its peers\' addresses, as the first time', async () => {
    const alice = await peerWith()
    const bob = await peerWith()
    const aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Note', { type: 'object' })
    const address = `${alice.peer.addresses[0]!.toString()}/thread/${aliceDb.id.toString()}`
    await bob.peer.openStore(address, { key: aliceDb.key })
    assert.ok(bob.peer.logs.addrs.addrs(aliceDb.id, aliceDb.logId!).length > 0)
    await bob.peer.deleteStore(aliceDb.id)
    await bob.peer.openStore(address, { key: aliceDb.key })
    assert.ok(bob.peer.logs.addrs.addrs(aliceDb.id, aliceDb.logId!).length > 0, 'alice\'s log is where it was')
    await aliceDb.collection('Note').create([{ text: 'later' }])
    const bobDb = await bob.peer.store(aliceDb.id)
    await until(async () => (await bobDb.collection('Note').find()).length === 1, 'alice\'s later note at bob', 5000)
  })

  it('lets a peer that took a thread in with a wrong key take it in again from a genuine invite', async () => {
    const alice = await peerWith({ invites: { retryMs: 150, maxAttempts: 6 } })
    const bob = await peerWith({ invites: { retryMs: 150, maxAttempts: 6 } })
    const aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
    await aliceDb.collection('Note').create([{ text: 'from alice' }])
    // What a forged invite naming the thread leaves behind: the thread, stored with a key that is not its own.
    await bob.peer.openStore(aliceDb.id, { key: ThreadKey.random() })
    const first = await aliceDb.invite(bob.peer.peerId, { address: bob.peer.addresses[0]! })
    await assert.rejects(bob.peer.join(first), { code: 'ERR_CONFLICTING_KEY' })

    await bob.peer.deleteStore(aliceDb.id)
    const second = await aliceDb.invite(bob.peer.peerId, { address: bob.peer.addresses[0]! })
    const bobDb = await within(bob.peer.join(second), 'bob to join', 8000)
    await until(async () => (await bobDb.collection('Note').find()).some(note => note.text === 'from alice'), 'alice\'s note at bob', 5000)
    await bobDb.collection('Note').create([{ text: 'from bob' }])
    await until(async () => (await aliceDb.collection('Note').find()).some(note => note.text === 'from bob'), 'bob\'s note at alice', 5000)
  })

  it('serves nothing of a deleted thread to its peers, and takes nothing of it in', async () => {
    const alice = await peerWith()
    const bob = await peerWith()
    const aliceDb = await alice.peer.newStore()
    await aliceDb.registerSchema('Note', { type: 'object', properties: { text: { type: 'string' } } })
    const bobDb = await bob.peer.openStore(`${alice.peer.addresses[0]!.toString()}/thread/${aliceDb.id.toString()}`, { key: aliceDb.key })
    await bobDb.collection('Note').create([{ text: 'from bob' }])
    await until(async () => (await aliceDb.collection('Note').find()).length === 1, 'bob\'s note at alice', 5000)

    await alice.peer.deleteStore(aliceDb.id)
    await bobDb.collection('Note').create([{ text: 'after the delete' }])
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(alice.peer.logs.hasThread(aliceDb.id), false, 'what bob pushes and gossips is not taken in')
    assert.deepEqual(alice.peer.stores(), [])
    const third = await peerWith()
    await assert.rejects(third.peer.openStore(`${alice.peer.addresses[0]!.toString()}/thread/${aliceDb.id.toString()}`, { key: aliceDb.key }), { code: 'ERR_REQUEST_FAILED' })
  })
})
