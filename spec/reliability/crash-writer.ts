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
 * Its stdout is a pipe. Node writes to a pipe at once only while the pipe has room, and queues the rest in the process,
 * which a kill loses: so the writer goes on only once a line is in the pipe. A line saying a commit begins is there
 * before the commit starts, and a line the harness reads was printed after what it reports.
 */

const [path, first] = [process.argv[2]!, Number(process.argv[3])]
const peer = await createPeer({ path, network: false, snapshotEvery: 500 })
const [existing] = peer.stores()
const db = existing === undefined ? await peer.newStore() : await peer.store(existing)
if (existing === undefined) {
  await db.registerSchema('Group', { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }, { indexes: [{ path: 'n' }] })
}
process.stdout.write(`ready ${db.id.toString()}\n`)

const say = async (line: string): Promise<void> => {
  await new Promise<void>((resolve, reject) => { process.stdout.write(`${line}\n`, error => { error == null ? resolve() : reject(error) }) })
}

const groups = db.collection('Group')
let next = first
const created: number[] = []

const one = async (): Promise<void> => {
  const n = next++
  if (n % 5 === 0 && created.length > 0) {
    const victim = created.splice(Math.floor(created.length / 2), 1)[0]!
    await say(`x ${victim}`)
    await groups.delete(groupIds(victim))
    await say(`d ${victim}`)
  } else if (n % 7 === 0) {
    await say(`b ${n}`)
    await db.writeTransaction('Group', async tx => {
      for (const _id of groupIds(n)) await tx.create([{ _id, n }])
    })
    created.push(n)
    await say(`t ${n}`)
  } else {
    await say(`b ${n}`)
    await groups.create(groupIds(n).map(_id => ({ _id, n })))
    created.push(n)
    await say(`c ${n}`)
  }
}

// Bounded, like every loop here: the harness kills this process long before it gets through them.
const deadline = Date.now() + 30_000
await Promise.all(Array.from({ length: 16 }, async () => {
  while (Date.now() < deadline) await one()
}))
await peer.close()
