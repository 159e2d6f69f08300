import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../actors/peer.ts'
const root = await mkdtemp(join(tmpdir(), 'hs-'))
const t0 = performance.now()
const log: string[] = []
const inspect = (who: string) => (e: any) => { if (e.type === '@xstate.snapshot' && /^invite/.test(e.actorRef.id)) log.push(`${(performance.now() - t0).toFixed(1)} ${who} ${e.actorRef.id.slice(0, 12)} ${e.snapshot.value}`) }
const alice = await createPeer({ path: join(root, 'a'), inspect: inspect('A') })
const db = await alice.newStore()
await db.registerSchema('Note', { type: 'object' })
for (let i = 0; i < 3; i++) {
  const bob = await createPeer({ path: join(root, 'b' + i), inspect: inspect('B') })
  log.length = 0
  const s = performance.now()
  const invite = await db.invite(bob.peerId, { address: bob.addresses[0]! })
  log.push(`${(performance.now() - t0).toFixed(1)} invite() returned`)
  await bob.join(invite)
  log.push(`${(performance.now() - t0).toFixed(1)} join() returned`)
  while (alice.invitation(invite.id)?.state !== 'joined') await new Promise(r => setTimeout(r, 1))
  console.log('total', (performance.now() - s).toFixed(1))
  console.log(log.join('\n'))
  await bob.close()
}
await alice.close()
