import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { idleThreads, manyWriters } from './load.ts'

/** Short versions of the load figures (`npm run reliability` idles 1,000 threads and runs 32 writers). */
describe('load', () => {
  it('keeps 50 idle threads of three logs each near zero CPU', async () => {
    const report = await idleThreads(50, 1500)
    assert.equal(report.logs, 150)
    assert.ok(report.cpuPercent < 10, `${report.cpuPercent.toFixed(1)} % of a core while idle`)
  })

  it('converges with eight writers on one thread', async () => {
    const report = await manyWriters(8, 5, 30_000)
    assert.equal(report.records, 40)
  })
})
