import { createPeer } from '../../actors/peer.ts'

/**
 * A restarted peer, alone in its process: opens the peer at `argv[2]` and every store in it (each log with its sync
 * actor), lets the start-up catch-up settle, then measures its own CPU over `argv[3]` ms and prints it with its
 * memory as one line of JSON.
 */

const [path, measureMs] = [process.argv[2]!, Number(process.argv[3])]
const peer = await createPeer({ path })
for (const id of peer.stores()) await peer.store(id)
await new Promise(resolve => setTimeout(resolve, 1000))
globalThis.gc?.()
const cpu = process.cpuUsage()
await new Promise(resolve => setTimeout(resolve, measureMs))
const used = process.cpuUsage(cpu)
const memory = process.memoryUsage()
const threads = peer.stores()
const logs = threads.reduce((sum, id) => sum + peer.logs.getThread(id).logs.length, 0)
await peer.close()
process.stdout.write(`${JSON.stringify({ threads: threads.length, logs, cpuMs: (used.user + used.system) / 1000, rss: memory.rss, heapUsed: memory.heapUsed })}\n`)
