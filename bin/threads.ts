#!/usr/bin/env node
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLogStore, openStorage, type LogStore, type Storage } from '../index.ts'

/**
 * The `threads` command. `threads demo` shows the log layer at work: a writer and a reader, each with its own
 * LMDB environment, the writer authoring signed, encrypted records and the reader accepting them only after
 * checking each one, then reading them back.
 */

const USAGE = `Usage: threads <command> [options]

Commands:
  demo [--records N] [--path DIR]   a writer and a reader, each with its own LMDB environment
  help                              this text`

interface Peer {
  readonly name: string
  readonly storage: Storage
  readonly logs: LogStore
}

async function openPeer (root: string, name: string): Promise<Peer> {
  const storage = await openStorage({ path: join(root, name) })
  return { name, storage, logs: createLogStore({ storage }) }
}

async function demo (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { records: { type: 'string', default: '1000' }, path: { type: 'string' } } })
  const count = Number.parseInt(values.records, 10)
  if (!Number.isSafeInteger(count) || count < 1 || count > 1_000_000) throw new Error(`--records takes a whole number from 1 to 1000000, got ${values.records}`)
  const root = values.path ?? await mkdtemp(join(tmpdir(), 'threads-demo-'))
  const say = (line: string): void => { console.log(line) }
  const alice = await openPeer(root, 'alice')
  const bob = await openPeer(root, 'bob')
  try {
    const thread = await alice.logs.createThread()
    const log = await alice.logs.createLog(thread.id)
    say(`alice created thread ${thread.id.toString()}`)
    say(`      with her log ${log.id}`)

    const started = performance.now()
    const appended = await Promise.all(Array.from({ length: count }, (_, n) =>
      alice.logs.append(thread.id, log.id, { entry: n, note: `note ${n} from alice` })))
    const wrote = performance.now() - started
    say(`alice appended ${count} records (built, encrypted, signed, committed) in ${wrote.toFixed(0)} ms: ${Math.round(count / (wrote / 1000))} records/s`)

    await bob.logs.addThread(thread.id, thread.key)
    await bob.logs.addLog(thread.id, log.publicKey)
    say(`bob got the thread key out of band (${thread.key.toString().slice(0, 12)}…) and alice's log ID`)

    const received = performance.now()
    for (const record of appended) await bob.logs.accept(thread.id, log.id, record.blocks)
    const took = performance.now() - received
    say(`bob accepted ${count} records, each decrypted, verified and linked to his head first, in ${took.toFixed(0)} ms`)

    const forged = { ...appended[0]!.blocks, body: appended[1]!.blocks.body }
    await bob.logs.accept(thread.id, log.id, forged).then(
      () => { throw new Error('a forged record was accepted') },
      (error: Error & { code?: string }) => say(`bob refused a forged record: ${error.name} (${error.code})`))

    const verified = bob.logs.verifyLog(thread.id, log.id)
    const last = bob.logs.records(thread.id, log.id, { direction: 'backward', limit: 1 })[0]!
    const content = bob.logs.content(last)
    say(`bob verified alice's log end to end: ${verified.records} records, head ${verified.head.cid?.toString()}`)
    say(`bob reads the last entry: ${JSON.stringify(content.body)} at clock ${content.time?.wall}.${content.time?.counter}`)
    say(`edges agree: ${alice.logs.edge(thread.id) === bob.logs.edge(thread.id)}`)
  } finally {
    await alice.storage.close()
    await bob.storage.close()
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
