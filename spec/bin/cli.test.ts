import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Query } from '../../codecs/query.ts'
import { BIN, json, startDaemon, threads } from '../helpers/cli.ts'
import { tempPeer, until } from '../helpers/temp-peer.ts'

describe('the threads command', () => {
  let dir: string
  let path: string
  let store: { id: string, key: string }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'threads-cli-'))
    path = join(dir, 'peer')
  })

  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('explains itself and every command', async () => {
    const help = await threads('help')
    assert.equal(help.code, 0)
    for (const name of ['demo', 'daemon', 'new-store', 'register', 'create', 'save', 'find', 'watch', 'address', 'open', 'add-replicator', 'snapshot', 'rebuild', 'delete']) {
      assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'), `help lists ${name}`)
    }
    const find = await threads('find', '--help')
    assert.equal(find.code, 0)
    assert.match(find.stdout, /^Usage: threads find <store> <collection>/)
  })

  it('refuses what it cannot use with a usage error, exit code 2, and writes nothing', async () => {
    const unknown = await threads('frobnicate')
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /^UsageError: unknown command "frobnicate"/)
    const option = await threads('stores', '--path', path, '--colour')
    assert.equal(option.code, 2)
    assert.match(option.stderr, /UsageError: Unknown option '--colour'/)
    const missing = await threads('create', '--path', path, '--json')
    assert.equal(missing.code, 2)
    assert.equal(JSON.parse(missing.stderr).code, 'ERR_USAGE')
    const typo = await threads('daemon', '--path', path, '--replicate-for', 'anyon', '--listen', '/ip4/127.0.0.1/tcp/0')
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /UsageError: --replicate-for takes peer IDs or "anyone", not "anyon"/)
    const help = await threads('help', 'frobnicate')
    assert.equal(help.code, 2)
    assert.match(help.stderr, /^UsageError: unknown command "frobnicate"/)
    const extra = await threads('stores', 'everything', '--path', path)
    assert.equal(extra.code, 2)
    assert.match(extra.stderr, /^UsageError: threads stores takes no arguments, not also "everything"/)
    const extraStore = await threads('snapshot', 'bafy', 'now', '--path', path)
    assert.equal(extraStore.code, 2)
    assert.match(extraStore.stderr, /^UsageError: threads snapshot takes <store>, not also "now"/)
    const nowhere = await threads('stores', '--path', path, '--json')
    assert.equal(nowhere.code, 1)
    assert.deepEqual(JSON.parse(nowhere.stderr), { error: 'NoPeerError', code: 'ERR_NO_PEER', message: `no peer at ${path}: give the --path of one, or make one (threads new-store, threads daemon)` })
    assert.equal(existsSync(path), false, 'nothing was created')
  })

  it('creates a store, registers a schema from a file, creates, saves and finds entities, snapshots and rebuilds', async () => {
    store = json(await threads('new-store', '--path', path, '--json'))
    assert.match(store.id, /^b/)
    const schema = join(dir, 'person.json')
    await writeFile(schema, JSON.stringify({ type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] }))
    const unreadable = await threads('register', store.id, 'Person', join(dir, 'missing.json'), '--path', path)
    assert.equal(unreadable.code, 2)
    assert.match(unreadable.stderr, /^UsageError: cannot read .*missing\.json: ENOENT/)
    const garbage = await threads('add-replicator', store.id, 'garbage', '--path', path, '--listen', '/ip4/127.0.0.1/tcp/0')
    assert.equal(garbage.code, 1)
    assert.match(garbage.stderr, /^InvalidAddressError: not a multiaddr: "garbage"\n?$/)
    json(await threads('register', store.id, 'Person', schema, '--index', 'age', '--path', path, '--json'))
    const ids = json<string[]>(await threads('create', store.id, 'Person', '{"name":"ann","age":30}', '{"name":"bo","age":40}', '--path', path, '--json'))
    assert.equal(ids.length, 2)
    json(await threads('save', store.id, 'Person', JSON.stringify({ _id: ids[0], name: 'ann', age: 31 }), '--path', path, '--json'))
    const query = JSON.stringify(Query.where('age').gt(30).orderBy('name').toJSON())
    const found = json<Array<{ name: string, age: number }>>(await threads('find', store.id, 'Person', '--query', query, '--path', path, '--json'))
    assert.deepEqual(found.map(person => [person.name, person.age]), [['ann', 31], ['bo', 40]])
    const both = await threads('find', store.id, 'Person', '--id', ids[1]!, '--query', query, '--path', path)
    assert.equal(both.code, 2)
    assert.match(both.stderr, /^UsageError: give --id or --query, not both/)
    const text = await threads('find', store.id, 'Person', '--id', ids[1]!, '--path', path)
    assert.equal(JSON.parse(text.stdout).name, 'bo')
    assert.deepEqual(json<string[]>(await threads('stores', '--path', path, '--json')), [store.id])
    const snapshot = json<{ position: number }>(await threads('snapshot', store.id, '--path', path, '--json'))
    assert.ok(snapshot.position > 0)
    json(await threads('rebuild', store.id, '--path', path, '--json'))
    assert.equal(json<unknown[]>(await threads('find', store.id, 'Person', '--path', path, '--json')).length, 2)
  })

  it('refuses an entity that breaks the schema with the store\'s typed error, and keeps nothing of it', async () => {
    const refused = await threads('create', store.id, 'Person', '{"age":5}', '--path', path, '--json')
    assert.equal(refused.code, 1)
    assert.equal(JSON.parse(refused.stderr).code, 'ERR_SCHEMA_VIOLATION')
    const notJson = await threads('create', store.id, 'Person', '{name', '--path', path)
    assert.equal(notJson.code, 2)
    assert.match(notJson.stderr, /UsageError: entity 1 is not JSON/)
    assert.equal(json<unknown[]>(await threads('find', store.id, 'Person', '--path', path, '--json')).length, 2)
  })

  it('deletes a store, which is then held nowhere at the path', async () => {
    const made = json<{ id: string }>(await threads('new-store', '--path', path, '--json'))
    assert.ok(json<string[]>(await threads('stores', '--path', path, '--json')).includes(made.id))
    assert.deepEqual(json(await threads('delete', made.id, '--path', path, '--json')), { id: made.id, deleted: true })
    assert.deepEqual(json<string[]>(await threads('stores', '--path', path, '--json')), [store.id])
    const again = await threads('delete', made.id, '--path', path, '--json')
    assert.equal(again.code, 1)
    assert.equal(JSON.parse(again.stderr).code, 'ERR_UNKNOWN_THREAD')
  })

  describe('daemon', () => {
    let daemon: ChildProcessWithoutNullStreams
    let printed: { peerId: string, addresses: string[], stores: string[] }
    let exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

    before(async () => {
      ({ process: daemon, printed, exited } = await startDaemon(path, '/ip4/127.0.0.1/tcp/0', '--replicate-for', 'anyone'))
    })

    after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })

    it('prints where it listens, serves its stores to a peer over 127.0.0.1, and stops cleanly on SIGTERM', async () => {
      assert.deepEqual(printed.stores, [store.id])
      assert.ok(printed.addresses.every(address => address.startsWith('/ip4/127.0.0.1/tcp/')), printed.addresses.join(', '))

      const address = json<{ addresses: string[], key: string }>(await threads('address', store.id, '--path', path, '--json'))
      assert.equal(address.addresses[0], `${printed.addresses[0]!}/thread/${store.id}`)
      const busy = await threads('create', store.id, 'Person', '{"name":"cy"}', '--path', path, '--json')
      assert.equal(busy.code, 1)
      assert.equal(JSON.parse(busy.stderr).code, 'ERR_PATH_IN_USE', 'a second writer on the daemon\'s path is refused')

      const reader = await tempPeer()
      try {
        const db = await reader.peer.openStore(address.addresses[0]!, { key: address.key })
        await until(async () => (await db.collection('Person').find()).length === 2, 'the daemon\'s people at the reader', 5000)
        const own = await reader.peer.newStore()
        await own.addReplicator(printed.addresses[0]!)
      } finally {
        await reader.dispose()
      }

      const opened = await threads('open', address.addresses[0]!, '--key', address.key, '--path', join(dir, 'joiner'), '--json')
      assert.deepEqual(json<{ collections: string[] }>(opened).collections, ['Person'])

      daemon.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const exit = await Promise.race([exited, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('the daemon did not stop within 10 s of SIGTERM')), 10_000) })])
      clearTimeout(timer)
      assert.deepEqual(exit, { code: 0, signal: null })
      assert.equal(existsSync(join(path, 'lock.json')), false, 'the daemon let go of the path')
      const after = json<{ addresses: string[] }>(await threads('address', store.id, '--path', path, '--json'))
      assert.deepEqual(after.addresses, [], 'no address once the daemon is gone')
    })
  })

  it('watches a store: prints each change another peer makes, until SIGINT', async () => {
    const watch = spawn(process.execPath, [BIN, 'watch', store.id, '--listen', '/ip4/127.0.0.1/tcp/0', '--path', path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>(resolve => watch.on('exit', resolve))
    let stdout = ''
    watch.stdout.on('data', chunk => { stdout += String(chunk) })
    const writer = await tempPeer()
    try {
      const lockOf = async (): Promise<{ addresses: string[] }> => JSON.parse(await readFile(join(path, 'lock.json'), 'utf8').catch(() => '{"addresses":[]}')) as { addresses: string[] }
      await until(async () => (await lockOf()).addresses.length > 0, 'the watching peer to listen', 10_000)
      const key = json<{ key: string }>(await threads('address', store.id, '--path', path, '--json')).key
      const db = await writer.peer.openStore(`${(await lockOf()).addresses[0]!}/thread/${store.id}`, { key })
      await db.collection('Person').create([{ name: 'watched', age: 1 }])
      await until(() => stdout.includes('"watched"'), 'the watcher to print the new person', 10_000)
      const change = JSON.parse(stdout.trim().split('\n').find(line => line.includes('"watched"'))!) as { action: string, collection: string }
      assert.deepEqual([change.action, change.collection], ['create', 'Person'])
    } finally {
      await writer.dispose()
      watch.kill('SIGINT')
    }
    assert.equal(await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000, 'still running 10 s after SIGINT'))]), 0)
  })

  it('runs the demo: three peers converge, step by step, and leave traces the viewer reads', async () => {
    const traces = join(dir, 'traces')
    const demo = await threads('demo', '--people', '10', '--traces', traces)
    assert.equal(demo.code, 0, demo.stderr)
    assert.match(demo.stdout, /^ 1\. three peers start/m)
    assert.match(demo.stdout, /their views are identical: 31 people each/)
    assert.match(demo.stdout, /open visualizations\/trace-viewer\.html in a browser/)
    for (const name of ['alice', 'bob', 'carol']) {
      const [header] = (await readFile(join(traces, `${name}.jsonl`), 'utf8')).split('\n')
      assert.equal((JSON.parse(header!) as { kind: string }).kind, 'trace')
    }
  })
})
