import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidClockError } from '../../codecs/errors.ts'
import {
  compareEventTimes, compareTimestamps, DEFAULT_MAX_DRIFT_MS, HybridClock, MAX_COUNTER, MAX_WALL, timestampFromWire,
  timestampToWire, ZERO_TIMESTAMP, type EventTime, type Timestamp
} from '../../codecs/hlc.ts'

const isInvalidClock = (e: unknown): boolean => e instanceof InvalidClockError && e.code === 'ERR_INVALID_CLOCK'

/** A wall clock the test moves by hand. */
function manualClock (start: number): { now: () => number, set: (t: number) => void } {
  let t = start
  return { now: () => t, set: (next: number) => { t = next } }
}

function assertIncreasing (times: Timestamp[]): void {
  for (let i = 1; i < times.length; i++) {
    assert.ok(compareTimestamps(times[i - 1]!, times[i]!) < 0, `${JSON.stringify(times[i - 1])} < ${JSON.stringify(times[i])}`)
  }
}

describe('HybridClock', () => {
  it('follows the wall clock when it moves forward', () => {
    const wall = manualClock(1_000)
    const clock = new HybridClock({ now: wall.now })
    assert.deepEqual(clock.tick(), { wall: 1_000, counter: 0 })
    wall.set(1_005)
    assert.deepEqual(clock.tick(), { wall: 1_005, counter: 0 })
    assert.deepEqual(clock.last, { wall: 1_005, counter: 0 })
  })

  it('ticks strictly upward while the wall clock stands still', () => {
    const clock = new HybridClock({ now: () => 5_000 })
    const times = Array.from({ length: 1_000 }, () => clock.tick())
    assertIncreasing(times)
    assert.deepEqual(times.at(-1), { wall: 5_000, counter: 999 })
  })

  it('ticks strictly upward while the wall clock goes backwards', () => {
    const wall = manualClock(10_000)
    const clock = new HybridClock({ now: wall.now })
    const times: Timestamp[] = [clock.tick()]
    for (const t of [9_000, 5_000, 0, 9_999, 10_000]) {
      wall.set(t)
      times.push(clock.tick())
    }
    assertIncreasing(times)
    assert.ok(times.every(time => time.wall === 10_000))
    wall.set(10_001)
    assert.deepEqual(clock.tick(), { wall: 10_001, counter: 0 })
  })

  it('runs on Date.now by default', () => {
    const before = Date.now()
    const time = new HybridClock().tick()
    assert.ok(time.wall >= before && time.wall <= Date.now())
  })

  describe('observe', () => {
    it('makes the next tick come after a remote timestamp ahead of us', () => {
      const clock = new HybridClock({ now: () => 1_000 })
      const remote = { wall: 60_000, counter: 7 }
      assert.equal(clock.observe(remote), true)
      const next = clock.tick()
      assert.ok(compareTimestamps(next, remote) > 0)
      assert.deepEqual(next, { wall: 60_000, counter: 9 })
    })

    it('makes the next tick come after a remote timestamp with the same wall and a higher counter', () => {
      const clock = new HybridClock({ now: () => 1_000 })
      clock.tick()
      clock.tick()
      const remote = { wall: 1_000, counter: 50 }
      assert.equal(clock.observe(remote), true)
      assert.ok(compareTimestamps(clock.tick(), remote) > 0)
    })

    it('still moves forward when the remote timestamp is behind', () => {
      const clock = new HybridClock({ now: () => 1_000 })
      const mine = clock.tick()
      assert.equal(clock.observe({ wall: 10, counter: 3 }), true)
      assert.ok(compareTimestamps(clock.last, mine) > 0)
      assert.ok(compareTimestamps(clock.tick(), mine) > 0)
    })

    it('adopts the wall clock when it is ahead of both', () => {
      const clock = new HybridClock({ now: () => 9_000, last: { wall: 1_000, counter: 4 } })
      assert.equal(clock.observe({ wall: 2_000, counter: 8 }), true)
      assert.deepEqual(clock.last, { wall: 9_000, counter: 0 })
    })

    it('does not adopt a remote clock beyond the allowed drift', () => {
      const now = 1_000_000
      const clock = new HybridClock({ now: () => now })
      const before = clock.tick()
      assert.equal(clock.observe({ wall: now + DEFAULT_MAX_DRIFT_MS + 1, counter: 0 }), false)
      assert.deepEqual(clock.last, before)
      assert.deepEqual(clock.tick(), { wall: now, counter: 1 })
      // right at the limit is still adopted
      assert.equal(clock.observe({ wall: now + DEFAULT_MAX_DRIFT_MS, counter: 0 }), true)
      assert.equal(clock.tick().wall, now + DEFAULT_MAX_DRIFT_MS)
    })

    it('honours a custom maxDriftMs', () => {
      const clock = new HybridClock({ now: () => 1_000, maxDriftMs: 100 })
      assert.equal(clock.observe({ wall: 1_101, counter: 0 }), false)
      assert.equal(clock.observe({ wall: MAX_WALL, counter: MAX_COUNTER }), false)
      assert.equal(clock.observe({ wall: 1_100, counter: 0 }), true)
      assert.ok(compareTimestamps(clock.tick(), { wall: 1_100, counter: 0 }) > 0)
    })
  })

  describe('restart', () => {
    it('never issues a timestamp at or before `last`, whatever the wall clock says', () => {
      const last = { wall: 50_000, counter: 12 }
      for (const now of [0, 49_999, 50_000]) {
        const clock = new HybridClock({ now: () => now, last })
        assert.deepEqual(clock.last, last)
        const times = [last, ...Array.from({ length: 10 }, () => clock.tick())]
        assertIncreasing(times)
      }
      const later = new HybridClock({ now: () => 50_001, last })
      assert.deepEqual(later.tick(), { wall: 50_001, counter: 0 })
    })

    it('starts from zero without `last`', () => {
      assert.deepEqual(new HybridClock({ now: () => 0 }).last, ZERO_TIMESTAMP)
      assert.deepEqual(new HybridClock({ now: () => 0 }).tick(), { wall: 0, counter: 1 })
    })
  })

  describe('counter overflow', () => {
    it('moves the wall forward instead of wrapping on tick', () => {
      const clock = new HybridClock({ now: () => 1_000, last: { wall: 1_000, counter: MAX_COUNTER - 1 } })
      assert.deepEqual(clock.tick(), { wall: 1_000, counter: MAX_COUNTER })
      assert.deepEqual(clock.tick(), { wall: 1_001, counter: 0 })
      assert.deepEqual(clock.tick(), { wall: 1_001, counter: 1 })
    })

    it('moves the wall forward instead of wrapping on observe', () => {
      const clock = new HybridClock({ now: () => 1_000 })
      assert.equal(clock.observe({ wall: 1_000, counter: MAX_COUNTER }), true)
      assert.deepEqual(clock.last, { wall: 1_001, counter: 0 })
      assert.ok(compareTimestamps(clock.tick(), { wall: 1_000, counter: MAX_COUNTER }) > 0)
    })
  })
})

