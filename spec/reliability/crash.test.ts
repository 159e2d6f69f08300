import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runCrashes } from './crash.ts'

/** The short version of the crash harness (`npm run reliability` kills the writer 100 times). */
describe('crash safety', () => {
  it('loses no committed transaction and half-applies none over 10 SIGKILLs, and rebuilds the same views', async () => {
    const report = await runCrashes({ crashes: 10, seed: 7, maxRunMs: 300 })
    assert.equal(report.crashes, 10)
    assert.ok(report.committed > 0, 'the writer committed something between kills')
    assert.ok(report.records > 0)
  })
})
