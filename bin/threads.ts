#!/usr/bin/env node
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createPeer, Query, type Peer, type Store } from '../index.ts'

/**
 * The `threads` command. `threads demo` runs two peers on 127.0.0.1, each with its own LMDB environment and
 * libp2p node: one creates a store and shares its address and key, the other opens it over the network, both
 * write at once, and each pushes its signed, encrypted records to the other until their views agree.
 */

const USAGE = `Usage: threads <command> [options]

Commands:
  demo [--people N] [--path DIR]   two peers on 127.0.0.1 writing to one store and converging
  help                             this text`

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 }, city: { type: 'string' } },
  required: ['name', 'age']
}
const CITIES = ['Lisbon', 'Oslo', 'Quito', 'Hanoi']

/** Waits (at most `ms`) until both stores hold the same people, polling; returns how long it took. */
async function converge (a: Store, b: Store, ms = 30_000): Promise<number> {
  const started = performance.now()
  const everyone = async (db: Store): Promise<string> => JSON.stringify(await db.collection('Person').find(Query.where('age').ge(0).orderBy('name')))
  while (performance.now() - started < ms) {
    if (await everyone(a) === await everyone(b)) return performance.now() - started
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  throw new Error(`the two stores did not converge within ${ms} ms`)
}

async function demo (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { people: { type: 'string', default: '500' }, path: { type: 'string' } } })
  const count = Number.parseInt(values.people, 10)
  if (!Number.isSafeInteger(count) || count < 1 || count > 100_000) throw new Error(`--people takes a whole number from 1 to 100000, got ${values.people}`)
  const root = values.path ?? await mkdtemp(join(tmpdir(), 'threads-demo-'))
  const say = (line: string): void => { console.log(line) }
  const alice = await createPeer({ path: join(root, 'alice') })
  const bob = await createPeer({ path: join(root, 'bob') })
  try {
    const aliceDb = await alice.newStore()
    await aliceDb.registerSchema('Person', PERSON, { indexes: [{ path: 'age' }, { path: 'city' }] })
    say(`alice created store ${aliceDb.id.toString()}`)
    say(`      with a Person collection indexed on age and city, and her log ${aliceDb.logId}`)

    say(`alice listens at ${alice.addresses.map(String).join(', ')}`)
    say(`      and shares the store's address ${aliceDb.address} and its key`)

    const bobDb = await bob.openStore(aliceDb.address!, { key: aliceDb.key.toString() })
    say(`bob opened it over the network: he pulled alice's log, the Person collection came with it, and he told her about his log ${bobDb.logId}`)
    const heard: string[] = []
    const stop = bobDb.listen({ collection: 'Person', actions: ['create'] }, change => { heard.push(change.id) })

    const started = performance.now()
    const people = (who: string, offset: number): Array<Record<string, string | number>> =>
      Array.from({ length: count }, (_, n) => ({ name: `${who} friend ${n}`, age: (offset + n * 7) % 90, city: CITIES[n % CITIES.length]! }))
    await Promise.all([
      ...people('alice', 0).map(person => aliceDb.collection('Person').create([person])),
      ...people('bob', 3).map(person => bobDb.collection('Person').create([person]))
    ])
    const wrote = performance.now() - started
    say(`both wrote ${count} people at once, one signed, encrypted record per create: ${Math.round((2 * count) / (wrote / 1000))} commits/s`)

    const [firstAlice] = await aliceDb.collection('Person').find(Query.where('name').eq('alice friend 0'))
    await Promise.all([
      aliceDb.collection('Person').update(firstAlice!._id as string, draft => { draft.city = 'Accra' }),
      bobDb.collection('Person').create([{ name: 'carol', age: 33, city: 'Lima' }])
    ])
    const took = await converge(aliceDb, bobDb)
    say(`each pushed its records to the other as it wrote them; the views agreed ${took.toFixed(0)} ms after the last write`)

    const query = Query.where('age').ge(60).and('age').lt(66).orderBy('name')
    const [seenByAlice, seenByBob] = [await aliceDb.collection('Person').find(query), await bobDb.collection('Person').find(query)]
    say(`people aged 60–65: alice sees ${seenByAlice.length}, bob sees ${seenByBob.length} (${bobDb.collection('Person').plan(query).using})`)
    const same = JSON.stringify(await aliceDb.collection('Person').find()) === JSON.stringify(await bobDb.collection('Person').find())
    say(`their views are ${same ? 'identical' : 'DIFFERENT'}: ${(await aliceDb.collection('Person').find()).length} people each`)
    say(`neither refused anything: ${alice.refusals.size + bob.refusals.size === 0}`)
    say(`alice's edit arrived too: ${JSON.stringify((await bobDb.collection('Person').findById(firstAlice!._id as string))?.city)}`)
    const total = (await bobDb.collection('Person').find()).length
    for (const deadline = Date.now() + 10_000; heard.length < total && Date.now() < deadline;) await new Promise(resolve => setTimeout(resolve, 10))
    say(`bob's listener heard all ${heard.length} creates, his and alice's, in the order they reached him`)
    stop()
    if (!same) process.exitCode = 1
  } finally {
    await alice.close()
    await bob.close()
    if (values.path === undefined) await rm(root, { recursive: true, force: true })
  }
}

const [command = 'help', ...rest] = process.argv.slice(2)
try {
  if (command === 'demo') await demo(rest)
  else if (command === 'help' || command === '--help') console.log(USAGE)
  else {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
    process.exitCode = 2
  }
} catch (error) {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error)
  process.exitCode = 1
}
