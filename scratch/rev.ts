import { tempPeer } from '../spec/helpers/temp-peer.ts'
import { carry } from '../spec/helpers/carry.ts'
import { ThreadVariant } from '../codecs/thread-id.ts'
const OFFLINE = { network: false, invites: { retryMs: 60_000 } } as const
const owner = await tempPeer(OFFLINE)
const w = await tempPeer(OFFLINE)
const ownerDb = await owner.peer.newStore({ variant: ThreadVariant.AccessControlled })
await ownerDb.registerSchema('Note', { type: 'object' })
const wDb = await w.peer.join((await ownerDb.invite(w.peer.peerId)).toString())
await carry(owner.peer, { peer: w.peer, store: wDb })
console.log('before', JSON.stringify(ownerDb.acl.get()))
await ownerDb.acl.revoke(w.peer.peerId, ['write'])
console.log('after', JSON.stringify(ownerDb.acl.get()))
await new Promise(r => setTimeout(r, 5))
await wDb.collection('Note').create([{ _id: 'after-1' }])
const obs = await tempPeer(OFFLINE)
const oDb = await obs.peer.openStore(ownerDb.id, { key: ownerDb.key })
await carry(w.peer, { peer: obs.peer, store: oDb })
console.log('obs after w', (await oDb.collection('Note').find().catch(e => e.code)), oDb.acl.refused().map(r => r.code))
await carry(owner.peer, { peer: obs.peer, store: oDb })
console.log('obs after owner', (await oDb.collection('Note').find()), oDb.acl.refused().map(r => r.code), JSON.stringify(oDb.acl.get()))
for (const { key, value } of obs.peer.storage.valueDatabase('access').getRange()) console.log(JSON.stringify(key).slice(0,200), JSON.stringify(value).slice(0,200))
await obs.dispose()
await owner.dispose(); await w.dispose()
