import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { oneStoreOn, viewsAgree } from '../helpers/shared-store.ts'
import { tempPeer, until, type TempPeer } from '../helpers/temp-peer.ts'

/**
 * Load: one peer holding many idle threads (three logs each, which no other peer holds) should cost next to
 * no CPU and bounded memory; and many writers on one thread should converge.
 */

export interface IdleReport {
  threads: number
  logs: number
  /** Making the threads, before the peer is measured. */
  setupMs: number
  /** CPU time of the idle peer's whole process over the measuring window, as a share of one core. */
  cpuPercent: number
  rssMiB: number
  /** Resident memory of the process's own, and of mapped files (node's own code, LMDB's pages), where the system tells them apart. */
  anonMiB?: number
  fileMiB?: number
  heapMiB: number
}

const MiB = 1024 * 1024

const IDLE_PEER = fileURLToPath(new URL('./idle-peer.ts', import.meta.url))

/** Makes `threads` threads of three logs on one peer, then measures that peer idle in a process of its own. */
export async function idleThreads (threads: number, measureMs: number): Promise<IdleReport> {
  const temp = await tempPeer({ network: false }, 'threads-load-')
  try {
    const started = performance.now()
    for (let i = 0; i < threads; i++) {
      const db = await temp.peer.newStore()
      // Two more logs in the thread, as two other writers would bring; no peer holds them now, so they stay quiet.
      await temp.peer.logs.createLog(db.id)
      await temp.peer.logs.createLog(db.id)
    }
    await temp.peer.close()
    const setupMs = performance.now() - started
    const child = spawn(process.execPath, ['--expose-gc', IDLE_PEER, temp.path, String(measureMs)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    child.stdout.on('data', chunk => { output += String(chunk) })
    // It stops by itself once it has measured; one still running a minute after that is killed, and reported.
    const killing = setTimeout(() => { child.kill('SIGKILL') }, measureMs + 60_000)
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    clearTimeout(killing)
    if (code !== 0) throw new Error(`the idle peer exited with ${code ?? 'a signal'}`)
    const measured = JSON.parse(output) as { threads: number, logs: number, cpuMs: number, rss: number, rssAnon?: number, rssFile?: number, heapUsed: number }
    return {
      threads: measured.threads,
      logs: measured.logs,
      setupMs,
      cpuPercent: measured.cpuMs / measureMs * 100,
      rssMiB: measured.rss / MiB,
      ...(measured.rssAnon === undefined ? {} : { anonMiB: measured.rssAnon / MiB }),
      ...(measured.rssFile === undefined ? {} : { fileMiB: measured.rssFile / MiB }),
      heapMiB: measured.heapUsed / MiB
    }
  } finally {
    await temp.dispose()
  }
}

export interface WritersReport {
  writers: number
  records: number
  /** From the first write to every peer holding the same views. */
  convergeMs: number
}

/** `writers` peers join one store, each writes `each` records, and every peer ends with the same views. */
export async function manyWriters (writers: number, each: number, timeoutMs: number): Promise<WritersReport> {
  const peers: TempPeer[] = []
  try {
    for (let i = 0; i < writers; i++) peers.push(await tempPeer({}, 'threads-writers-'))
    const stores = await oneStoreOn(peers.map(temp => temp.peer), 'Item')
    const started = performance.now()
    await Promise.all(stores.map(async (db, who) => {
      for (let n = 0; n < each; n++) await db.collection('Item').create([{ who, n }])
    }))
    await until(async () => await viewsAgree(stores, 'Item', writers * each), `${writers} writers to converge on the same ${writers * each} items`, timeoutMs)
    return { writers, records: writers * each, convergeMs: performance.now() - started }
  } finally {
    for (const temp of peers) await temp.dispose()
  }
}
