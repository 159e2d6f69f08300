import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPeer, type Peer } from '../../actors/peer.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { createEventStore } from '../../storage/event-store.ts'
import { createThreadNumbers } from '../../storage/thread-numbers.ts'
import { dumpStore } from '../helpers/temp-peer.ts'
import { seededRandom } from '../helpers/seeded-random.ts'

/**
 * Crash safety: a writer process (`crash-writer.ts`) commits as fast as it can and is killed with SIGKILL at a
 * random moment, sometimes while it is still opening the store. After every kill the store is opened again and
 * checked: every transaction the writer saw committed is there, none is there in part, the log verifies and its
 * head counts its records, the arrival index holds every event of the log, and a rebuild from the log alone
 * gives byte for byte the views that were on disk.
 */

export interface CrashOptions {
  crashes: number
  seed: number
  /**
   * Longest time the writer runs after its first commit before it is killed: timed from then, not from its start,
   * so a loaded machine's slow first commit cannot leave a run with nothing committed.
   */
  maxRunMs: number
}

export interface CrashReport {
  crashes: number
  /** Kills that landed before the writer was ready: while it opened storage or its store. */
  killedWhileOpening: number
  /** Transactions the writer saw committed, over every run. */
  committed: number
  /** Records in the log at the end. */
  records: number
  /** Slowest start, from spawn to ready, over the restarts (each reopens what the previous kill left). */
  slowestStartMs: number
  ms: number
}

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url))
/** The three entities of group `n`, which the writer creates in one transaction and deletes in one. */
export const groupIds = (n: number): string[] => ['a', 'b', 'c'].map(part => `g${n}${part}`)

interface Run {
  lines: string[]
  ready: boolean
  startMs: number
}

async function runWriterUntilKilled (path: string, first: number, killAfterMs: number, beforeReady: boolean): Promise<Run> {
  const started = performance.now()
  const child = spawn(process.execPath, [WRITER, path, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = { lines: [], ready: false, startMs: 0 }
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => { resolve({ code, signal }) })
  })
  let timer: NodeJS.Timeout | undefined
  const kill = (): void => { child.kill('SIGKILL') }
  if (beforeReady) timer = setTimeout(kill, killAfterMs)
  // Only whole lines count: a kill can cut the last one short, as the writer's pipe takes a line in parts when full.
  let partial = ''
  const drained = new Promise(resolve => child.stdout.once('close', resolve))
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + String(chunk)).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (line.startsWith('ready ')) {
        run.ready = true
        run.startMs = performance.now() - started
        continue
      }
      if (!beforeReady && timer === undefined && /^[ctd] /.test(line)) timer = setTimeout(kill, killAfterMs)
      run.lines.push(line)
    }
  })
  // Bounded: the writer stops by itself after 30 s, and a writer that never gets ready or never commits is killed all
  // the same, and reported: either would be a bug worth seeing.
  let hung = false
  const safety = setTimeout(() => { hung = true; kill() }, 40_000)
  const exit = await exited
  clearTimeout(timer)
  clearTimeout(safety)
  await drained
  if (hung) throw new Error(`the writer was never killed as planned (ready: ${run.ready}): ${stderr.slice(0, 2000)}`)
  if (exit.signal !== 'SIGKILL') throw new Error(`the writer exited by itself (${exit.code ?? exit.signal}): ${stderr.slice(0, 2000)}`)
  return run
}

type GroupState = 'created' | 'deleted'

/** How the harness came to know a group's state: a line the writer printed, or a check after a kill. */
interface Seen {
  state: GroupState
  crash: number
  how: 'printed' | 'found after the kill'
}

const fromUtf8 = new TextDecoder()

/** Counters of the log's records whose events name any of `ids`: says whether a group that vanished reached the log. */
function recordsNaming (peer: Peer, threadId: ThreadId, logId: string, ids: readonly string[]): number[] {
  const counters: number[] = []
  for (const record of peer.logs.records(threadId, logId, { limit: Number.MAX_SAFE_INTEGER })) {
    const { events } = peer.logs.content(record).body as { events?: Uint8Array }
    const text = events === undefined ? '' : fromUtf8.decode(events)
    if (ids.some(id => text.includes(JSON.stringify(id)))) counters.push(record.counter)
  }
  return counters
}

