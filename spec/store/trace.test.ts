import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createActor, createMachine } from 'xstate'
import { createPeer } from '../../actors/peer.ts'
import { createTraceRecorder, type TraceEntry, type TraceHeader } from '../../actors/trace.ts'
import { InvalidArgumentError } from '../../storage/errors.ts'
import { tempPeer } from '../helpers/temp-peer.ts'

const lines = async (file: string): Promise<unknown[]> => (await readFile(file, 'utf8')).trim().split('\n').map(line => JSON.parse(line) as unknown)

describe('traces', () => {
  it('records every actor of a peer under a stable, readable name, as JSON lines complete on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'threads-trace-'))
    const file = join(dir, 'peer.jsonl')
    const temp = await tempPeer({ trace: file })
    try {
      const db = await temp.peer.newStore()
      await db.registerSchema('Note', { type: 'object' })
      const stop = db.listen({}, () => {})
      await db.collection('Note').create([{ text: 'hello', bytes: [1, 2, 3] }])
      await db.writeTransaction('Note', async tx => { await tx.create([{ text: 'inside' }]) })
      stop()
      await temp.peer.close()
      const [header, ...entries] = await lines(file) as [TraceHeader, ...TraceEntry[]]
      assert.equal(header.kind, 'trace')
      assert.equal(header.peer, temp.peer.peerId)
      const tid = db.id.toString()
      const actors = entries.filter(entry => entry.kind === 'actor').map(entry => entry.actor)
      for (const name of [`thread:${tid}`, `thread:${tid}/dispatcher`, `thread:${tid}/reducer`, `thread:${tid}/log:${db.logId}/sync`, `thread:${tid}/listener:1`, `thread:${tid}/transaction:2`, `thread:${tid}/dispatcher/persister`]) {
        assert.ok(actors.includes(name), `${name} is named in the trace`)
      }
      const commit = entries.find(entry => entry.kind === 'event' && entry.event.type === 'commit')
      assert.ok(commit?.kind === 'event')
      assert.equal(commit.to, `thread:${tid}/dispatcher`)
      assert.equal(commit.from, undefined, 'a commit comes from outside the actors')
      assert.equal(commit.event.changes, '1 items', 'lists are given by their size')
      assert.equal('reply' in commit.event, false, 'functions are left out')
      const acquire = entries.find(entry => entry.kind === 'event' && entry.event.type === 'acquire')
      assert.ok(acquire?.kind === 'event')
      assert.equal(acquire.event.holder, `actor thread:${tid}/transaction:2`, 'actors are given by name')
      assert.ok(entries.some(entry => entry.kind === 'state' && entry.actor === `thread:${tid}/transaction:2` && entry.value === 'committed'))
    } finally {
      await temp.dispose()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a trace file it cannot write before the peer touches anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'threads-trace-'))
    try {
      await assert.rejects(createPeer({ path: join(dir, 'peer'), network: false, trace: join(dir, 'missing', 'trace.jsonl') }),
        (e: unknown) => e instanceof InvalidArgumentError && e.code === 'ERR_INVALID_ARGUMENT')
      assert.equal(existsSync(join(dir, 'peer')), false, 'no storage was created')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('stops at its bound with a line that says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'threads-trace-'))
    const file = join(dir, 'bounded.jsonl')
    try {
      const recorder = createTraceRecorder({ file, maxEntries: 10 })
      recorder.start('test')
      const toggle = createActor(createMachine({ initial: 'a', states: { a: { on: { flip: 'b' } }, b: { on: { flip: 'a' } } } }), { inspect: recorder.inspect })
      toggle.start()
      for (let i = 0; i < 100; i++) toggle.send({ type: 'flip' })
      toggle.stop()
      await recorder.close()
      const written = await lines(file) as Array<{ kind: string }>
      assert.equal(recorder.entries, 10)
      assert.equal(written.length, 12, 'the header, ten entries and the truncation line')
      assert.equal(written.at(-1)!.kind, 'truncated')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
