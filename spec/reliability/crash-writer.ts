import { createPeer } from '../../actors/peer.ts'
import { groupIds } from './crash.ts'

/**
 * The process the crash harness kills: it opens the peer at `argv[2]` (making its store on the first start),
 * says `ready`, then commits transactions as fast as it can, 16 in flight, printing each one as it begins and once
 * its commit resolves. Group `n` is three entities created in one commit (`b n` before, `c n` after); every fifth
 * transaction deletes the three of an earlier group in one commit (`x m` before, `d m` after); every seventh
 * creates its group one entity at a time inside an interactive write transaction (`b n` before, `t n` after).
 * Numbers start at `argv[3]`.
 *
 * Its stdout is a pipe, which Node writes synchronously: a line the harness reads was printed after the commit.
 */

const [path, first] = [process.argv[2]!, Number(process.argv[3])]
const peer = await createPeer({ path, network: false, snapshotEvery: 500 })
const [existing] = peer.stores()
const db = existing === undefined ? await peer.newStore() : await peer.store(existing)
if (existing === undefined) {
  await db.registerSchema('Group', { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }, { indexes: [{ path: 'n' }] })
}
process.stdout.write(`ready ${db.id.toString()}\n`)

const groups = db.collection('Group')
let next = first
const created: number[] = []

const one = async (): Promise<void> => {
  const n = next++
  if (n % 5 === 0 && created.length > 0) {
    const victim = created.splice(Math.floor(created.length / 2), 1)[0]!
    process.stdout.write(`x ${victim}\n`)
    await groups.delete(groupIds(victim))
    process.stdout.write(`d ${victim}\n`)
  } else if (n % 7 === 0) {
    process.stdout.write(`b ${n}\n`)
    await db.writeTransaction('Group', async tx => {
      for (const _id of groupIds(n)) await tx.create([{ _id, n }])
    })
    created.push(n)
    process.stdout.write(`t ${n}\n`)
  } else {
    process.stdout.write(`b ${n}\n`)
    await groups.create(groupIds(n).map(_id => ({ _id, n })))
    created.push(n)
    process.stdout.write(`c ${n}\n`)
  }
}

// Bounded, like every loop here: the harness kills this process long before it gets through them.
const deadline = Date.now() + 30_000
await Promise.all(Array.from({ length: 16 }, async () => {
  while (Date.now() < deadline) await one()
}))
await peer.close()
