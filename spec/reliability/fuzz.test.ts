import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fuzz, fuzzTargets, replayRegressions, saveRegression } from './fuzz.ts'

/** A short, seeded run of every fuzz target (`npm run reliability` runs 100,000 inputs each), and every saved regression. */
const INPUTS = 2_000
const SEED = 20_261_122

describe('fuzzing the decoders', () => {
  const targets = fuzzTargets()

  it('replays every saved failing input: each now decodes or is refused with a typed error', async () => {
    const { failures } = await replayRegressions(targets)
    assert.deepEqual(failures.map(failure => `${failure.target}: ${failure.error}`), [])
  })

  for (const target of targets) {
    it(`${target.name}: ${INPUTS.toLocaleString('en')} seeded inputs give a valid decode or a typed error`, async () => {
      const report = fuzz(target, { inputs: INPUTS, seed: SEED })
      for (const failure of report.failures) await saveRegression(failure)
      assert.deepEqual(report.failures.map(failure => failure.error), [], 'failing inputs are saved under spec/reliability/regressions/')
      assert.equal(report.decoded + report.refused, INPUTS)
      assert.ok(report.refused > 0, 'the mutations reach the refusing paths')
    })
  }
})
