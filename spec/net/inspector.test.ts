import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { createWebSocketInspector } from '@statelyai/inspect'
import { WebSocketServer } from 'ws'
import { tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'
import { twoPeerSync } from '../helpers/two-peer-sync.ts'

/** What the Stately inspector would receive: a local WebSocket receiver on 127.0.0.1 stands in for it. */
interface Received { type: string, name?: string, definition?: string, event?: { type: string, record?: unknown[] }, snapshot?: { value?: unknown } }

describe('inspecting a peer with the Stately inspector', () => {
  let server: WebSocketServer
  const received: Received[] = []
  let inspector: ReturnType<typeof createWebSocketInspector>
  let alice: TempPeer
  let bob: TempPeer

  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise(resolve => server.once('listening', resolve))
    server.on('connection', socket => {
      socket.on('message', data => { received.push(JSON.parse(String(data)) as Received) })
    })
    inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` })
    await until(() => server.clients.size === 1, 'the inspector to connect to the receiver')
    alice = await tempPeer({ inspect: inspector.inspect })
    bob = await tempPeer({ inspect: inspector.inspect })
  })

  after(async () => {
    await alice?.dispose()
    await bob?.dispose()
    inspector?.stop()
    for (const client of server.clients) client.terminate()
    await new Promise(resolve => server.close(resolve))
  })

  it('receives every actor, event and state of a two-peer sync', async () => {
    await twoPeerSync(alice, bob)

    const ingested = (): number => received
      .filter(event => event.type === '@xstate.event' && event.event?.type === 'ingest')
      .reduce((records, event) => records + (event.event?.record?.length ?? 0), 0)
    // Alice's two records reach bob in his pull (one batch), bob's one reaches alice in his push: both ingest.
    await until(() => ingested() >= 3, 'the ingests of both peers at the receiver', 5000)
    const actors = received.filter(event => event.type === '@xstate.actor')
    // Each actor comes with its machine's definition, which the inspector draws.
    const named = (id: string): number => actors.filter(actor => actor.definition !== undefined && (JSON.parse(actor.definition) as { id: string }).id === id).length
    assert.equal(named('thread'), 2, 'one thread actor per peer')
    assert.equal(named('dispatcher'), 2)
    assert.equal(named('log sync'), 4, 'each peer syncs both logs')
    const states = new Set(received.filter(event => event.type === '@xstate.snapshot').map(event => JSON.stringify(event.snapshot?.value)))
    for (const state of ['"open"', '"ready"', '"idle"', '"pushing"']) assert.ok(states.has(state), `a snapshot in ${state}`)
    const events = new Set(received.filter(event => event.type === '@xstate.event').map(event => event.event?.type))
    for (const type of ['commit', 'persisted', 'committed', 'sync log', 'folded']) assert.ok(events.has(type), `an event ${type}`)
  })
})
