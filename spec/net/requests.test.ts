import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { InvalidProofError } from '../../codecs/errors.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { encodeUvarint } from '../../codecs/varint.ts'
import { frame, PROTOCOL, serviceKeyProof, verifyServiceKeyProof, type Request } from '../../codecs/wire.ts'
import { createThreadsNode, peerKey, type ThreadsNode } from '../../net/node.ts'
import { createRequester, RequestFailedError, serveRequests, type Requester, type RequestServer } from '../../net/requests.ts'
import { tempStorage } from '../helpers/temp-storage.ts'

/** Two real libp2p nodes on TCP loopback, one serving requests, one asking. */
describe('the /threads/1.0.0 request protocol', () => {
  const threadId = ThreadId.create()
  const key = ThreadKey.random()
  const limits = { timeoutMs: 300, maxFrameBytes: 64 * 1024, maxStreamsPerPeer: 8 }
  let server: ThreadsNode
  let client: ThreadsNode
  let serving: RequestServer
  let requester: Requester

  before(async () => {
    server = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    client = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    requester = createRequester({ node: client, limits })
    serving = await serveRequests(server, async (message, peer) => {
      if (message.type !== 'get-logs') return { type: 'ok' }
      if (!verifyServiceKeyProof(key.service, peer.toString(), message.threadId, message.proof)) throw new InvalidProofError('no proof of the service key')
      return { type: 'logs', logs: [{ logId: 'log-1', counter: 7, addrs: [] }] }
    }, limits)
    for (const addr of server.getMultiaddrs()) assert.equal(addr.toString().startsWith('/ip4/127.0.0.1/tcp/'), true, 'loopback only')
  })

  after(async () => {
    requester.stop()
    await serving.stop()
    await client.stop()
    await server.stop()
  })

  const ask = async (message: Request) => await requester.request(server.getMultiaddrs()[0]!, message)
  const raw = async (bytes: Uint8Array, hold = false): Promise<void> => {
    const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, PROTOCOL)
    stream.send(bytes)
    if (hold) return
    // Until the server is done with the stream: it answers and closes, or resets it once it sits idle.
    try {
      for await (const chunk of stream) { void chunk }
      await stream.close()
    } catch (error) {
      if ((error as Error).name !== 'StreamResetError') throw error
    }
  }
  const refused = (code: string): number => serving.refusals.get(client.peerId.toString())?.get(code) ?? 0

  it('answers a request that proves the service key', async () => {
    const response = await ask({ type: 'get-logs', threadId, proof: serviceKeyProof(key.service, client.peerId.toString(), threadId) })
    assert.deepEqual(response, { type: 'logs', logs: [{ logId: 'log-1', counter: 7, addrs: [] }] })
  })

  it('refuses a proof made for another peer, with the code, and counts it', async () => {
    await assert.rejects(ask({ type: 'get-logs', threadId, proof: serviceKeyProof(key.service, server.peerId.toString(), threadId) }), (e: unknown) =>
      e instanceof RequestFailedError && e.remoteCode === 'ERR_INVALID_PROOF')
    assert.equal(refused('ERR_INVALID_PROOF'), 1)
  })

  it('counts garbage, oversized and stalled streams, and goes on serving', async () => {
    await raw(frame({ type: 'ok' }).map((byte, i) => (i > 0 ? 0xff : byte)))
    await raw(encodeUvarint(limits.maxFrameBytes + 1))
    await raw(encodeUvarint(100), true)
    const deadline = Date.now() + 3000
    while (refused('ERR_REQUEST_FAILED') < 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(refused('ERR_MALFORMED_MESSAGE'), 1)
    assert.equal(refused('ERR_MESSAGE_TOO_LARGE'), 1)
    assert.equal(refused('ERR_REQUEST_FAILED'), 1, 'the stalled stream timed out')
    const response = await ask({ type: 'get-logs', threadId, proof: serviceKeyProof(key.service, client.peerId.toString(), threadId) })
    assert.equal(response.type, 'logs')
  })

  const streamsToServer = (): number => client.getConnections(server.peerId).flatMap(connection => connection.streams).filter(stream => stream.protocol === PROTOCOL).length

  it('asks one request after another on the same stream', async () => {
    const proof = serviceKeyProof(key.service, client.peerId.toString(), threadId)
    for (let i = 0; i < 5; i++) assert.equal((await ask({ type: 'get-logs', threadId, proof })).type, 'logs')
    assert.equal(streamsToServer(), 1, 'one stream carried every exchange')
    await assert.rejects(ask({ type: 'get-logs', threadId, proof: serviceKeyProof(key.service, server.peerId.toString(), threadId) }), RequestFailedError)
    assert.equal((await ask({ type: 'get-logs', threadId, proof })).type, 'logs', 'a refused request leaves the stream usable')
    assert.equal(streamsToServer(), 1)
  })

  it('asks on a new stream once the server has closed a kept one as idle, and counts nothing against the client', async () => {
    const patient = createRequester({ node: client, limits: { ...limits, timeoutMs: 4 * limits.timeoutMs } })
    try {
      const proof = serviceKeyProof(key.service, client.peerId.toString(), threadId)
      const before = [...(serving.refusals.get(client.peerId.toString()) ?? new Map<string, number>())]
      assert.equal((await patient.request(server.getMultiaddrs()[0]!, { type: 'get-logs', threadId, proof })).type, 'logs')
      await new Promise(resolve => setTimeout(resolve, 1.5 * limits.timeoutMs))
      assert.equal((await patient.request(server.getMultiaddrs()[0]!, { type: 'get-logs', threadId, proof })).type, 'logs')
      assert.deepEqual([...(serving.refusals.get(client.peerId.toString()) ?? new Map<string, number>())], before)
    } finally {
      patient.stop()
    }
  })

  it('resets a stream sent more than a frame ahead, counts it, and goes on serving', async () => {
    const refusalsBefore = [...(serving.refusals.get(client.peerId.toString())?.values() ?? [])].reduce((sum, count) => sum + count, 0)
    const flood = new Uint8Array(16 * limits.maxFrameBytes)
    flood.set(encodeUvarint(limits.maxFrameBytes - 16))
    await raw(flood)
    const refusalsAfter = [...(serving.refusals.get(client.peerId.toString())?.values() ?? [])].reduce((sum, count) => sum + count, 0)
    assert.ok(refusalsAfter > refusalsBefore, 'the flood was counted')
    assert.equal((await ask({ type: 'get-logs', threadId, proof: serviceKeyProof(key.service, client.peerId.toString(), threadId) })).type, 'logs')
  })

  it('never asks a request twice, even when the connection closes while it is served', async () => {
    const slowServer = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    const asker = createRequester({ node: client, limits })
    let served = 0
    const slow = await serveRequests(slowServer, async message => {
      if (message.type === 'invite') {
        served++
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      return { type: 'ok' }
    }, limits)
    try {
      const at = slowServer.getMultiaddrs()[0]!
      await asker.request(at, { type: 'invite-reply', threadId, inviteId: 'warm', answer: 'accept' })
      const asking = asker.request(at, { type: 'invite', invite: new Uint8Array([1]) })
      await new Promise(resolve => setTimeout(resolve, 30))
      await client.hangUp(slowServer.peerId)
      await assert.rejects(asking, RequestFailedError)
      await new Promise(resolve => setTimeout(resolve, 200))
      assert.equal(served, 1)
    } finally {
      asker.stop()
      await slow.stop()
      await slowServer.stop()
    }
  })

  it('counts bytes sent ahead while a request is served, though the request was whole', async () => {
    const slowServer = await createThreadsNode({ privateKey: await generateKeyPair('Ed25519') })
    const slow = await serveRequests(slowServer, async () => {
      await new Promise(resolve => setTimeout(resolve, 100))
      return { type: 'ok' }
    }, limits)
    try {
      const stream = await client.dialProtocol(slowServer.getMultiaddrs()[0]!, PROTOCOL)
      stream.send(frame({ type: 'invite', invite: new Uint8Array([1]) }))
      stream.send(new Uint8Array(2 * limits.maxFrameBytes))
      const deadline = Date.now() + 3000
      const counted = (): number => slow.refusals.get(client.peerId.toString())?.get('ERR_MESSAGE_TOO_LARGE') ?? 0
      while (counted() === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(counted(), 1)
    } finally {
      await slow.stop()
      await slowServer.stop()
    }
  })

  it('keeps a peer\'s identity across restarts', async () => {
    const temp = await tempStorage()
    try {
      const first = await peerKey(temp.storage)
      const again = await peerKey(await temp.reopen())
      assert.deepEqual(again.publicKey.raw, first.publicKey.raw)
    } finally {
      await temp.dispose()
    }
  })
})
