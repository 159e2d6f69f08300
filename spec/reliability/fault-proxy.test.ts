import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { createFaultyNetwork } from './fault-proxy.ts'

describe('fault proxy', () => {
  it('delays chunks with jitter but keeps their order, and cuts no link for it', async () => {
    const net = createFaultyNetwork(11)
    const count = 400
    const received: Buffer[] = []
    let arrived = 0
    let allArrived!: () => void
    const done = new Promise<void>(resolve => { allArrived = resolve })
    const server = createServer(socket => {
      socket.on('data', chunk => {
        received.push(chunk)
        arrived += chunk.length
        if (arrived >= count * 4) allArrived()
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    let client: Socket | undefined
    try {
      const { port, attach } = await net.reserve()
      attach({ name: 'server', port: (server.address() as AddressInfo).port, peerAt: () => undefined })
      net.set({ delayMs: 2, jitterMs: 20 })
      client = connect(port, '127.0.0.1')
      await new Promise<void>(resolve => client!.once('connect', () => { resolve() }))
      // Many small writes, a few milliseconds apart: each is a chunk of its own, due at close to the same time as others.
      for (let n = 0; n < count; n++) {
        const bytes = Buffer.alloc(4)
        bytes.writeUInt32BE(n)
        client.write(bytes)
        if (n % 20 === 0) await new Promise(resolve => setTimeout(resolve, 1))
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([done, new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`only ${arrived} of ${count * 4} bytes arrived within 10 s`)) }, 10_000) })])
      clearTimeout(timer)
      const all = Buffer.concat(received)
      assert.equal(all.length, count * 4)
      for (let n = 0; n < count; n++) assert.equal(all.readUInt32BE(n * 4), n, `number ${n} arrives in its place`)
      assert.equal(net.stats.cut, 0)
    } finally {
      client?.destroy()
      await net.close()
      await new Promise(resolve => server.close(resolve))
    }
  })
})
