import { describe, it } from 'node:test'
import type { Store } from '../../actors/store.ts'
import { oneStoreOn, viewsAgree } from '../helpers/shared-store.ts'
import { until, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

/** Several peers on 127.0.0.1 writing to one store at once; every one ends with the same views. */
describe('many peers', () => {
  const dump = async (db: Store): Promise<string> => JSON.stringify(await db.collection('Item').find())

  it('three writers converge to identical views, and a late joiner pulls everything', async () => {
    const peers: TempPeer[] = []
    try {
      for (let i = 0; i < 4; i++) peers.push(await tempPeer())
      const stores = await oneStoreOn(peers.slice(0, 3).map(temp => temp.peer), 'Item', { indexes: [{ path: 'n' }] })
      const origin = stores[0]!
      await Promise.all(stores.map(async (db, who) => {
        for (let n = 0; n < 100; n++) await db.collection('Item').create([{ who, n }])
      }))
      await until(async () => await viewsAgree(stores, 'Item', 300), 'three writers to converge on 300 items', 20_000)

      const late = await peers[3]!.peer.openStore(origin.address!, { key: origin.key })
      await late.sync()
      await until(async () => await dump(late) === await dump(origin), 'the late joiner to hold everything', 20_000)
    } finally {
      for (const temp of peers) await temp.dispose()
    }
  })

  it('five writers converge, and one that was offline for 1,000 records catches up', async () => {
    const peers: TempPeer[] = []
    try {
      for (let i = 0; i < 5; i++) peers.push(await tempPeer())
      const stores = await oneStoreOn(peers.map(temp => temp.peer), 'Item')
      const origin = stores[0]!
      await Promise.all(stores.map(async (db, who) => {
        for (let n = 0; n < 40; n++) await db.collection('Item').create([{ who, n }])
      }))
      await until(async () => await viewsAgree(stores, 'Item', 200), 'five writers to converge on 200 items', 30_000)

      const id = origin.id
      await peers[4]!.peer.close()
      for (let n = 0; n < 1000; n += 50) await Promise.all(Array.from({ length: 50 }, (_, i) => origin.collection('Item').create([{ who: 0, n: 1000 + n + i }])))
      const back = await (await peers[4]!.reopen()).store(id)
      await back.sync()
      await until(async () => await dump(back) === await dump(origin), 'the returning peer to catch up on 1,000 records', 30_000)
    } finally {
      for (const temp of peers) await temp.dispose()
    }
  })
})
