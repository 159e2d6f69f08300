import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../actors/store.ts'
import { until, tempPeer, type TempPeer } from '../helpers/temp-peer.ts'

/** Several peers on 127.0.0.1 writing to one store at once; every one ends with the same views. */
describe('many peers', () => {
  const dump = async (db: Store): Promise<string> => JSON.stringify(await db.collection('Item').find())

  it('three writers converge to identical views, and a late joiner pulls everything', async () => {
    const peers: TempPeer[] = []
    try {
      for (let i = 0; i < 4; i++) peers.push(await tempPeer())
      const [first, ...others] = peers.slice(0, 3)
      const origin = await first!.peer.newStore()
      await origin.registerSchema('Item', { type: 'object' }, { indexes: [{ path: 'n' }] })
      const stores = [origin, ...await Promise.all(others.map(async p => await p.peer.openStore(origin.address!, { key: origin.key })))]
      // Each joiner announced its log to the origin only; a round of pulls spreads every log and its addresses.
      for (const db of stores) await db.sync()
      await Promise.all(stores.map(async (db, who) => {
        for (let n = 0; n < 100; n++) await db.collection('Item').create([{ who, n }])
      }))
      await until(async () => {
        const views = await Promise.all(stores.map(dump))
        return views.every(view => view === views[0]) && JSON.parse(views[0]!).length === 300
      }, 'three writers to converge on 300 items', 20_000)

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
      const origin = await peers[0]!.peer.newStore()
      await origin.registerSchema('Item', { type: 'object' })
      const stores = [origin]
      for (const temp of peers.slice(1)) stores.push(await temp.peer.openStore(origin.address!, { key: origin.key }))
      for (const db of stores) await db.sync()
      await Promise.all(stores.map(async (db, who) => {
        for (let n = 0; n < 40; n++) await db.collection('Item').create([{ who, n }])
      }))
      await until(async () => {
        const views = await Promise.all(stores.map(dump))
        return views.every(view => view === views[0]) && JSON.parse(views[0]!).length === 200
      }, 'five writers to converge on 200 items', 30_000)

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
