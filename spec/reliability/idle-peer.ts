import { readFileSync } from 'node:fs'
import { createPeer } from '../../actors/peer.ts'

/**
 * A restarted peer, alone in its process: opens the peer at `argv[2]` and every store in it, lets the start-up
 * catch-up settle, then measures its own CPU over `argv[3]` ms and prints it with its memory as one line of JSON.
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
// Linux splits resident memory into the process's own and pages of mapped files (node's own code, most of them, and
// LMDB's), which the kernel can drop and take back from the file at will; elsewhere only the total is known.
const status = (() => { try { return readFileSync('/proc/self/status', 'utf8') } catch { return '' } })()
const kib = (field: string): number | undefined => {
  const found = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return found === null ? undefined : Number(found[1]) * 1024
}
const threads = peer.stores()
const logs = threads.reduce((sum, id) => sum + peer.logs.getThread(id).logs.length, 0)
await peer.close()
process.stdout.write(`${JSON.stringify({ threads: threads.length, logs, cpuMs: (used.user + used.system) / 1000, rss: memory.rss, rssAnon: kib('RssAnon'), rssFile: kib('RssFile'), heapUsed: memory.heapUsed })}\n`)
