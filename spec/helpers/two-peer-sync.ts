import type { Store } from '../../actors/store.ts'
import { Query } from '../../codecs/query.ts'
import { until, type TempPeer } from './temp-peer.ts'

/**
 * The smallest sync there is, for tests that watch one: alice writes a person, bob opens her store by its address
 * and writes one of his own, and bob's reaches alice.
 */
export async function twoPeerSync (alice: TempPeer, bob: TempPeer): Promise<{ aliceDb: Store, bobDb: Store }> {
  const aliceDb = await alice.peer.newStore()
  await aliceDb.registerSchema('Person', { type: 'object' })
  await aliceDb.collection('Person').create([{ name: 'ann' }])
  const bobDb = await bob.peer.openStore(aliceDb.address!, { key: aliceDb.key })
  await bobDb.collection('Person').create([{ name: 'bo' }])
  await until(async () => (await aliceDb.collection('Person').find(Query.where('name').eq('bo'))).length === 1, 'bob\'s record at alice', 5000)
  return { aliceDb, bobDb }
}
