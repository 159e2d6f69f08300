import { readFile } from 'node:fs/promises'
import { Query, ThreadVariant, parseThreadAddress, type Entity, type Peer, type StoreChange, type ThreadId } from '../index.ts'
import { listenOf, listOf, lockHolder, parseJson, withPeer, type Command, type Output } from './command.ts'
import { UsageError } from './errors.ts'

/**
 * The everyday jobs on the stores at a local path. One process at a time writes to a path (the daemon, `watch`, or
 * a command that writes); the others refuse while it runs. Commands that only read run beside it. What a command
 * writes without networking reaches other peers when they next connect to the daemon and pull.
 */

const PROGRESS_MS = 250

/** Records this peer holds in a thread, all logs together. */
const recordsHeld = (peer: Peer, threadId: ThreadId): number =>
  peer.logs.keys.logs(threadId).reduce((sum, logId) => sum + peer.logs.head(threadId, logId).counter, 0)

/** Runs `job`, showing `line(elapsed seconds)` on the terminal every quarter second until it ends. */
async function withProgress<T> (out: Output, line: (seconds: number) => string, job: Promise<T>): Promise<T> {
  const started = performance.now()
  const timer = setInterval(() => { out.progress(line((performance.now() - started) / 1000)) }, PROGRESS_MS)
  try {
    return await job
  } finally {
    clearInterval(timer)
    out.progress(undefined)
  }
}

const entitiesOf = (texts: string[]): Entity[] => texts.map((text, index) => {
  const entity = parseJson(text, `entity ${index + 1}`)
  if (entity === null || typeof entity !== 'object' || Array.isArray(entity)) throw new UsageError(`entity ${index + 1} is not a JSON object`)
  return entity as Entity
})