describe('compareTimestamps / compareEventTimes', () => {
  it('orders by wall, then counter', () => {
    assert.ok(compareTimestamps({ wall: 1, counter: 9 }, { wall: 2, counter: 0 }) < 0)
    assert.ok(compareTimestamps({ wall: 2, counter: 0 }, { wall: 1, counter: 9 }) > 0)
    assert.ok(compareTimestamps({ wall: 2, counter: 1 }, { wall: 2, counter: 2 }) < 0)
    assert.equal(compareTimestamps({ wall: 2, counter: 2 }, { wall: 2, counter: 2 }), 0)
    assert.ok(compareTimestamps({ wall: MAX_WALL, counter: 0 }, { wall: MAX_WALL - 1, counter: MAX_COUNTER }) > 0)
  })

  it('is a total order with the log ID as the tie-break', () => {
    const logs = ['12D3KooWA', '12D3KooWB', '12D3KooWa', '12D3KooWb']
    const times: EventTime[] = []
    for (const wall of [3, 1, 2]) {
      for (const counter of [1, 0]) {
        for (const logId of [...logs].reverse()) times.push({ wall, counter, logId })
      }
    }
    const sorted = [...times].sort(compareEventTimes)
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(compareEventTimes(sorted[i - 1]!, sorted[i]!) < 0, 'no two distinct event times compare equal')
    }
    assert.deepEqual(sorted.slice(0, 4).map(t => t.logId), logs)
    assert.deepEqual(sorted[0], { wall: 1, counter: 0, logId: '12D3KooWA' })
    // every pair: antisymmetric, and zero only for the same time
    for (const a of times) {
      for (const b of times) {
        const ab = compareEventTimes(a, b)
        assert.equal(Math.sign(ab) + Math.sign(compareEventTimes(b, a)), 0)
        assert.equal(ab === 0, a.wall === b.wall && a.counter === b.counter && a.logId === b.logId)
      }
    }
  })

  it('sorts the same events the same way whatever order they arrive in', () => {
    const times: EventTime[] = Array.from({ length: 50 }, (_, i) => ({ wall: i % 5, counter: i % 3, logId: `log${i % 4}` }))
    const reference = JSON.stringify([...times].sort(compareEventTimes))
    for (let round = 0; round < 10; round++) {
      const shuffled = [...times]
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1))
        const swap = shuffled[i]!
        shuffled[i] = shuffled[j]!
        shuffled[j] = swap
      }
      assert.equal(JSON.stringify(shuffled.sort(compareEventTimes)), reference)
    }
  })
})

describe('timestamp wire form', () => {
  it('round-trips [wall, counter]', () => {
    for (const time of [ZERO_TIMESTAMP, { wall: 1_700_000_000_000, counter: 3 }, { wall: MAX_WALL, counter: MAX_COUNTER }]) {
      const wire = timestampToWire(time)
      assert.deepEqual(wire, [time.wall, time.counter])
      assert.deepEqual(timestampFromWire(wire), { wall: time.wall, counter: time.counter })
    }
  })

  it('rejects anything that is not a pair of in-range non-negative integers', () => {
    const bad: unknown[] = [
      undefined, null, 0, '1,2', { wall: 1, counter: 2 }, new Uint8Array(2),
      [], [1], [1, 2, 3],
      [-1, 0], [0, -1],
      [1.5, 0], [0, 0.5],
      [Number.NaN, 0], [0, Number.NaN], [Infinity, 0], [0, Infinity],
      [MAX_WALL + 1, 0], [0, MAX_COUNTER + 1], [Number.MAX_SAFE_INTEGER + 2, 0],
      ['1', 0], [0, '1'], [1n, 0], [0, 1n], [null, 0], [0, null], [[1], 0], [true, 0]
    ]
    for (const value of bad) {
      assert.throws(() => timestampFromWire(value), isInvalidClock, String(value))
    }
  })
})
