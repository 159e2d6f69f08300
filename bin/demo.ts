import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPeer, Query, type Peer, type Store } from '../index.ts'
import type { Command } from './command.ts'
import { UsageError } from './errors.ts'

/**
 * `threads demo` (`npm start`): three peers on 127.0.0.1 in one process, each with its own LMDB environment and
 * libp2p node. Alice creates a store and invites Bob (the invite delivered to him directly) and Carol (the invite
 * handed over as a string); each joins with a log of its own; all three write at once, and each pushes its signed,
 * encrypted records to the others until their views agree.
 * Every peer records a trace, which the trace viewer replays.
 */

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 }, city: { type: 'string' } },
  required: ['name', 'age']
}
const CITIES = ['Lisbon', 'Oslo', 'Quito', 'Hanoi']
const NAMES = ['alice', 'bob', 'carol'] as const
const VIEWER = fileURLToPath(new URL('../visualizations/trace-viewer.html', import.meta.url))
const CONVERGE_MS = 30_000

const everyone = async (db: Store): Promise<string> => JSON.stringify(await db.collection('Person').find(Query.where('age').ge(0).orderBy('name')))

/** Polls `found` until it gives something (at most CONVERGE_MS), saying what never came. */
async function arrival<T> (found: () => T | undefined, what: string): Promise<T> {
  const deadline = performance.now() + CONVERGE_MS
  for (let value = found(); performance.now() < deadline; value = found()) {
    if (value !== undefined) return value
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  throw new Error(`waited ${CONVERGE_MS} ms for ${what}`)
}

/** Waits (at most `ms`) until every store holds the same people; returns how long it took. */
async function converge (stores: readonly Store[], ms = CONVERGE_MS): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < ms) {
    const views = await Promise.all(stores.map(everyone))
    if (views.every(view => view === views[0])) return performance.now() - started
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  throw new Error(`the stores did not converge within ${ms} ms`)
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Three peers on 127.0.0.1 share a store by invites, write to it at once and converge, step by step; each records a trace for the viewer.',
  usage: '[--people N] [--traces DIR] [--path DIR]',
  arguments: [],
  // No default path: the demo's stores live in a temporary directory unless told otherwise.
  options: { people: { type: 'string', default: '200' }, traces: { type: 'string' }, path: { type: 'string' } },
  async run (values) {
    const count = Number.parseInt(values.people as string, 10)
    if (!Number.isSafeInteger(count) || count < 1 || count > 100_000) throw new UsageError(`--people takes a whole number from 1 to 100000, got ${String(values.people)}`)
    const root = (values.path as string | undefined) ?? await mkdtemp(join(tmpdir(), 'threads-demo-'))
    const traces = (values.traces as string | undefined) ?? await mkdtemp(join(tmpdir(), 'threads-demo-traces-'))
    await mkdir(traces, { recursive: true })
    let step = 0
    const say = (line: string, ...more: string[]): void => { console.log([`${String(++step).padStart(2)}. ${line}`, ...more.map(text => `    ${text}`)].join('\n')) }

    const peers: Peer[] = []
    try {
      for (const name of NAMES) peers.push(await createPeer({ path: join(root, name), listen: ['/ip4/127.0.0.1/tcp/0'], trace: join(traces, `${name}.jsonl`) }))
      const [alice, bob, carol] = peers as [Peer, Peer, Peer]
      say('three peers start, each with its own LMDB directory and libp2p node on 127.0.0.1:',
        ...NAMES.map((name, i) => `${name.padEnd(5)} ${peers[i]!.addresses.map(String).join(', ')}`))

      const aliceDb = await alice.newStore()
      await aliceDb.registerSchema('Person', PERSON, { indexes: [{ path: 'age' }, { path: 'city' }] })
      say(`alice creates store ${aliceDb.id.toString()}`, 'with a Person collection (a JSON schema, indexed on age and city) and a log of her own')
      const bobInvite = await aliceDb.invite(bob.peerId, { address: bob.addresses[0]! })
      say('alice invites bob: an Invite event in her log, and the invite itself (the thread\'s keys and logs) signed by her and sealed to bob\'s key, delivered to him directly',
        `invite ${bobInvite.id} for ${bob.peerId}`)
      const bobPending = await arrival(() => bob.invites().find(invite => invite.id === bobInvite.id), 'the invite to reach bob')
      await bobPending.accept()
      const bobDb = await bob.store(aliceDb.id)
      say(`bob opens it (role ${bobPending.role}) and accepts: a log of his own, a Join in it, and a pull of the thread (the Person collection comes with it)`)

      const carolInvite = await aliceDb.invite(carol.peerId)
      const carolDb = await carol.join(carolInvite.toString())
      say('alice invites carol too; carol gets the invite as a string, out of band, and joins the same way',
        `invite ${carolInvite.toString().slice(0, 48)}…`)
      for (const invite of [bobInvite, carolInvite]) await arrival(() => alice.invitation(invite.id)?.state === 'joined' || undefined, 'alice to see the Joins')
      say('alice folds their Joins: both invites stand at joined')

      const heard: string[] = []
      const stop = carolDb.listen({ collection: 'Person', actions: ['create'] }, change => { heard.push(change.id) })
      const stores = [aliceDb, bobDb, carolDb]
      const started = performance.now()
      await Promise.all(stores.flatMap((db, p) => Array.from({ length: count }, (_, n) =>
        db.collection('Person').create([{ name: `${NAMES[p]!} friend ${n}`, age: (p * 3 + n * 7) % 90, city: CITIES[n % CITIES.length]! }]))))
      const wrote = performance.now() - started
      say(`all three write ${count} people at once, one signed, encrypted record per create: ${Math.round(3 * count / (wrote / 1000))} commits/s`)

      const [first] = await aliceDb.collection('Person').find(Query.where('name').eq('alice friend 0'))
      await Promise.all([
        aliceDb.collection('Person').update(first!._id as string, draft => { draft.city = 'Accra' }),
        bobDb.collection('Person').create([{ name: 'dave', age: 33, city: 'Lima' }])
      ])
      say('alice edits a person while bob adds one more')
      const took = await converge(stores)
      say(`each pushed its records to the others as it wrote them; the three views agreed ${took.toFixed(0)} ms after the last write`)

      const query = Query.where('age').ge(60).and('age').lt(66).orderBy('name')
      const seen = await Promise.all(stores.map(async db => (await db.collection('Person').find(query)).length))
      say(`people aged 60–65: ${NAMES.map((name, i) => `${name} sees ${seen[i]!}`).join(', ')} (${carolDb.collection('Person').plan(query).using})`)
      const views = await Promise.all(stores.map(everyone))
      const same = views.every(view => view === views[0])
      say(`their views are ${same ? 'identical' : 'DIFFERENT'}: ${(await aliceDb.collection('Person').find()).length} people each`)
      const refused = new Map<string, number>()
      for (const peer of peers) for (const counts of peer.refusals.values()) for (const [code, n] of counts) refused.set(code, (refused.get(code) ?? 0) + n)
      const replayed = refused.get('ERR_RECORD_REPLAYED') ?? 0
      refused.delete('ERR_RECORD_REPLAYED')
      say(`${replayed} records arrived twice (gossip and a direct push, or a push and a pull, crossed) and were ignored; ${refused.size === 0 ? 'nothing was refused' : `refused: ${JSON.stringify(Object.fromEntries(refused))}`}`)
      say(`alice's edit reached carol too: she lives in ${String((await carolDb.collection('Person').findById(first!._id as string))?.city)}`)
      const total = (await carolDb.collection('Person').find()).length
      for (const deadline = Date.now() + 10_000; heard.length < total && Date.now() < deadline;) await new Promise(resolve => setTimeout(resolve, 10))
      say(`carol's listener heard all ${heard.length} creates, hers and the others', in the order they reached her`)
      stop()
      if (!same) process.exitCode = 1
    } finally {
      for (const peer of peers) await peer.close()
      if (root !== values.path) await rm(root, { recursive: true, force: true })
    }
    say(`every peer recorded its actors' messages and states in ${traces}`,
      `to replay them, open ${relative(process.cwd(), VIEWER) || VIEWER} in a browser (no server needed)`,
      `and choose the three files ${NAMES.map(name => `${name}.jsonl`).join(', ')} from that directory`)
  }
}
