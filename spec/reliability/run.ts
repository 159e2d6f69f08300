import { cpus } from 'node:os'
import { runCrashes } from './crash.ts'
import { fuzz, fuzzTargets, replayRegressions, saveRegression } from './fuzz.ts'
import { idleThreads, manyWriters } from './load.ts'
import { converged, partitioned, startCluster, underFaults } from './network-faults.ts'
import { until } from '../helpers/temp-peer.ts'

/**
 * `npm run reliability`: every harness at full size, with its figures. Seeds are fixed, so a run's inputs repeat
 * (but for the fuzzed records' fresh ciphertexts, and the network's own timing); it exits non-zero when any check
 * fails.
 */

const FUZZ_INPUTS = 100_000
const FUZZ_SEED = 7
const CRASHES = 100
/** What one peer holding 1,000 idle threads may take in resident memory, in MB (10⁶ bytes). */
const IDLE_RSS_GOAL_MB = 300

const ms = (value: number): string => `${Math.round(value).toLocaleString('en')} ms`
let failed = false
const section = async (title: string, body: () => Promise<void>): Promise<void> => {
  console.log(`\n== ${title} ==`)
  try {
    await body()
  } catch (error) {
    failed = true
    console.log(`  FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
  }
}

console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}`)

await section(`Fuzzing (${FUZZ_INPUTS.toLocaleString('en')} inputs per target, seed ${FUZZ_SEED})`, async () => {
  const targets = fuzzTargets()
  const replayed = await replayRegressions(targets)
  console.log(`  saved regressions replayed: ${replayed.replayed}, failing: ${replayed.failures.length}`)
  if (replayed.failures.length > 0) throw new Error(replayed.failures.map(failure => `${failure.target}: ${failure.error}`).join('\n'))
  let failures = 0
  for (const target of targets) {
    const report = fuzz(target, { inputs: FUZZ_INPUTS, seed: FUZZ_SEED })
    for (const failure of report.failures) console.log(`  saved ${await saveRegression(failure)}: ${failure.error}`)
    failures += report.failures.length
    console.log(`  ${target.name.padEnd(32)} ${report.inputs.toLocaleString('en').padStart(8)} inputs: ${report.decoded.toLocaleString('en').padStart(7)} decoded, ${report.refused.toLocaleString('en').padStart(7)} refused with a typed error, ${report.failures.length} other outcomes, ${ms(report.ms)}`)
  }
  if (failures > 0) throw new Error(`${failures} inputs were neither decoded nor refused with a typed error`)
})

await section(`Crash safety (${CRASHES} SIGKILLs)`, async () => {
  const report = await runCrashes({ crashes: CRASHES, seed: 11, maxRunMs: 400 })
  console.log(`  ${report.crashes} kills (${report.killedWhileOpening} while the writer was still opening the store), ${report.committed.toLocaleString('en')} transactions seen committed, ${report.records.toLocaleString('en')} records in the log at the end`)
  console.log('  after every kill: every transaction seen committed present, none half-applied, log verified, head = records, arrival index = log, rebuild = views on disk')
  console.log(`  slowest restart (spawn to ready, reopening what the kill left): ${ms(report.slowestStartMs)}; whole run ${ms(report.ms)}`)
})

await section('Network faults (5 peers, every connection through a fault proxy, the default sync timing: quiet logs polled once a minute)', async () => {
  const cluster = await startCluster(5, 5)
  try {
    let expected = 0
    const each = 20
    const scenarios = [
      async () => await partitioned(cluster, 'partition {p0,p1} | {p2,p3,p4}, 3 s', [[0, 1], [2, 3, 4]], each, expected += each * 5, 3000, 60_000),
      async () => await partitioned(cluster, 'partition {p0,p1,p2} | {p3,p4}, 3 s', [[0, 1, 2], [3, 4]], each, expected += each * 5, 3000, 60_000),
      async () => await partitioned(cluster, 'partition {p0,p1} | {p2,p3} | {p4}, 3 s', [[0, 1], [2, 3], [4]], each, expected += each * 5, 3000, 60_000),
      async () => await underFaults(cluster, '10 % loss', { loss: 0.1 }, each, expected += each * 5, 60_000),
      async () => await underFaults(cluster, '40 % loss', { loss: 0.4 }, each, expected += each * 5, 120_000),
      async () => await underFaults(cluster, 'delay 20–70 ms', { delayMs: 20, jitterMs: 50 }, each, expected += each * 5, 60_000),
      async () => await underFaults(cluster, '2 % duplicated, 2 % reordered', { duplicate: 0.02, reorder: 0.02 }, each, expected += each * 5, 60_000)
    ]
    for (const scenario of scenarios) {
      const result = await scenario()
      const healed = 'sidesAgreeMs' in result
      const sides = healed ? `, each side agreed on its own writes after ${ms(result.sidesAgreeMs as number)}` : ''
      const { links, cut, dropped, duplicated, reordered } = result.faults
      console.log(`  ${result.name.padEnd(40)} converged ${ms(result.convergeMs).padStart(9)} after ${healed ? 'healing' : 'the faults stopped'} (${links} links opened, ${cut} cut, ${dropped} chunks lost, ${duplicated} duplicated, ${reordered} reordered${sides})`)
    }
    // A peer that restarts while pulling: it goes down once some pages of the records it missed are in, and comes
    // back through the same proxy. Pages hold up to 1,000 records, so 3,000 make a middle to cut in.
    const restarting = cluster.peers[4]!
    const origin = cluster.stores[0]!
    const late = 3000
    const held = (): number => restarting.peer.logs.head(origin.id, origin.logId!).counter
    const before = held()
    await restarting.peer.close()
    for (let n = 0; n < late; n += 50) await Promise.all(Array.from({ length: 50 }, async (_, i) => await origin.collection('Item').create([{ _id: `late-${n + i}` }])))
    expected += late
    const back = await (await restarting.reopen()).store(origin.id)
    const pulling = back.sync().catch(() => 0)
    await until(() => held() > before, 'the restarted peer to take in a first page of the records it missed', 30_000)
    const cut = held() - before
    if (cut >= late) throw new Error('the pull ended before the restart could cut it short')
    const started = performance.now()
    const again = await (await restarting.reopen()).store(origin.id)
    await pulling
    await again.sync().catch(() => 0)
    const stores = [...cluster.stores.slice(0, 4), again]
    await converged(stores, expected, 'the restarted peer to catch up', 60_000)
    console.log(`  a peer restarted in the middle of pulling ${late.toLocaleString('en')} records (${cut.toLocaleString('en')} taken in) caught up ${ms(performance.now() - started)} after coming back`)
  } finally {
    await cluster.dispose()
  }
})

await section('Load', async () => {
  const idle = await idleThreads(1000, 5000)
  const rssMB = idle.rssMiB * 1024 * 1024 / 1e6
  const withinGoal = rssMB <= IDLE_RSS_GOAL_MB
  if (!withinGoal) failed = true
  console.log(`  ${idle.threads.toLocaleString('en')} threads, ${idle.logs.toLocaleString('en')} logs, idle on one peer: ${idle.cpuPercent.toFixed(2)} % of one core over 5 s; rss ${idle.rssMiB.toFixed(0)} MiB = ${rssMB.toFixed(0)} MB (goal ≤ ${IDLE_RSS_GOAL_MB} MB: ${withinGoal ? 'met' : 'MISSED'})${idle.anonMiB === undefined ? '' : ` of which ${idle.anonMiB.toFixed(0)} MiB the process's own and ${idle.fileMiB!.toFixed(0)} MiB mapped files (node's own code, LMDB's pages)`}, heap ${idle.heapMiB.toFixed(0)} MiB, in a process of its own after a restart (threads made in ${ms(idle.setupMs)})`)
  const writers = await manyWriters(32, 10, 300_000)
  console.log(`  ${writers.writers} writers on one thread, ${writers.records} records: every peer converged ${ms(writers.convergeMs)} after the first write`)
})

if (failed) process.exitCode = 1
