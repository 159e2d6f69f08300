import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, ThreadVariant } from '../index.ts'

const a = await createPeer({ path: await mkdtemp(join(tmpdir(), 'try-a-')) })
const b = await createPeer({ path: await mkdtemp(join(tmpdir(), 'try-b-')) })
const db = await a.newStore({ variant: ThreadVariant.AccessControlled })
await db.registerSchema('Note', { type: 'object' })
await db.collection('Note').create([{ text: 'from a' }])
console.log('acl', db.acl.get(), db.acl.admin.get())
const invite = await db.invite(b.peerId, { role: 'write', address: b.addresses[0]!.toString() })
console.log('invite', invite.toString().length)
await new Promise(r => setTimeout(r, 200))
console.log('pending on b', b.invites().map(i => [i.id, i.role, i.state]))
const dbB = await b.join(invite)
console.log('joined', await dbB.collection('Note').find())
await dbB.collection('Note').create([{ text: 'from b' }])
await new Promise(r => setTimeout(r, 500))
console.log('a sees', await db.collection('Note').find(), db.acl.refused())
console.log('b refused', dbB.acl.refused())
await a.close(); await b.close()
