import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { partitioned, startCluster, underFaults, type Cluster } from './network-faults.ts'

/** The short version of the network-fault scenarios (`npm run reliability` runs more, with more peers and writes). */
describe('network faults', () => {
  let cluster: Cluster
  let expected = 0

  before(async () => {
    cluster = await startCluster(5, 3)
  })

  after(async () => {
    await cluster.dispose()
  })

  it('a partition of two peers from three: each side agrees on its own writes, and all converge once it heals', async () => {
    const result = await partitioned(cluster, 'partition', [[0, 1], [2, 3, 4]], 5, expected += 25, 1000, 20_000)
    assert.ok(result.faults.cut > 0, 'links across the partition were cut')
    assert.ok(result.convergeMs < 20_000)
  })

  it('converges after half the links lose a message, and messages come late, twice and out of order', async () => {
    const result = await underFaults(cluster, 'loss', { loss: 0.5, delayMs: 5, jitterMs: 20, duplicate: 0.1, reorder: 0.1 }, 5, expected += 25, 20_000)
    assert.ok(result.faults.dropped > 0, 'links lost messages')
    assert.ok(result.faults.duplicated > 0 && result.faults.reordered > 0, 'messages came twice and out of order')
    assert.ok(result.convergeMs < 20_000)
    for (const temp of cluster.peers) assert.equal(temp.peer.banned.size, 0, 'faults of the network are not held against peers')
  })
})