export const storeCommands: Command[] = [
  {
    name: 'new-store',
    summary: 'Creates a store: a new thread with a log of our own in it (with --access-controlled, one whose ACL this peer owns). Prints its ID and key.',
    usage: '[--access-controlled]',
    arguments: [],
    options: { 'access-controlled': { type: 'boolean', default: false } },
    async run (values, _positionals, out) {
      await withPeer(values, {}, async peer => {
        const db = await peer.newStore(values['access-controlled'] === true ? { variant: ThreadVariant.AccessControlled } : {})
        out.result(`store ${db.id.toString()}\nkey   ${db.key.toString()}\nlog   ${db.logId}`, { id: db.id.toString(), key: db.key.toString(), logId: db.logId })
      })
    }
  },
  {
    name: 'stores',
    summary: 'Lists the stores at the path.',
    usage: '',
    arguments: [],
    options: {},
    async run (values, _positionals, out) {
      await withPeer(values, { readOnly: true }, async peer => {
        const ids = peer.stores().map(id => id.toString())
        out.result(ids.join('\n'), ids)
      })
    }
  },
  {
    name: 'address',
    summary: 'Prints what another peer needs to open a store: its address (where the daemon on this path listens) and its key.',
    usage: '<store>',
    arguments: ['store'],
    options: {},
    async run (values, positionals, out) {
      const [id] = positionals
      const holder = await lockHolder(values.path as string)
      await withPeer(values, { readOnly: true }, async peer => {
        const db = await peer.store(id!)
        const addresses = (holder?.addresses ?? []).map(address => `${address}/thread/${db.id.toString()}`)
        const where = addresses.length > 0 ? addresses.join('\n') : `(none: start \`threads daemon --path ${values.path as string}\` to be reachable)`
        out.result(`address ${where}\nkey     ${db.key.toString()}`, { id: db.id.toString(), addresses, key: db.key.toString() })
      })
    }
  },
  {
    name: 'register',
    summary: 'Registers (or replaces) a collection\'s JSON schema, read from a file, with optional indexes.',
    usage: '<store> <collection> <schema.json> [--index PATH]… [--unique PATH]…',
    arguments: ['store', 'collection', 'schema.json'],
    options: { index: { type: 'string', multiple: true }, unique: { type: 'string', multiple: true } },
    async run (values, positionals, out) {
      const [id, collection, file] = positionals
      const schema = parseJson(await readFile(file!, 'utf8').catch((cause: Error) => { throw new UsageError(`cannot read ${file!}: ${cause.message}`, { cause }) }), file!)
      const indexes = [...listOf(values.index).map(path => ({ path })), ...listOf(values.unique).map(path => ({ path, unique: true }))]
      await withPeer(values, {}, async peer => {
        await (await peer.store(id!)).registerSchema(collection!, schema as Entity, { indexes })
        out.result(`registered ${collection!}`, { collection, indexes })
      })
    }
  },
  {
    name: 'create',
    summary: 'Creates entities, each given as a JSON object; prints their IDs.',
    usage: '<store> <collection> <json>…',
    arguments: ['store', 'collection', 'json'],
    moreArguments: true,
    options: {},
    async run (values, positionals, out) {
      const [id, collection, ...texts] = positionals
      const entities = entitiesOf(texts)
      await withPeer(values, {}, async peer => {
        const ids = await (await peer.store(id!)).collection(collection!).create(entities)
        out.result(ids.join('\n'), ids)
      })
    }
  },
  {
    name: 'save',
    summary: 'Saves whole entities (with their IDs), each given as a JSON object.',
    usage: '<store> <collection> <json>…',
    arguments: ['store', 'collection', 'json'],
    moreArguments: true,
    options: {},
    async run (values, positionals, out) {
      const [id, collection, ...texts] = positionals
      const entities = entitiesOf(texts)
      await withPeer(values, {}, async peer => {
        await (await peer.store(id!)).collection(collection!).save(entities)
        out.result(`saved ${entities.length}`, { saved: entities.length })
      })
    }
  },
  {
    name: 'find',
    summary: 'Finds entities: all of them, one by --id, or those a query (in its JSON form) matches. One JSON object per line.',
    usage: '<store> <collection> [--id ID | --query JSON]',
    arguments: ['store', 'collection'],
    options: { id: { type: 'string' }, query: { type: 'string' } },
    async run (values, positionals, out) {
      const [id, collection] = positionals
      if (values.id !== undefined && values.query !== undefined) throw new UsageError('give --id or --query, not both')
      const query = values.query === undefined ? new Query() : Query.parse(parseJson(values.query as string, '--query'))
      await withPeer(values, { readOnly: true }, async peer => {
        const reader = (await peer.store(id!)).collection(collection!)
        const found = values.id === undefined ? await reader.find(query) : [await reader.findById(values.id as string)].filter(entity => entity !== undefined)
        out.result(found.map(entity => JSON.stringify(entity)).join('\n'), found)
      })
    }
  },
  {
    name: 'watch',
    summary: 'Runs a peer for one store and prints every change as it happens, here or from other peers, until stopped (Ctrl-C).',
    usage: '<store> [--collection NAME] [--listen MULTIADDR]…',
    arguments: ['store'],
    options: { collection: { type: 'string' }, listen: { type: 'string', multiple: true } },
    async run (values, positionals, out) {
      const [id] = positionals
      const listen = listenOf(values)
      await withPeer(values, { network: true, listen }, async peer => {
        const db = await peer.store(id!)
        const print = (change: StoreChange): void => {
          out.result(`${change.action} ${change.collection} ${change.id}${change.entity === undefined ? '' : ` ${JSON.stringify(change.entity)}`}`, change)
        }
        const stop = db.listen(values.collection === undefined ? {} : { collection: values.collection as string }, print)
        await new Promise<void>(resolve => {
          process.once('SIGINT', resolve)
          process.once('SIGTERM', resolve)
        })
        stop()
      })
    }
  },
  {
    name: 'open',
    summary: 'Opens a store from its address and key: pulls its logs over the network, then keeps a log of our own in it.',
    usage: '<address> --key KEY [--listen MULTIADDR]…',
    arguments: ['address'],
    options: { key: { type: 'string' }, listen: { type: 'string', multiple: true } },
    async run (values, positionals, out) {
      const [address] = positionals
      if (values.key === undefined) throw new UsageError('threads open needs --key: the store\'s key, as `threads address` prints it')
      const listen = listenOf(values)
      await withPeer(values, { network: true, listen }, async peer => {
        const { threadId } = parseThreadAddress(address!)
        const held = (): number => peer.logs.hasThread(threadId) ? recordsHeld(peer, threadId) : 0
        const db = await withProgress(out, seconds => `pulling: ${held()} records (${Math.round(held() / Math.max(seconds, 0.001))}/s)`,
          peer.openStore(address!, { key: values.key as string }))
        const records = recordsHeld(peer, db.id)
        const collections = db.collections().map(collection => collection.name)
        out.result(`opened store ${db.id.toString()}: ${records} records, collections ${collections.join(', ') || '(none)'}`,
          { id: db.id.toString(), logId: db.logId, records, collections })
      })
    }
  },
  {
    name: 'add-replicator',
    summary: 'Asks a peer to replicate a store: it gets the service key only, so it stores and serves the logs without reading them.',
    usage: '<store> <multiaddr> [--listen MULTIADDR]…',
    arguments: ['store', 'multiaddr'],
    options: { listen: { type: 'string', multiple: true } },
    async run (values, positionals, out) {
      const [id, address] = positionals
      const listen = listenOf(values)
      await withPeer(values, { network: true, listen }, async peer => {
        await (await peer.store(id!)).addReplicator(address!)
        out.result(`${address!} replicates ${id!}`, { id, replicator: address })
      })
    }
  },
  {
    name: 'snapshot',
    summary: 'Takes a snapshot of a store\'s views; prints the position it was taken at.',
    usage: '<store>',
    arguments: ['store'],
    options: {},
    async run (values, positionals, out) {
      const [id] = positionals
      await withPeer(values, {}, async peer => {
        const position = await (await peer.store(id!)).snapshot()
        out.result(`snapshot at position ${position}`, { position })
      })
    }
  },
  {
    name: 'rebuild',
    summary: 'Rebuilds a store\'s views from its logs alone (or, with --from-snapshot, from the latest snapshot on).',
    usage: '<store> [--from-snapshot]',
    arguments: ['store'],
    options: { 'from-snapshot': { type: 'boolean', default: false } },
    async run (values, positionals, out) {
      const [id] = positionals
      await withPeer(values, {}, async peer => {
        const db = await peer.store(id!)
        const records = recordsHeld(peer, db.id)
        const from = values['from-snapshot'] === true ? 'snapshot' : 'log'
        const result = await withProgress(out, seconds => `rebuilding from ${records} records: ${seconds.toFixed(1)} s`, db.rebuild({ from }))
        out.result(`rebuilt from the ${from === 'log' ? 'logs' : 'snapshot'}: ${result}`, { from, result, records })
      })
    }
  },
  {
    name: 'delete',
    summary: 'Deletes a store (or a thread this path replicates): everything of its thread held here. Its peers keep their copies.',
    usage: '<store>',
    arguments: ['store'],
    options: {},
    async run (values, positionals, out) {
      const [id] = positionals
      await withPeer(values, {}, async peer => {
        await peer.deleteStore(id!)
        out.result(`deleted ${id!}`, { id, deleted: true })
      })
    }
  }
]