/**
 * Opens the peer the writer left and checks everything the header promises; throws saying what disagrees. Groups
 * in flight at the kill are found whole or not at all, and `seen` learns which, so later kills check them too.
 */
async function check (path: string, crash: number, seen: Map<number, Seen>, pending: Set<number>): Promise<number> {
  const peer = await createPeer({ path, network: false })
  try {
    const [threadId] = peer.stores()
    if (threadId === undefined) {
      if (seen.size > 0) throw new Error(`the store is gone, with ${seen.size} groups seen committed`)
      return 0
    }
    const db = await peer.store(ThreadId.from(threadId))
    const groups = db.collection('Group')
    const presence = async (n: number): Promise<boolean[]> => await Promise.all(groupIds(n).map(async id => await groups.findById(id) !== undefined))
    for (const [n, { state, crash: when, how }] of seen) {
      const present = await presence(n)
      if (present.every(p => p === (state === 'created'))) continue
      const named = recordsNaming(peer, db.id, db.logId!, groupIds(n))
      throw new Error(`group ${n} was ${state} (${how}, kill ${when}), but after kill ${crash} its entities present are ` +
        `${JSON.stringify(present)}; records naming it: ${JSON.stringify(named)} of ${peer.logs.head(db.id, db.logId!).counter}`)
    }
    for (const n of pending) {
      const present = await presence(n)
      if (present.some(p => p !== present[0])) throw new Error(`group ${n}, in flight at kill ${crash}, is half there: ${JSON.stringify(present)}`)
      seen.set(n, { state: present[0] === true ? 'created' : 'deleted', crash, how: 'found after the kill' })
    }
    peer.logs.verifyLog(db.id, db.logId!)
    const head = peer.logs.head(db.id, db.logId!)
    const records = peer.logs.records(db.id, db.logId!, { limit: Number.MAX_SAFE_INTEGER }).length
    if (head.counter !== records) throw new Error(`the head says ${head.counter} records, the log holds ${records}`)
    const views = dumpStore(peer, ['views'])
    const position = createEventStore(peer.storage, createThreadNumbers(peer.storage)).position(db.id)
    const folded = await db.rebuild()
    if (folded !== position) throw new Error(`the arrival index holds ${position} events, the log ${folded}`)
    if (dumpStore(peer, ['views']) !== views) throw new Error('a rebuild from the log gives other views than the ones on disk')
    return records
  } finally {
    await peer.close()
  }
}

export async function runCrashes (options: CrashOptions): Promise<CrashReport> {
  const random = seededRandom(options.seed)
  const root = await mkdtemp(join(tmpdir(), 'threads-crash-'))
  const path = join(root, 'peer')
  const seen = new Map<number, Seen>()
  const started = performance.now()
  const report: CrashReport = { crashes: 0, killedWhileOpening: 0, committed: 0, records: 0, slowestStartMs: 0, ms: 0 }
  try {
    for (let crash = 0; crash < options.crashes; crash++) {
      const first = (crash + 1) * 1_000_000
      // One kill in five lands while the writer is still opening what the previous kill left behind.
      const beforeReady = crash > 0 && random() < 0.2
      const run = await runWriterUntilKilled(path, first, beforeReady ? random() * 300 : random() * options.maxRunMs, beforeReady)
      report.crashes++
      if (!run.ready) report.killedWhileOpening++
      report.slowestStartMs = Math.max(report.slowestStartMs, run.startMs)
      // Groups begun (created or being deleted) and not seen committed: the writer may have been anywhere in them.
      const pending = new Set<number>()
      for (const line of run.lines) {
        // The writer's own lines; anything else on its stdout (a library's notice) says nothing about groups.
        const parsed = /^([bctxd]) (\d+)$/.exec(line)
        if (parsed === null) continue
        const [, kind, number] = parsed
        const n = Number(number)
        if (kind === 'b' || kind === 'x') {
          pending.add(n)
          if (kind === 'x') seen.delete(n)
          continue
        }
        pending.delete(n)
        seen.set(n, { state: kind === 'd' ? 'deleted' : 'created', crash, how: 'printed' })
        report.committed++
      }
      report.records = await check(path, crash, seen, pending)
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
  report.ms = performance.now() - started
  return report
}
