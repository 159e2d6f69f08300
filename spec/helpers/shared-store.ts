import type { Peer } from '../../actors/peer.ts'
import type { RegisterOptions, Store } from '../../actors/store.ts'

/**
 * One store on every peer: the first makes it, with `collection` open to any entity (indexed as `options` say); the
 * others join by its address and key. Each joiner announced its log to the first peer only, so a round of pulls then spreads every log and its
 * addresses to everyone.
 */
export async function oneStoreOn (peers: readonly Peer[], collection: string, options?: RegisterOptions): Promise<Store[]> {
  const [first, ...joiners] = peers
  if (first === undefined) throw new Error('one store on no peers')
  const origin = await first.newStore()
  await origin.registerSchema(collection, { type: 'object' }, options)
  const stores = [origin]
  for (const peer of joiners) stores.push(await peer.openStore(origin.address!, { key: origin.key }))
  for (const store of stores) await store.sync()
  return stores
}

/** Whether every store holds the same `expected` entities of `collection`, byte for byte. */
export async function viewsAgree (stores: readonly Store[], collection: string, expected: number): Promise<boolean> {
  const views = await Promise.all(stores.map(async store => JSON.stringify(await store.collection(collection).find())))
  return views.every(view => view === views[0]) && (JSON.parse(views[0]!) as unknown[]).length === expected
}
